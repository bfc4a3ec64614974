"""The ways of serving the API that the harness compares, and how to start each.

A mode starts fresh for every measurement; `start()` returns the processes
and the URL to load. Every process is a `procs.Proc`, stopped by PID.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import nginx
from bench.procs import Proc, free_port

VIM_TYPES = nginx.VIM_TYPES_PATH
FORWARD = "/api/multicloud/v0/bench_RegionOne/tenants"
PLUGIN_TENANTS = "/api/multicloud-ocata/v0/bench_RegionOne/tenants"
REPO = str(Path(__file__).resolve().parent.parent)  # so that `-m bench.*` imports


@dataclass
class Running:
    """A started mode: what to load, and what to stop afterwards."""

    procs: list[Proc]
    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    metrics: str = ""  # the path to scrape during a run (--scrape), if it has one

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()


@dataclass
class Mode:
    name: str
    label: str
    start: Callable[[], Running]
    ours: bool = False       # one of the broker's own ways of serving
    baseline: bool = False   # what the others are compared with in its section


class Context:
    """What every mode needs: tools, a scratch directory, the worker count."""

    def __init__(self, tools: dict[str, str], tmp: Path, workers: int):
        self.tools = tools
        self.uwsgi_listen = 0  # 0: uWSGI's default backlog (100), as in the spec's run
        self.tmp = tmp
        self.workers = workers
        self.python = sys.executable
        self.baseline_src = ""   # --baseline-src: another checkout's src/, for the -before modes
        self.baseline_commit = ""
        self.stdout_pipe = False  # --stdout-pipe: brokers log to stdout, a drained pipe
        self.plugin_connections = 0  # --plugin-connections: max_connections_per_plugin
        self._count = 0

    def name(self, base: str) -> str:
        """A unique name for a process's config and log files."""
        self._count += 1
        return f"{self._count:03d}-{base}"

    def broker_config(self, name: str, port: int, framework: str,
                      sections: dict[str, dict[str, str]] | None = None,
                      access_log: bool = True) -> Path:
        """An INI file for one broker run: loopback, N workers, access log to a file
        (or, with access_log False, to stdout). Only options that the --baseline-src
        code knows too: it refuses unknown ones."""
        values = {"DEFAULT": {"web_framework": framework, "bind_host": "127.0.0.1",
                              "bind_port": str(port), "workers": str(self.workers)},
                  "inventory": {"sqlite_path": str(self.tmp / "inventory.sqlite")}}
        if access_log:
            values["DEFAULT"]["access_log"] = str(self.tmp / f"{name}.access.log")
        for group, options in (sections or {}).items():
            values.setdefault(group, {}).update(options)
        text = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items()) + "\n"
                       for group, opts in values.items())
        path = self.tmp / f"{name}.ini"
        path.write_text(text)
        return path

    def plugin_options(self, endpoints: str) -> dict[str, str]:
        """[plugins] of a broker with a sqlite inventory (forward, slow)."""
        options = {"endpoints": endpoints}
        if self.plugin_connections:
            options["max_connections_per_plugin"] = str(self.plugin_connections)
        return options

    def broker_cli(self) -> list[str]:
        return [self.python, "-m", "multicloud_broker"]

    def before_env(self) -> dict[str, str]:
        """The environment that makes this venv's python import the baseline's code."""
        return _env(PYTHONPATH=self.baseline_src)

    def before_sqlite(self) -> str:
        # The baseline's own inventory file: ours may have a newer schema.
        return str(self.tmp / "inventory-before.sqlite")

    def check_baseline(self) -> str:
        """Where the baseline's python imports the broker from; ValueError if not DIR."""
        done = subprocess.run([self.python, "-c", "import multicloud_broker as m; "
                               "print(m.__file__)"], capture_output=True, text=True,
                              timeout=60, env=self.before_env(), cwd="/")
        where = done.stdout.strip()
        if not where.startswith(str(Path(self.baseline_src).resolve()) + "/"):
            raise ValueError(f"--baseline-src: the broker came from {where or done.stderr!r}")
        return where


# -- the vim_types modes --------------------------------------------------------

BACKENDS = ("eventlet", "gevent")  # server_backend; eventlet's modes keep their old names


def ours(ctx: Context, framework: str, path: str = VIM_TYPES,
         sections: dict | None = None, headers: dict | None = None,
         tag: str = "", before: bool = False,
         backend: str = "eventlet") -> Callable[[], Running]:
    """`multicloud-broker serve --web-framework F`, one worker per core; with
    `before`, the --baseline-src code (which has no /metrics to scrape)."""
    # The baseline may predate --server-backend: eventlet is its only server.
    chosen = ["--server-backend", backend] if backend != "eventlet" else []

    def start() -> Running:
        port = free_port()
        name = ctx.name(f"{framework}{tag}" + ("-before" if before else ""))
        conf = ctx.broker_config(name, port, framework, sections,
                                 access_log=not ctx.stdout_pipe)
        proc = Proc(name, ctx.broker_cli() + ["serve", "--config-file", str(conf),
                                              "--web-framework", framework, *chosen,
                                              "--bind-port", str(port)],
                    ctx.tmp, env=ctx.before_env() if before else _env(), cwd=REPO,
                    stdout_pipe=ctx.stdout_pipe)
        return Running([proc], port, path, dict(headers or {}),
                       metrics="" if before else "/metrics")
    return start


def _before_label(ctx: Context, label: str) -> str:
    return f"before ({ctx.baseline_commit}): {label}"


def bare(ctx: Context) -> Callable[[], Running]:
    """bench/bare_server.py: our server code around a bare WSGI callable."""
    def start() -> Running:
        port = free_port()
        name = ctx.name("eventlet-bare")
        conf = ctx.broker_config(name, port, "django")
        proc = Proc(name, [ctx.python, "-m", "bench.bare_server", "--config-file", str(conf)],
                    ctx.tmp, env=_env(), cwd=REPO)
        return Running([proc], port, VIM_TYPES)
    return start


def runserver(ctx: Context) -> Callable[[], Running]:
    """Django's development server (threaded, as `runserver` is by default)."""
    def start() -> Running:
        port = free_port()
        name = ctx.name("runserver")
        conf = ctx.broker_config(name, port, "django")
        proc = Proc(name, [ctx.python, "-m", "bench.runserver", str(conf),
                           f"127.0.0.1:{port}"], ctx.tmp, env=_env(), cwd=REPO)
        return Running([proc], port, VIM_TYPES)
    return start


def uwsgi(ctx: Context, path: str = VIM_TYPES,
          sections: dict | None = None) -> Callable[[], Running]:
    """Django under uWSGI, one process per core, configured through the environment."""
    def start() -> Running:
        port = free_port()
        name = ctx.name("uwsgi")
        conf = ctx.broker_config(name, port, "django", sections)
        env = _env(MULTICLOUD_BROKER_CONFIG=str(conf), WEB_FRAMEWORK="django")
        argv = [ctx.tools["uwsgi"], "--http-socket", f"127.0.0.1:{port}",
                "--module", "multicloud_broker.wsgi:application",
                "--processes", str(ctx.workers), "--master", "--need-app",
                "--die-on-term", "--home", sys.prefix]
        if ctx.uwsgi_listen:
            argv += ["--listen", str(ctx.uwsgi_listen)]
        # SIGINT stops uWSGI's master and workers whatever --die-on-term does.
        proc = Proc(name, argv, ctx.tmp, env=env, stop_signal=signal.SIGINT)
        return Running([proc], port, path)
    return start


def nginx_ceiling(ctx: Context, body: bytes) -> Callable[[], Running]:
    """nginx answering the vim_types bytes itself, one worker per core."""
    def start() -> Running:
        port = free_port()
        name = ctx.name("nginx")
        conf = nginx.write_conf(ctx.tmp, name, port, ctx.workers, {VIM_TYPES: body})
        proc = Proc(name, nginx.argv(ctx.tools["nginx"], conf), ctx.tmp,
                    stop_signal=signal.SIGQUIT)  # graceful: ends once idle
        return Running([proc], port, VIM_TYPES)
    return start


def nginx_proxy(ctx: Context, upstream_port: int) -> Callable[[], Running]:
    """nginx as a reverse proxy in front of the upstream, at the broker's paths."""
    def start() -> Running:
        port = free_port()
        name = ctx.name("nginx-proxy")
        conf = nginx.write_proxy_conf(ctx.tmp, name, port, ctx.workers, "/api/multicloud/v0/",
                                      upstream_port, "/api/multicloud-ocata/v0/")
        proc = Proc(name, nginx.argv(ctx.tools["nginx"], conf), ctx.tmp,
                    stop_signal=signal.SIGQUIT)
        return Running([proc], port, FORWARD)
    return start


def vim_types_body() -> bytes:
    """The bytes our vim_types answers, from the catalog the broker ships."""
    from multicloud_broker.config import catalog_path, load_config
    from multicloud_broker.core.catalog import PluginCatalog
    return PluginCatalog.load(catalog_path(load_config([]))).vim_types_json


def vim_types_modes(ctx: Context) -> list[Mode]:
    n = ctx.workers
    modes = [Mode("runserver", "Django runserver (1 process, threaded)", runserver(ctx))]
    if "uwsgi" in ctx.tools:
        backlog = f", listen {ctx.uwsgi_listen}" if ctx.uwsgi_listen else ""
        modes.append(Mode("uwsgi", f"Django + uWSGI ({n} processes{backlog})", uwsgi(ctx)))
    modes += [Mode(_named(fw, backend), f"ours: {fw.capitalize()} + {backend} ({n} workers)",
                   ours(ctx, fw, tag=_named("", backend), backend=backend), ours=True)
              for backend in BACKENDS for fw in ("django", "pecan")]
    if ctx.baseline_src:
        modes += [Mode(f"{fw}-before", _before_label(ctx, f"{fw.capitalize()} + eventlet "
                                                          f"({n} workers)"),
                       ours(ctx, fw, before=True), ours=True) for fw in ("django", "pecan")]
    modes += [
        Mode("eventlet-bare", f"eventlet ceiling: bare WSGI app ({n} workers)", bare(ctx),
             baseline=True),
    ]
    if "nginx" in ctx.tools:
        modes.append(Mode("nginx", f"machine ceiling: nginx return 200 ({n} workers)",
                          nginx_ceiling(ctx, vim_types_body())))
    return modes


# -- the forwarding modes --------------------------------------------------------

class Upstreams:
    """nginx as plugin and A&AI, for one section."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.procs: list[Proc] = []
        self.nginx_port = 0

    def start(self) -> None:
        from bench.procs import wait_http
        ctx = self.ctx
        self.nginx_port = free_port()
        conf = nginx.write_conf(ctx.tmp, "upstream", self.nginx_port, ctx.workers,
                                nginx.upstream_answers())
        proc = Proc("upstream-nginx", nginx.argv(ctx.tools["nginx"], conf), ctx.tmp,
                    stop_signal=signal.SIGQUIT)
        self.procs.append(proc)
        wait_http(proc, self.nginx_port, PLUGIN_TENANTS)
        wait_http(proc, self.nginx_port, nginx.AAI_REGION_PATH)
        self._add_sqlite_region()

    def _add_sqlite_region(self) -> None:
        add_sqlite_region(self.ctx)
        if self.ctx.baseline_src:
            add_sqlite_region(self.ctx, before=True)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()


def add_sqlite_region(ctx: Context, before: bool = False) -> None:
    """The bench region in the embedded inventory that every broker config names
    (with `before`, in the baseline's own file, written by the baseline's code)."""
    inventory = {"backend": "sqlite"}
    if before:
        inventory["sqlite_path"] = ctx.before_sqlite()
    conf = ctx.broker_config("region-before" if before else "region", 1, "django",
                             {"inventory": inventory})
    done = subprocess.run(
        ctx.broker_cli() + ["region", "add", "--config-file", str(conf),
                            "--cloud-owner", "bench", "--cloud-region-id", "RegionOne",
                            "--cloud-type", "openstack", "--cloud-region-version", "ocata"],
        capture_output=True, text=True, timeout=60,
        env=ctx.before_env() if before else _env())
    if done.returncode != 0 and "already exists" not in done.stderr:
        raise RuntimeError(f"region add failed: {done.stderr.strip()}")


def _already(port: int, path: str, headers: dict | None = None) -> Callable[[], Running]:
    """A mode that loads an upstream already running (started by Upstreams)."""
    return lambda: Running([], port, path, dict(headers or {}))


def forward_modes(ctx: Context, up: Upstreams) -> list[Mode]:
    """Direct calls to the upstream, and the broker in front of it."""
    plugin = f"http://127.0.0.1:{up.nginx_port}"
    aai = {"inventory": {"backend": "aai"},
           "aai": {"protocol": "http", "host": "127.0.0.1", "port": str(up.nginx_port)},
           "plugins": {"endpoints": f"multicloud-ocata:{plugin}"}}
    sqlite = {"inventory": {"backend": "sqlite"},
              "plugins": ctx.plugin_options(f"multicloud-ocata:{plugin}")}
    modes = [Mode("direct-nginx", "upstream nginx called directly",
                  _already(up.nginx_port, PLUGIN_TENANTS), baseline=True),
             Mode("nginx-proxy", "ceiling: nginx proxy_pass (upstream keep-alive) -> nginx",
                  nginx_proxy(ctx, up.nginx_port))]
    for framework in ("django", "pecan"):
        modes.append(Mode(f"{framework}-aai", f"ours: {framework}, A&AI (cached) -> nginx",
                          ours(ctx, framework, FORWARD, aai, tag="-aai"), ours=True))
        for backend in BACKENDS:
            name = _named(f"{framework}-sqlite", backend)
            modes.append(Mode(name, f"ours: {framework} + {backend}, sqlite -> nginx",
                              ours(ctx, framework, FORWARD, sqlite, tag=name[len(framework):],
                                   backend=backend), ours=True))
    if ctx.baseline_src:
        modes += _before_modes(ctx, sqlite, "sqlite", "sqlite -> nginx")
    return modes


# -- forwarding to a slow plugin ------------------------------------------------------

class SlowPlugin:
    """bench/slow_plugin.py, started once for its section."""

    def __init__(self, ctx: Context, delay_ms: float):
        self.ctx, self.delay_ms = ctx, delay_ms
        self.port = 0
        self.proc: Proc | None = None

    def start(self) -> None:
        from bench.procs import wait_http
        self.port = free_port()
        self.proc = Proc("slow-plugin", [self.ctx.python, "-m", "bench.slow_plugin",
                                         "--port", str(self.port),
                                         "--delay-ms", str(self.delay_ms)],
                         self.ctx.tmp, env=_env(), cwd=REPO)
        wait_http(self.proc, self.port, PLUGIN_TENANTS)
        add_sqlite_region(self.ctx)
        if self.ctx.baseline_src:
            add_sqlite_region(self.ctx, before=True)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def slow_modes(ctx: Context, plugin: SlowPlugin) -> list[Mode]:
    """The slow plugin directly; uWSGI's processes and our workers in front of it."""
    n = ctx.workers
    sqlite = {"inventory": {"backend": "sqlite"},
              "plugins": ctx.plugin_options(f"multicloud-ocata:http://127.0.0.1:{plugin.port}")}
    modes = [Mode("direct-slow", f"slow plugin called directly ({plugin.delay_ms:g} ms)",
                  _already(plugin.port, PLUGIN_TENANTS), baseline=True)]
    if "uwsgi" in ctx.tools:
        modes.append(Mode("uwsgi-slow", f"Django + uWSGI ({n} processes), sqlite -> slow plugin",
                          uwsgi(ctx, FORWARD, sqlite)))
    for framework in ("django", "pecan"):
        for backend in BACKENDS:
            name = _named(f"{framework}-slow", backend)
            modes.append(Mode(name, f"ours: {framework} + {backend} ({n} workers), sqlite -> "
                              "slow plugin", ours(ctx, framework, FORWARD, sqlite,
                                                  tag=name[len(framework):], backend=backend),
                              ours=True))
    if ctx.baseline_src:
        modes += _before_modes(ctx, sqlite, "slow", "sqlite -> slow plugin")
    return modes


def _before_modes(ctx: Context, sections: dict, kind: str, what: str) -> list[Mode]:
    """The --baseline-src code in the modes `{framework}-{kind}[-gevent]`, named
    with `-before` appended, on the baseline's own inventory file."""
    old = dict(sections, inventory={"backend": "sqlite", "sqlite_path": ctx.before_sqlite()})
    modes = []
    for framework in ("django", "pecan"):
        for backend in BACKENDS:
            name = _named(f"{framework}-{kind}", backend)
            label = f"{framework} + {backend}, {what}"
            modes.append(Mode(name + "-before", _before_label(ctx, label),
                              ours(ctx, framework, FORWARD, old, tag=name[len(framework):],
                                   before=True, backend=backend), ours=True))
    return modes


def _named(base: str, backend: str) -> str:
    """A mode's name: eventlet's as before this dimension, others suffixed."""
    return base if backend == "eventlet" else f"{base}-{backend}"


def _env(**extra: str) -> dict[str, str]:
    import os
    env = {k: v for k, v in os.environ.items()
           if k not in ("WEB_FRAMEWORK", "AAI_ADDR", "MSB_ADDR")}
    env.update(extra)
    return env
