"""nginx as the machine's ceiling, and as an upstream and A&AI that cost nothing."""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

VIM_TYPES_PATH = "/api/multicloud/v0/vim_types"
PLUGIN_PREFIX = "/api/multicloud-ocata/"
AAI_REGION_PATH = "/aai/v13/cloud-infrastructure/cloud-regions/cloud-region/bench/RegionOne"
AAI_REGION = {"cloud-owner": "bench", "cloud-region-id": "RegionOne",
              "cloud-type": "openstack", "cloud-region-version": "ocata"}
TENANTS = {"tenants": [{"id": "6f9d3c2a0b6e4f0d9a1e2b3c4d5e6f70", "name": "bench"}]}


def _literal(body: bytes) -> str:
    text = body.decode()
    # nginx would expand `$name` and end the string at a quote.
    if any(ch in text for ch in "'$\\"):
        raise ValueError("body not expressible as an nginx string literal")
    return f"'{text}'"


def write_conf(directory: Path, name: str, port: int, workers: int,
               answers: dict[str, bytes]) -> Path:
    """nginx.conf answering each exact path or `prefix/` of `answers` with JSON itself.

    Runs as the current user, in the foreground, with every file it writes
    (pid, logs, temp dirs) in `directory`.
    """
    locations = []
    for path, body in answers.items():
        match = path if path.endswith("/") else f"= {path}"
        locations.append(f"        location {match} {{ default_type application/json; "
                         f"return 200 {_literal(body)}; }}")
    return _write(directory, name, port, workers, "\n".join(locations))


def write_proxy_conf(directory: Path, name: str, port: int, workers: int,
                     prefix: str, upstream_port: int, upstream_prefix: str) -> Path:
    """nginx.conf forwarding `prefix...` to 127.0.0.1:upstream_port as
    `upstream_prefix...`, over kept-alive upstream connections: what a
    reverse proxy written in C costs for the broker's forwarding path."""
    upstream = (f"    upstream plugin {{ server 127.0.0.1:{upstream_port}; keepalive 512; "
                f"keepalive_requests 100000; }}")
    location = (f"        location {prefix} {{ proxy_pass http://plugin{upstream_prefix}; "
                f"proxy_http_version 1.1; proxy_set_header Connection \"\"; }}")
    return _write(directory, name, port, workers, location, upstream)


def _write(directory: Path, name: str, port: int, workers: int, locations: str,
           http_extra: str = "") -> Path:
    prefix = directory / f"nginx-{name}"
    prefix.mkdir(parents=True, exist_ok=True)
    temp = "\n".join(f"    {kind}_temp_path {prefix}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # As root the master would hand workers to `nobody`; keep the current user.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    conf = f"""{user}daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 20000;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    keepalive_requests 100000;
{temp}
{http_extra}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
{locations}
        location / {{ return 404; }}
    }}
}}
"""
    path = prefix / "nginx.conf"
    path.write_text(conf)
    return path


def argv(nginx: str, conf: Path) -> list[str]:
    """The nginx command line: its own prefix and error log before the conf is read."""
    return [nginx, "-p", str(conf.parent), "-e", str(conf.parent / "error.log"),
            "-c", str(conf)]


def upstream_answers() -> dict[str, bytes]:
    """The plugin (any path below its prefix) and the one A&AI region."""
    return {PLUGIN_PREFIX: json.dumps(TENANTS).encode(),
            AAI_REGION_PATH: json.dumps(AAI_REGION).encode()}
