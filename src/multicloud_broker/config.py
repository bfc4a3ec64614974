"""All configuration options, declared once, and how they are loaded.

Precedence, lowest first: option defaults < config file < ONAP environment
variables < command-line flags.  Environment variables and flags are applied
as oslo.config overrides, so a SIGHUP reload of the config files never undoes
what the deployment or the operator set explicitly.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from importlib import resources

from oslo_config import cfg
from oslo_service import _options as service_options

WEB_FRAMEWORKS = ("django", "pecan")
SERVER_BACKENDS = ("eventlet", "gevent")

DEFAULT_OPTS = [
    cfg.StrOpt("web_framework", default="django", choices=WEB_FRAMEWORKS,
               help="API framework serving the API: django or pecan."),
    cfg.StrOpt("server_backend", default="eventlet", choices=SERVER_BACKENDS,
               help="What serves HTTP in each worker: eventlet (eventlet's WSGI "
                    "server under oslo.service) or gevent (gevent's WSGI server, "
                    "without eventlet). Read at start-up only: a reload keeps "
                    "the running backend."),
    cfg.HostAddressOpt("bind_host", default="0.0.0.0",
                       help="Address the API listens on."),
    cfg.PortOpt("bind_port", default=9001, help="Port the API listens on."),
    cfg.IntOpt("workers", min=1,
               help="Worker processes. Default: the CPUs this process may use "
                    "(CPU affinity and cgroup quota)."),
    cfg.IntOpt("wsgi_pool_size", default=1000, min=1,
               help="Requests served at once per worker. A connection takes a "
                    "slot only once its whole request head has arrived."),
    cfg.IntOpt("max_connections", default=10000, min=1,
               help="Client connections held at once per worker (reading a "
                    "request head, idle between requests, or being served); "
                    "beyond, a new connection is answered 503 at once. Keep it "
                    "far above wsgi_pool_size and below the open-file limit."),
    cfg.FloatOpt("client_header_timeout", default=20.0, min=0.1,
                 help="Seconds for the request line and headers to arrive, from "
                      "the connection's start (or a kept-alive request's first "
                      "byte); beyond, 408 and the connection is closed."),
    cfg.FloatOpt("keepalive_timeout", default=60.0, min=0,
                 help="Seconds a kept-alive connection may stay idle between "
                      "requests before it is closed; 0 turns keep-alive off."),
    cfg.FloatOpt("client_body_timeout", default=60.0, min=0.1,
                 help="Seconds the server waits between two reads of a request "
                      "body; beyond, the request fails (408 if not yet answered) "
                      "and the connection is closed."),
    cfg.FloatOpt("shutdown_delay", default=0.0, min=0,
                 help="Seconds a worker goes on serving after SIGTERM with /readyz "
                      "answering 503, so that a load balancer checking it stops "
                      "sending before the worker stops accepting (at most half of "
                      "graceful_shutdown_timeout). Kubernetes' preStop pause does "
                      "the same; use one or the other."),
    cfg.BoolOpt("wsgi_keep_alive", default=True,
                help="Keep client connections open between requests."),
    cfg.IntOpt("client_socket_timeout", default=900, min=0,
               help="Seconds a write to a client may block (a client not "
                    "reading its answer); 0 waits forever."),
    cfg.IntOpt("backlog", default=4096, min=1,
               help="Listen backlog of the shared socket."),
    cfg.IntOpt("max_header_line", default=16384, min=1024,
               help="Longest request header line accepted, in bytes."),
    cfg.IntOpt("max_url_length", default=8192, min=256,
               help="Longest request line accepted, in bytes (414 beyond)."),
    cfg.IntOpt("max_body_size", default=1 << 30, min=0,
               help="Largest request body accepted, in bytes (413 beyond)."),
    cfg.StrOpt("access_log", default="",
               help="File for the access log; empty means standard output."),
    cfg.StrOpt("log_level", default="INFO",
               choices=("DEBUG", "INFO", "WARNING", "ERROR"),
               help="Level of the application log (standard error)."),
    cfg.StrOpt("log_format", default="text", choices=("text", "json"),
               help="Format of the access and application logs: text lines, or "
                    "one JSON object per line with ONAP's logging fields."),
    cfg.IntOpt("access_log_buffer", default=10000, min=1,
               help="Access-log lines queued per worker while a pipe's reader "
                    "lags; beyond, lines are dropped, counted and warned about."),
    cfg.StrOpt("plugin_catalog", default="",
               help="Plugin catalog in ONAP's provider-plugin.json format. "
                    "Empty: the catalog shipped with the broker."),
]

INVENTORY_OPTS = [
    cfg.StrOpt("backend", default="sqlite", choices=("sqlite", "aai", "postgresql"),
               help="Where cloud regions are looked up: the embedded SQLite file, "
                    "ONAP A&AI, or a PostgreSQL database shared by a fleet."),
    cfg.StrOpt("sqlite_path", default="var/inventory.sqlite",
               help="SQLite file of the embedded inventory."),
    cfg.FloatOpt("cache_ttl", default=30.0, min=0,
                 help="Seconds a looked-up region is cached per worker; 0 = off. "
                      "One lookup per region runs at a time: at expiry, requests "
                      "arriving during the refresh get the expired entry."),
    cfg.FloatOpt("stale_ttl", default=600.0, min=0,
                 help="Seconds a region seen before is still served while the "
                      "inventory (A&AI, PostgreSQL) is unreachable or failing; "
                      "regions never seen get 503. Needs cache_ttl > 0."),
    cfg.FloatOpt("negative_ttl", default=5.0, min=0,
                 help="Seconds a region the inventory does not know (or whose "
                      "record is unusable) is remembered as unknown per worker; "
                      "0 = off. Needs cache_ttl > 0."),
    cfg.StrOpt("postgresql_url", default="",
               help="The PostgreSQL inventory: postgresql://USER@HOST:PORT/DB "
                    "(no password here)."),
    cfg.StrOpt("postgresql_password_file", default="",
               help="File whose first line is the PostgreSQL password; the "
                    "environment variable MULTICLOUD_BROKER_PG_PASSWORD wins."),
    cfg.IntOpt("postgresql_pool_size", default=20, min=1,
               help="PostgreSQL connections per worker; requests beyond wait "
                    "(green) for a free one, at most postgresql_timeout."),
    cfg.FloatOpt("postgresql_timeout", default=5.0, min=0.1,
                 help="Seconds one PostgreSQL query may run (statement_timeout) "
                      "and a request may wait for a pooled connection; connecting "
                      "and the socket's own timeout get 5 s more."),
    cfg.FloatOpt("probe_interval", default=5.0, min=0,
                 help="Seconds /readyz reuses the outcome of its SQLite probe (a "
                      "lookup of a region nobody registers). With A&AI or "
                      "PostgreSQL, which never decide readiness: seconds without "
                      "a lookup before /readyz starts a background probe of it, "
                      "for /healthz's view. At most one probe per worker per interval."),
]

AAI_OPTS = [
    cfg.StrOpt("protocol", default="https", choices=("http", "https"),
               help="A&AI scheme (AAI_PROTOCOL)."),
    cfg.HostAddressOpt("host", default="aai.onap", help="A&AI host (AAI_ADDR)."),
    cfg.PortOpt("port", default=8443, help="A&AI port (AAI_PORT)."),
    cfg.StrOpt("schema_version", default="v13",
               help="A&AI schema version in the URL (AAI_SCHEMA_VERSION)."),
    cfg.StrOpt("username", default="AAI", help="Basic auth user (AAI_USERNAME)."),
    cfg.StrOpt("password", default="AAI", secret=True,
               help="Basic auth password (AAI_PASSWORD)."),
    cfg.BoolOpt("verify_tls", default=True,
                help="Verify A&AI's certificate (turn off only for labs)."),
    cfg.StrOpt("ca_file", default="", help="CA bundle for A&AI's certificate."),
    cfg.FloatOpt("connect_timeout", default=3.0, min=0.01,
                 help="Seconds to connect to A&AI."),
    cfg.FloatOpt("read_timeout", default=10.0, min=0.01,
                 help="Seconds to wait for A&AI's answer."),
    cfg.StrOpt("app_id", default="MultiCloud", help="Sent as X-FromAppId."),
]

MSB_OPTS = [
    cfg.StrOpt("protocol", default="http", choices=("http", "https"),
               help="MSB gateway scheme (MSB_PROTO)."),
    cfg.HostAddressOpt("host", default="127.0.0.1",
                       help="MSB gateway host (MSB_ADDR)."),
    cfg.PortOpt("port", default=80, help="MSB gateway port (MSB_PORT)."),
]

PLUGIN_OPTS = [
    cfg.DictOpt("endpoints", default={},
                help="Base URL per plugin, e.g. "
                     "multicloud-ocata:http://10.0.0.5:9006. Plugins not "
                     "listed are reached through the MSB gateway."),
    cfg.FloatOpt("connect_timeout", default=3.0, min=0.01,
                 help="Seconds to connect to a plugin (502 when refused)."),
    cfg.FloatOpt("read_timeout", default=60.0, min=0.01,
                 help="Seconds a plugin may take to take the request body or "
                      "to send the next bytes of its answer (504 beyond)."),
    cfg.FloatOpt("total_timeout", default=120.0, min=0.01,
                 help="Overall deadline of one forwarded call, answer body "
                      "included: 504 when it passes before the answer "
                      "started, the client connection cut after."),
    cfg.IntOpt("max_connections_per_plugin", min=1,
               help="Connections open to one plugin, per worker. Default: "
                    "half of wsgi_pool_size (the worker's request slots; "
                    "max_connections counts idle client connections too, "
                    "which call no plugin). Calls beyond queue for a free "
                    "connection, first come first served, and wait while "
                    "the plugin keeps answering: 503 once it has not "
                    "answered for connect_timeout (it hangs), or at "
                    "total_timeout. Unless it answered within "
                    "connect_timeout, a plugin's calls, connected or "
                    "queued, take at most nine tenths of wsgi_pool_size "
                    "(503 at once beyond): a plugin that hangs leaves the "
                    "rest of the request slots to the others."),
    cfg.IntOpt("capacity_max_vims", default=100, min=1,
               help="Most VIMs one check_vim_capacity request may list "
                    "(413 beyond)."),
    cfg.IntOpt("capacity_concurrency", default=16, min=1,
               help="Capacity checks one check_vim_capacity request runs "
                    "at once; each request has its own, so none starves "
                    "another."),
    cfg.IntOpt("pool_maxsize", default=1000, min=1,
               help="Kept-alive connections per plugin host, per worker. "
                    "Below wsgi_pool_size, bursts open connections that are "
                    "then closed instead of kept."),
    cfg.FloatOpt("capacity_timeout", default=10.0, min=0.1,
                 help="Overall bound of one check_vim_capacity fan-out."),
]

REGION_API_OPTS = [
    cfg.StrOpt("username", default="",
               help="User of the regions API (A&AI's cloud-region paths on the "
                    "broker's port, HTTP basic auth). The API is off, its paths "
                    "answered 404, unless a username and a password are set."),
    cfg.StrOpt("password", default="", secret=True,
               help="Password of the regions API user."),
    cfg.StrOpt("password_file", default="",
               help="File whose first line is the regions API password "
                    "(e.g. a mounted Secret); used when `password` is empty."),
]

SSL_OPTS = [
    cfg.BoolOpt("enabled", default=False, help="Serve HTTPS (SSL_ENABLED)."),
    cfg.StrOpt("cert_file", default="", help="PEM certificate (chain) file."),
    cfg.StrOpt("key_file", default="", help="PEM private key file."),
]

# `multicloud-broker openstack-plugin`: the OpenStack plugin service. It shares
# [DEFAULT] (workers, limits, TLS, logs), [inventory], [aai] and [ssl] with
# the broker; what is its own is here.
OPENSTACK_PLUGIN_OPTS = [
    cfg.HostAddressOpt("bind_host", default="0.0.0.0",
                       help="Address the OpenStack plugin listens on."),
    cfg.PortOpt("bind_port", default=9006,
                help="Port the OpenStack plugin listens on (ONAP's multicloud-ocata port)."),
    cfg.ListOpt("plugin_names", default=["multicloud-ocata", "multicloud-pike",
                                         "multicloud-titaniumcloud", "multicloud-starlingx"],
                help="Plugin names it answers under (/api/{name}/v0/...): route every "
                     "OpenStack region of the broker's catalog to it."),
    cfg.StrOpt("api_definitions_dir", default="",
               help="A directory of API declarations (*.yaml) that add resources or "
                    "replace built-in ones; re-read on SIGHUP."),
    cfg.StrOpt("broker_url", default="http://127.0.0.1:9001",
               help="The broker's address as clients reach it: the identity proxy "
                    "rewrites every catalog endpoint to "
                    "{broker_url}/api/multicloud/v0/{vimid}/{service-type}..."),
    cfg.StrOpt("interface", default="public", choices=("public", "internal", "admin"),
               help="Which endpoint of the cloud's catalog the plugin calls."),
    cfg.FloatOpt("connect_timeout", default=5.0, min=0.01,
                 help="Seconds to connect to Keystone or a cloud service."),
    cfg.FloatOpt("read_timeout", default=60.0, min=0.01,
                 help="Seconds to wait for a cloud answer's next bytes."),
    cfg.FloatOpt("total_timeout", default=120.0, min=0.01,
                 help="Seconds for a whole answer of a cloud service (a cloud that "
                      "trickles its answer is cut off: 504)."),
    cfg.IntOpt("pool_size", default=200, min=1,
               help="Kept-alive connections per cloud endpoint per worker (more calls at "
                    "once open connections of their own, closed after use)."),
    cfg.IntOpt("page_size", default=1000, min=1,
               help="Items asked of the cloud per page when listing."),
    cfg.IntOpt("max_list_items", default=100000, min=1,
               help="The most items one listing answers (the cloud's pages are "
                    "streamed to the client, never held whole)."),
]

GROUPS = {
    None: DEFAULT_OPTS,
    "inventory": INVENTORY_OPTS,
    "aai": AAI_OPTS,
    "msb": MSB_OPTS,
    "plugins": PLUGIN_OPTS,
    "ssl": SSL_OPTS,
    "region_api": REGION_API_OPTS,
    "openstack_plugin": OPENSTACK_PLUGIN_OPTS,
}

# ONAP deployment variables -> (group, option); oslo.config parses the values.
ENV_OPTIONS = {
    "WEB_FRAMEWORK": (None, "web_framework"),
    "SERVER_BACKEND": (None, "server_backend"),
    "MSB_PROTO": ("msb", "protocol"),
    "MSB_ADDR": ("msb", "host"),
    "MSB_PORT": ("msb", "port"),
    "AAI_PROTOCOL": ("aai", "protocol"),
    "AAI_ADDR": ("aai", "host"),
    "AAI_PORT": ("aai", "port"),
    "AAI_SCHEMA_VERSION": ("aai", "schema_version"),
    "AAI_USERNAME": ("aai", "username"),
    "AAI_PASSWORD": ("aai", "password"),
    "SSL_ENABLED": ("ssl", "enabled"),
}


class ConfigError(Exception):
    """A configuration value that the broker cannot start with."""


def new_conf() -> cfg.ConfigOpts:
    """A ConfigOpts with every option of the broker registered."""
    conf = cfg.ConfigOpts()
    for group, opts in GROUPS.items():
        conf.register_opts(opts, group=group)
    # oslo.service's own options (graceful_shutdown_timeout...): the launcher
    # registers the same objects; registering them now lets config files and
    # validation see them before any launcher exists.
    conf.register_opts(service_options.service_opts)
    return conf


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that choose the config file and override the main options."""
    parser.add_argument("--config-file", action="append", default=[],
                        metavar="FILE", help="oslo.config INI file (repeatable)")
    parser.add_argument("--web-framework", choices=WEB_FRAMEWORKS)
    parser.add_argument("--server-backend", choices=SERVER_BACKENDS)
    parser.add_argument("--bind-host")
    parser.add_argument("--bind-port", type=int)
    parser.add_argument("--workers", type=int)


def load_config(argv: Sequence[str] = (),
                environ: Mapping[str, str] | None = None) -> cfg.ConfigOpts:
    """Build the configuration from flags (see add_server_arguments) and env.

    Raises ConfigError with a one-line reason when a value is unusable.
    """
    parser = argparse.ArgumentParser(prog="multicloud-broker", add_help=False)
    add_server_arguments(parser)
    return conf_from_args(parser.parse_args(list(argv)), environ)


def conf_from_args(args: argparse.Namespace,
                   environ: Mapping[str, str] | None = None) -> cfg.ConfigOpts:
    """Configuration from parsed add_server_arguments flags and the environment."""
    conf = new_conf()
    config_args: list[str] = []
    for path in getattr(args, "config_file", None) or []:
        if not os.access(path, os.R_OK):
            raise ConfigError(f"cannot read config file {path}")
        if os.path.isdir(path):
            raise ConfigError(f"config file {path} is a directory")
        config_args += ["--config-file", path]
    try:
        conf(config_args, project="multicloud-broker", default_config_files=[],
             default_config_dirs=[], use_env=False)
        apply_environment(conf, os.environ if environ is None else environ)
        for name in ("web_framework", "server_backend", "bind_host", "bind_port", "workers"):
            value = getattr(args, name, None)
            if value is not None:
                _override(conf, name, value, None, "--" + name.replace("_", "-"))
        validate(conf)
    except (cfg.Error, ValueError) as exc:
        raise ConfigError(_one_line(exc)) from None
    return conf


def apply_environment(conf: cfg.ConfigOpts, environ: Mapping[str, str]) -> None:
    """Map ONAP's deployment variables onto options (as overrides)."""
    for var, (group, name) in ENV_OPTIONS.items():
        raw = environ.get(var, "").strip()
        if not raw:
            continue
        _override(conf, name, raw, group, f"environment variable {var}")
    if environ.get("AAI_ADDR", "").strip():
        conf.set_override("backend", "aai", group="inventory")


def validate(conf: cfg.ConfigOpts) -> None:
    """Checks that span options or touch files: fail at start-up, not per request."""
    for group, opts in GROUPS.items():
        section = conf[group] if group else conf
        for opt in opts:
            try:
                section[opt.dest]  # oslo parses file values lazily: force it now
            except (cfg.Error, ValueError) as exc:
                where = f"[{group or 'DEFAULT'}] {opt.dest}"
                raise ConfigError(f"{where}: {_one_line(exc)}") from None
    if conf.ssl.enabled and not (conf.ssl.cert_file and conf.ssl.key_file):
        raise ConfigError("[ssl] enabled needs both cert_file and key_file")
    for path in (conf.ssl.cert_file, conf.ssl.key_file) if conf.ssl.enabled else ():
        if not os.access(path, os.R_OK):
            raise ConfigError(f"[ssl] cannot read {path}")
    for name, url in conf.plugins.endpoints.items():
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"[plugins] endpoints: {name} needs an http(s) URL, got {url!r}")
    api = conf.region_api
    if api.password_file and not api.password:
        try:
            with open(api.password_file, encoding="utf-8") as f:
                if not f.readline().strip("\r\n"):
                    raise ConfigError(f"[region_api] password_file {api.password_file} "
                                      "has an empty first line")
        except OSError as exc:
            raise ConfigError(f"[region_api] cannot read password_file "
                              f"{api.password_file}: {exc.strerror}") from None
    if bool(api.username) != bool(api.password or api.password_file):
        raise ConfigError("[region_api] needs both username and password (or "
                          "password_file) to turn the regions API on, or neither")


def catalog_path(conf: cfg.ConfigOpts) -> str:
    """The plugin catalog file in use."""
    if conf.plugin_catalog:
        return conf.plugin_catalog
    return str(resources.files("multicloud_broker") / "data" / "provider-plugin.json")


def _override(conf: cfg.ConfigOpts, name: str, value: object,
              group: str | None, source: str) -> None:
    try:
        conf.set_override(name, value, group=group)
    except ValueError as exc:
        raise ConfigError(f"{source}={value!r}: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """For oslo-config-generator (entry point `oslo.config.opts`)."""
    return [(group, list(opts)) for group, opts in GROUPS.items()]
