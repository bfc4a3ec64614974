"""Section `plugin`: ONAP's resource API through the broker, the OpenStack
plugin, to a real Keystone and the OpenStack simulator, all on 127.0.0.1.

    python -m bench.plugin [--quick] [--levels 1,100,1000] [--combos pecan-eventlet,...]
    python -m bench.run --sections plugin          (the same, from the harness)

Started once for the section: Keystone (LocalKeystone: gunicorn, 1 process,
8 threads), the simulator (`python -m multicloud_broker.simulators.openstack
--register --quiet`: one gevent process) and a region `acme/RegionOne` with
the Keystone admin's credentials in a fresh SQLite inventory. Then, for each
combination of web framework (pecan, django) and server backend (eventlet,
gevent): the plugin (`multicloud-broker openstack-plugin`, 2 workers) and the
broker (`multicloud-broker serve`, 2 workers, `[plugins] endpoints =
multicloud-ocata:<plugin>`), both with that framework and backend, started
fresh, warmed up, measured, stopped by PID.

What is measured (ab -r: a receive error is counted, not the end of the run):

- list, `GET .../{tenant}/networks` (tenant = the admin project's id):
  through the broker (`/api/multicloud/v0/acme_RegionOne/...`), straight to
  the plugin (`/api/multicloud-ocata/v0/acme_RegionOne/...`), and straight
  to the simulator with an X-Auth-Token, with the query the plugin sends
  (`/network/v2.0/networks?project_id=T&limit=1000`): what the plugin and
  the broker add. At -c 1, 100 and 1000, each without and with ab -k.
- port cycle, through the broker: bench/port_cycle.py (threads, one
  kept-alive connection each) POSTs a port on a network made once for the
  section and DELETEs it; calls/s, cycles/s, failures by kind, percentiles.

During every run the CPU time of each part (ab or the driver, broker,
plugin, simulator, Keystone) is read from /proc, and the WARNING/ERROR
lines each server wrote are counted.

Results: bench/results/<date>-<host>[-quick][-tag]-plugin.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import machine, modes
from bench.ab import run_ab
from bench.procs import Proc, StartError, descendants, free_port, wait_http

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"

OWNER, REGION = "acme", "RegionOne"
VIMID = f"{OWNER}_{REGION}"
PLUGIN = "multicloud-ocata"
FRAMEWORKS = ("pecan", "django")
COMBOS = tuple(f"{fw}-{be}" for be in modes.BACKENDS for fw in FRAMEWORKS)
# ab -n per level (list) and cycles per level (port create+delete); --quick divides.
LIST_REQUESTS = {1: 300, 100: 2000, 1000: 4000}
CYCLES = {1: 100, 100: 1000, 1000: 2000}
PASSWORD_ENV = "BENCH_PLUGIN_REGION_PASSWORD"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d")  # a server log line's start


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.plugin",
                                description=__doc__.splitlines()[0])
    add_options(p)
    p.add_argument("--quick", action="store_true", help="5x fewer requests and cycles")
    p.add_argument("--no-install", action="store_true", help="never apt-get install ab")
    p.add_argument("--out", default=str(RESULTS), help="results directory")
    p.add_argument("--tag", default="", help="suffix of the result files' stem")
    p.add_argument("--keep-tmp", action="store_true",
                   help="keep the scratch directory (configs, server logs)")
    p.add_argument("--workers", type=int, default=2, help="workers of the broker and the plugin")
    p.add_argument("--time-limit", type=float, default=120, help="bound of one ab/driver run, s")
    p.add_argument("--rewrite", metavar="JSON",
                   help="only rewrite the .md of an earlier <stem>-plugin.json")
    return finish_args(p, p.parse_args(argv))


def add_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """The section's own options (bench.run adds them as --plugin-...)."""
    p.add_argument(f"--{prefix}levels", dest="plugin_levels", default="1,100,1000",
                   help="concurrency levels of the list (ab)")
    p.add_argument(f"--{prefix}cycle-levels", dest="plugin_cycle_levels", default="1,100,1000",
                   help="concurrency levels of the port cycle (threads of the driver)")
    p.add_argument(f"--{prefix}combos", dest="plugin_combos", default=",".join(COMBOS),
                   help=f"framework-backend pairs, of {','.join(COMBOS)}")
    p.add_argument(f"--{prefix}no-keepalive-runs", dest="plugin_no_ka", action="store_true",
                   help="only ab without -k (default: each level without and with -k)")
    p.add_argument(f"--{prefix}no-direct", dest="plugin_no_direct", action="store_true",
                   help="skip the runs straight to the plugin and to the simulator")
    p.add_argument(f"--{prefix}scale", dest="plugin_scale", type=float, default=1.0,
                   help="multiply every request and cycle count (e.g. 0.2)")
    p.add_argument(f"--{prefix}port-quota", dest="plugin_port_quota", type=int, default=-1,
                   help="the admin project's Neutron port quota in the simulator (default -1, "
                        "unlimited: 1,000 ports in flight exceed the default 500; 0 keeps "
                        "the default)")


def finish_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]
    args.plugin_levels = ints(args.plugin_levels)
    args.plugin_cycle_levels = ints(args.plugin_cycle_levels)
    args.plugin_combos = [c.strip() for c in args.plugin_combos.split(",") if c.strip()]
    bad = [c for c in args.plugin_combos if c not in COMBOS]
    if bad:
        p.error(f"unknown combination(s) {bad}; choose from {', '.join(COMBOS)}")
    return args


# -- the cloud: Keystone, the simulator, the region ---------------------------------

@dataclass
class Cloud:
    """Keystone and the simulator for the whole section; the region in the inventory."""

    ctx: modes.Context
    port_quota: int = 0       # the admin project's port quota, if not 0 (-1: unlimited)
    sim_args: tuple[str, ...] = ("--quiet",)  # the simulator's own options (bench.volte's)
    keystone: object = None   # LocalKeystone
    sim: Proc | None = None
    sim_port: int = 0
    tenant: str = ""
    token: str = ""
    network: str = ""
    inventory: Path = field(default_factory=Path)
    notes: list[str] = field(default_factory=list)

    def start(self) -> None:
        from multicloud_broker.simulators.keystone import LocalKeystone
        ctx = self.ctx
        began = time.monotonic()
        # LocalKeystone runs gunicorn in a session of its own; stop() ends it by PID.
        self.keystone = LocalKeystone(ctx.tmp / "keystone")
        self.keystone.start()
        ks = self.keystone
        print(f"bench: keystone on {ks.url} ({time.monotonic() - began:.1f} s)", flush=True)
        self.sim_port = free_port()
        self.sim = Proc("openstack-sim", [
            ctx.python, "-m", "multicloud_broker.simulators.openstack",
            "--bind-host", "127.0.0.1", "--bind-port", str(self.sim_port),
            "--keystone-url", ks.url, "--admin-user", ks.admin_user,
            f"--admin-password={ks.admin_password}", "--admin-project", ks.admin_project,
            "--region", ks.region, "--image-dir", str(ctx.tmp / "sim-images"),
            "--register", *self.sim_args], ctx.tmp, env=modes._env(), cwd=modes.REPO)
        self._wait_sim()
        print(f"bench: openstack simulator on {self.sim_url}", flush=True)
        session = ks.admin_session()
        self.tenant = session.get_project_id()
        self.token = session.get_token()
        self.inventory = ctx.tmp / "inventory.sqlite"
        self._add_region()
        self.network = self._make_network()
        if self.port_quota:
            # Neutron's default (and the simulator's) is 500 ports per project:
            # 1,000 creates in flight would be refused with 409 OverQuota.
            self.sim_call("PUT", f"/network/v2.0/quotas/{self.tenant}",
                          {"quota": {"port": self.port_quota}})

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def _wait_sim(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.sim.alive():
                raise StartError(f"the simulator exited with {self.sim.popen.returncode}:\n"
                                 f"{self.sim.tail()}")
            if "openstack simulator on" in self.sim.out_path.read_text(errors="replace"):
                wait_http(self.sim, self.sim_port, "/")
                return
            time.sleep(0.1)
        raise StartError(f"the simulator did not start in {timeout:.0f} s:\n{self.sim.tail()}")

    def _add_region(self) -> None:
        """`multicloud-broker region add` with the Keystone admin's credentials."""
        ks = self.keystone
        conf = self.ctx.broker_config("region", 1, "pecan",
                                      {"inventory": {"backend": "sqlite",
                                                     "sqlite_path": str(self.inventory)}})
        done = subprocess.run(
            self.ctx.broker_cli() + [
                "region", "add", "--config-file", str(conf), "--cloud-owner", OWNER,
                "--cloud-region-id", REGION, "--cloud-type", "openstack",
                "--cloud-region-version", "ocata", "--auth-url", ks.url,
                "--username", ks.admin_user, "--password-env", PASSWORD_ENV,
                "--project", ks.admin_project, "--openstack-region", ks.region],
            capture_output=True, text=True, timeout=120, cwd=modes.REPO,
            env=modes._env(**{PASSWORD_ENV: ks.admin_password}))
        if done.returncode != 0:
            raise StartError(f"region add failed: {done.stderr.strip()[-2000:]}")

    def _make_network(self) -> str:
        """The ports' network (and a /16 subnet, so that every port gets an IP),
        made once, straight in the simulator."""
        net = self.sim_call("POST", "/network/v2.0/networks",
                            {"network": {"name": "bench-ports", "shared": False}})["network"]
        self.sim_call("POST", "/network/v2.0/subnets", {"subnet": {
            "name": "bench-ports", "network_id": net["id"], "cidr": "10.77.0.0/16",
            "ip_version": 4, "enable_dhcp": False}})
        return net["id"]

    def sim_call(self, method: str, path: str, body: object = None) -> dict:
        conn = http.client.HTTPConnection("127.0.0.1", self.sim_port, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers={
                "X-Auth-Token": self.token, "Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        if resp.status >= 300:
            raise StartError(f"simulator {method} {path}: HTTP {resp.status} {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def procs(self) -> dict[str, list[int]]:
        """PIDs per part, for CPU accounting."""
        out = {}
        if self.sim is not None and self.sim.alive():
            out["simulator"] = [self.sim.pid, *self.sim.workers()]
        pid = getattr(self.keystone, "pid", None)
        if pid:
            out["keystone"] = [pid, *descendants(pid)]
        return out

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()
        if self.keystone is not None:
            self.keystone.stop()


# -- the paths --------------------------------------------------------------------

def broker_list(tenant: str) -> str:
    return f"/api/multicloud/v0/{VIMID}/{tenant}/networks"


def plugin_list(tenant: str) -> str:
    return f"/api/{PLUGIN}/v0/{VIMID}/{tenant}/networks"


def sim_list(tenant: str) -> str:
    # What the plugin asks the cloud for one list (resources.py: tenant filter, page size).
    return f"/network/v2.0/networks?project_id={tenant}&limit=1000"


# -- the plugin and the broker, per combination ---------------------------------------

class Pair:
    """The plugin and the broker in front of it, with one framework and backend."""

    def __init__(self, ctx: modes.Context, cloud: Cloud, framework: str, backend: str):
        self.ctx, self.cloud = ctx, cloud
        self.framework, self.backend = framework, backend
        self.plugin: Proc | None = None
        self.broker: Proc | None = None
        self.plugin_port = self.broker_port = 0

    def start(self) -> None:
        ctx, cloud = self.ctx, self.cloud
        self.plugin_port, self.broker_port = free_port(), free_port()
        inventory = {"backend": "sqlite", "sqlite_path": str(cloud.inventory)}
        name = ctx.name(f"plugin-{self.framework}-{self.backend}")
        conf = ctx.broker_config(name, self.plugin_port, self.framework, {
            "DEFAULT": {"graceful_shutdown_timeout": "5"},
            "inventory": inventory,
            "openstack_plugin": {"bind_host": "127.0.0.1", "bind_port": str(self.plugin_port),
                                 "broker_url": f"http://127.0.0.1:{self.broker_port}",
                                 "connect_timeout": "5", "read_timeout": "30"}})
        self.plugin = Proc(name, ctx.broker_cli() + [
            "openstack-plugin", "--config-file", str(conf), "--web-framework", self.framework,
            "--server-backend", self.backend, "--bind-host", "127.0.0.1",
            "--bind-port", str(self.plugin_port), "--workers", str(ctx.workers)],
            ctx.tmp, env=modes._env(), cwd=modes.REPO)
        wait_http(self.plugin, self.plugin_port, plugin_list(cloud.tenant), timeout=60)
        name = ctx.name(f"broker-{self.framework}-{self.backend}")
        conf = ctx.broker_config(name, self.broker_port, self.framework, {
            "DEFAULT": {"graceful_shutdown_timeout": "5"},
            "inventory": inventory,
            "plugins": {"endpoints": f"{PLUGIN}:http://127.0.0.1:{self.plugin_port}"}})
        self.broker = Proc(name, ctx.broker_cli() + [
            "serve", "--config-file", str(conf), "--web-framework", self.framework,
            "--server-backend", self.backend, "--bind-port", str(self.broker_port)],
            ctx.tmp, env=modes._env(), cwd=modes.REPO)
        wait_http(self.broker, self.broker_port, broker_list(cloud.tenant), timeout=60)
        time.sleep(1.0)  # every worker past its start-up, not only the first

    def procs(self) -> dict[str, list[int]]:
        out = {}
        for part, proc in (("plugin", self.plugin), ("broker", self.broker)):
            if proc is not None and proc.alive():
                out[part] = [proc.pid, *proc.workers()]
        return out

    def stop(self) -> None:
        for proc in (self.broker, self.plugin):
            if proc is not None:
                proc.stop()


# -- one measurement ------------------------------------------------------------------

class Section:
    def __init__(self, args: argparse.Namespace, ctx: modes.Context, tools: dict[str, str]):
        self.args, self.ctx, self.tools = args, ctx, tools
        self.runs: list[dict] = []
        self.scale = args.plugin_scale / (5 if getattr(args, "quick", False) else 1)

    def list_requests(self, conc: int) -> int:
        # ab's -e percentiles are wrong below 100 requests; at least 2 per connection.
        return max(100, 2 * conc, int(LIST_REQUESTS.get(conc, 10 * conc) * self.scale))

    def cycles(self, conc: int) -> int:
        return max(20, 2 * conc, int(CYCLES.get(conc, 4 * conc) * self.scale))

    def _cpu_parts(self, parts: dict[str, list[int]], before: dict[int, int],
                   after: dict[int, int]) -> dict[str, float]:
        tck = os.sysconf("SC_CLK_TCK")
        return {part: round(sum(max(0, after.get(p, 0) - before.get(p, 0)) for p in pids) / tck,
                            2) for part, pids in parts.items()}

    def _logs(self, procs: dict[str, Proc]) -> dict[str, dict[str, int]]:
        return {name: proc.log_counts() for name, proc in procs.items() if proc is not None}

    @staticmethod
    def _err_sizes(procs: dict[str, Proc]) -> dict[str, int]:
        out = {}
        for name, proc in procs.items():
            try:
                out[name] = proc.err_path.stat().st_size if proc is not None else 0
            except OSError:
                out[name] = 0
        return out

    @staticmethod
    def _errors_since(procs: dict[str, Proc], sizes: dict[str, int]) -> dict[str, str]:
        """The first ERROR of each server's stderr during a run, with what follows
        it (a traceback), to see what a 5xx was."""
        out = {}
        for name, proc in procs.items():
            if proc is None:
                continue
            try:
                with open(proc.err_path, "rb") as handle:
                    handle.seek(sizes.get(name, 0))
                    text = handle.read(1 << 20).decode(errors="replace")
            except OSError:
                continue
            at = text.find(" ERROR ")
            if at < 0:
                continue
            lines = text[text.rfind("\n", 0, at) + 1:].splitlines()
            block = lines[:1]
            for line in lines[1:200]:  # the traceback, up to the next log line
                if LOG_LINE.match(line):
                    break
                block.append(line)
            out[name] = "\n".join(block)[-6000:]
        return out

    @staticmethod
    def _log_delta(before: dict, after: dict) -> dict[str, int]:
        out = {}
        for name, counts in after.items():
            for message, count in counts.items():
                added = count - before.get(name, {}).get(message, 0)
                if added > 0:
                    out[f"{name}: {message}"] = added
        return out

    def ab(self, case: str, target: str, combo: str, port: int, path: str, conc: int,
           keepalive: bool, parts: dict[str, list[int]], servers: dict[str, Proc],
           headers: dict[str, str] | None = None) -> dict:
        n = self.list_requests(conc)
        record = {"case": case, "target": target, "combo": combo, "concurrency": conc,
                  "keepalive": keepalive, "requests": n, "path": path,
                  "started": _now(), "ab": None, "error": ""}
        ka = " -k" if keepalive else ""
        print(f"bench: plugin {case:5} {target:9} {combo or '-':15} ab -n {n} -c {conc}{ka}",
              flush=True)
        csv = self.ctx.tmp / f"{case}-{target}-{combo}-c{conc}{'-k' if keepalive else ''}.csv"
        logs = self._logs(servers)
        sizes = self._err_sizes(servers)
        ours = _our_pids()
        before = machine.cpu_ticks()
        result = run_ab(self.tools["ab"], f"http://127.0.0.1:{port}{path}", n, conc, csv,
                        self.args.time_limit, keepalive=keepalive, recv_errors_ok=True,
                        headers=headers)
        after = machine.cpu_ticks()
        ours |= _our_pids()
        record["ab"] = result.as_dict()
        record["cpu_s"] = {"ab": result.ab_cpu_s, **self._cpu_parts(parts, before, after)}
        other = machine.foreign_cpu_seconds(before, after, ours)
        record["other_cpu_share"] = round(
            other / max(result.wall_s, 0.001) / (os.cpu_count() or 1), 3)
        record["server_log"] = self._log_delta(logs, self._logs(servers))
        record["server_errors"] = self._errors_since(servers, sizes)
        self.runs.append(record)
        print(f"bench:   {result.rps or 0:9.1f} req/s  failed {result.failed}  "
              f"non-2xx {result.non_2xx}  never done {result.not_done}  "
              f"p50 {result.latency_ms.get('50', '-')} ms  p99 "
              f"{result.latency_ms.get('99', '-')} ms  cpu {record['cpu_s']}"
              + (f"  [{result.aborted}]" if result.aborted else ""), flush=True)
        _print_notes(record)
        return record

    def cycle(self, combo: str, port: int, tenant: str, network: str, conc: int,
              parts: dict[str, list[int]], servers: dict[str, Proc]) -> dict:
        n = self.cycles(conc)
        base = f"http://127.0.0.1:{port}/api/multicloud/v0/{VIMID}/{tenant}"
        argv = [self.ctx.python, "-m", "bench.port_cycle", "--base", base,
                "--network", network, "--cycles", str(n), "--concurrency", str(conc),
                "--time-limit", str(self.args.time_limit), "--timeout", "30",
                "--prefix", f"bench-{combo}-c{conc}"]
        record = {"case": "cycle", "target": "broker", "combo": combo, "concurrency": conc,
                  "keepalive": True, "requests": n, "path": base + "/ports",
                  "started": _now(), "driver": None, "error": ""}
        print(f"bench: plugin cycle broker    {combo:15} {n} cycles, {conc} threads", flush=True)
        logs = self._logs(servers)
        sizes = self._err_sizes(servers)
        ours = _our_pids()
        before = machine.cpu_ticks()
        import resource
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, cwd=modes.REPO,
                                  timeout=self.args.time_limit + 150)
            if done.returncode != 0:
                record["error"] = f"driver exited {done.returncode}: {done.stderr[-1500:]}"
            else:
                record["driver"] = json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            record["error"] = "driver killed: over time"
        wall = time.monotonic() - started
        after = machine.cpu_ticks()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        ours |= _our_pids()
        record["cpu_s"] = {"driver": round(used.ru_utime + used.ru_stime
                                           - usage.ru_utime - usage.ru_stime, 2),
                           **self._cpu_parts(parts, before, after)}
        other = machine.foreign_cpu_seconds(before, after, ours)
        record["other_cpu_share"] = round(other / max(wall, 0.001) / (os.cpu_count() or 1), 3)
        record["server_log"] = self._log_delta(logs, self._logs(servers))
        record["server_errors"] = self._errors_since(servers, sizes)
        self.runs.append(record)
        d = record["driver"]
        if d:
            print(f"bench:   {d['calls_per_s']:9.1f} calls/s  {d['cycles_per_s']} cycles/s  "
                  f"ok {d['cycles_ok']}/{n}  failed calls {d['calls_failed']} "
                  f"{d['failures'] or ''}  POST p50/p99 {d['post_ms'].get('50')}/"
                  f"{d['post_ms'].get('99')} ms  DELETE p50/p99 {d['delete_ms'].get('50')}/"
                  f"{d['delete_ms'].get('99')} ms  cpu {record['cpu_s']}", flush=True)
        else:
            print(f"bench:   NOT MEASURED: {record['error'][:300]}", flush=True)
        _print_notes(record)
        return record


def _print_notes(record: dict) -> None:
    for message, count in sorted(record["server_log"].items(), key=lambda kv: -kv[1])[:3]:
        print(f"bench:   server log: {count} x {message[:150]}", flush=True)
    if record["other_cpu_share"] > 0.05:
        print(f"bench:   note: other processes used {record['other_cpu_share']:.0%} "
              "of the machine during this run", flush=True)


def _our_pids() -> set[int]:
    return {os.getpid(), *descendants(os.getpid())}


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def _warm(tools: dict[str, str], tmp: Path, port: int, path: str,
          headers: dict[str, str] | None = None, n: int = 400) -> None:
    run_ab(tools["ab"], f"http://127.0.0.1:{port}{path}", n, 50, tmp / "warm.csv", 60,
           headers=headers)


def _body_length(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        return len(conn.getresponse().read())
    finally:
        conn.close()


# -- the section ------------------------------------------------------------------------

def run(args: argparse.Namespace, ctx: modes.Context, tools: dict[str, str], out_dir: Path,
        stem: str, meta: dict) -> list[Path]:
    """The whole section; its result files (written also when interrupted)."""
    section = Section(args, ctx, tools)
    cloud = Cloud(ctx, port_quota=args.plugin_port_quota)
    data = {"meta": {**meta, "section": "plugin", "section_started": _now(),
                     "workers": ctx.workers,
                     "list_requests": {c: section.list_requests(c)
                                       for c in args.plugin_levels},
                     "cycles": {c: section.cycles(c) for c in args.plugin_cycle_levels},
                     "combos": args.plugin_combos,
                     "port_quota": args.plugin_port_quota,
                     "simulator": "python -m multicloud_broker.simulators.openstack",
                     "versions_extra": _extra_versions(),
                     "onap_plugin": ONAP_ATTEMPT},
            "runs": section.runs}
    # The harness's notes on tools this section does not use (uwsgi, nginx, py-spy) stay out.
    notes = data["meta"]["notes"] = [n for n in meta.get("notes", [])
                                     if not n.startswith(("uwsgi ", "nginx ", "py-spy "))]
    keepalives = (False,) if args.plugin_no_ka else (False, True)
    try:
        cloud.start()
        data["meta"]["paths"] = {"broker": broker_list(cloud.tenant),
                                 "plugin": plugin_list(cloud.tenant),
                                 "simulator": sim_list(cloud.tenant),
                                 "cycle": f"/api/multicloud/v0/{VIMID}/{cloud.tenant}/ports"}
        auth = {"X-Auth-Token": cloud.token}
        data["meta"]["body_bytes"] = {"simulator": _body_length(
            cloud.sim_port, sim_list(cloud.tenant), auth)}
        if not args.plugin_no_direct:
            _warm(tools, ctx.tmp, cloud.sim_port, sim_list(cloud.tenant), auth)
            for conc in args.plugin_levels:
                for ka in keepalives:
                    section.ab("list", "simulator", "", cloud.sim_port, sim_list(cloud.tenant),
                               conc, ka, cloud.procs(), {"simulator": cloud.sim}, auth)
        for combo in args.plugin_combos:
            framework, backend = combo.split("-")
            pair = Pair(ctx, cloud, framework, backend)
            try:
                pair.start()
            except StartError as exc:
                notes.append(f"{combo}: not run: {str(exc).splitlines()[0]}")
                print(f"bench:   NOT RUN {combo}: {exc}", flush=True)
                pair.stop()
                continue
            except BaseException:  # SIGTERM (SystemExit), ^C: stop what started
                pair.stop()
                raise
            try:
                servers = {"simulator": cloud.sim, "plugin": pair.plugin, "broker": pair.broker}
                parts = {**cloud.procs(), **pair.procs()}
                data["meta"]["body_bytes"][f"broker {combo}"] = _body_length(
                    pair.broker_port, broker_list(cloud.tenant))
                _warm(tools, ctx.tmp, pair.broker_port, broker_list(cloud.tenant))
                for conc in args.plugin_levels:
                    for ka in keepalives:
                        section.ab("list", "broker", combo, pair.broker_port,
                                   broker_list(cloud.tenant), conc, ka, parts, servers)
                        if not args.plugin_no_direct:
                            section.ab("list", "plugin", combo, pair.plugin_port,
                                       plugin_list(cloud.tenant), conc, ka, parts, servers)
                for conc in args.plugin_cycle_levels:
                    section.cycle(combo, pair.broker_port, cloud.tenant, cloud.network, conc,
                                  parts, servers)
            finally:
                pair.stop()
    except KeyboardInterrupt:
        notes.append("interrupted: results are partial")
    except SystemExit:
        notes.append("stopped by a signal: results are partial")
        raise
    except StartError as exc:
        notes.append(f"section not run: {exc}")
        print(f"bench: plugin section NOT RUN: {exc}", flush=True)
    finally:
        try:
            if cloud.sim is not None and cloud.sim.alive() and cloud.token:
                ports = cloud.sim_call("GET", f"/network/v2.0/ports?network_id={cloud.network}")
                data["meta"]["ports_left_on_network"] = len(ports.get("ports", []))
        except (OSError, StartError, ValueError) as exc:
            notes.append(f"could not count the ports left: {exc}")
        cloud.stop()
        data["meta"]["section_finished"] = _now()
        data["meta"]["source_at_end"] = machine.source_state(REPO)
        if not machine.same_broker(meta.get("source") or {}, data["meta"]["source_at_end"]):
            notes.append("the broker's code changed during this run (source and "
                         "source_at_end in the JSON): rows may mix versions")
        paths = write_results(data, out_dir, stem, "plugin", markdown) if section.runs else []
    return paths


def write_results(data: dict, out_dir: Path, stem: str, section: str,
                  render: Callable[[dict], str]) -> list[Path]:
    """A section's results as {stem}-{section}.json and .md (render's text)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}-{section}.json", out_dir / f"{stem}-{section}.md"]
    paths[0].write_text(json.dumps(data, indent=1, default=str) + "\n")
    paths[1].write_text(render(data))
    for path in paths:
        print(f"bench: wrote {path}", flush=True)
    return paths


def _extra_versions() -> dict[str, str]:
    from importlib import metadata
    out = {}
    for dist in ("gevent", "keystoneauth1", "PyYAML", "requests"):
        try:
            out[dist.lower()] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist.lower()] = "not installed"
    try:
        from multicloud_broker.simulators.local_openstack import venv_dir
        py = venv_dir() / "bin" / "python"
        done = subprocess.run([str(py), "-c", "from importlib import metadata as m; "
                               "print(m.version('keystone'), m.version('gunicorn'))"],
                              capture_output=True, text=True, timeout=60)
        ks, gun = (done.stdout.split() + ["?", "?"])[:2]
        out["keystone"], out["keystone-gunicorn"] = ks, gun
    except (OSError, subprocess.SubprocessError, ImportError):
        out["keystone"] = "unknown"
    return out


# -- Markdown ----------------------------------------------------------------------------

def _n(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _bad_ab(a: dict) -> str:
    parts = []
    if a["failed"]:
        kinds = ", ".join(f"{k} {v}" for k, v in a["failed_kinds"].items() if v)
        parts.append(f"{a['failed']} failed ({kinds})")
    if a["non_2xx"]:
        parts.append(f"{a['non_2xx']} non-2xx")
    if a["not_done"]:
        parts.append(f"{a['not_done']} never done")
    if a["aborted"]:
        parts.append(f"ab: {a['aborted'][:60]}")
    return "; ".join(parts) or "0"


def _cpu_text(cpu: dict, wall: float | None) -> str:
    if not wall:
        return "-"
    return ", ".join(f"{k} {v / wall:.0%}" for k, v in cpu.items() if v / wall >= 0.01)


def _log_text(record: dict) -> str:
    logged = record.get("server_log") or {}
    if not logged:
        return ""
    message, count = max(logged.items(), key=lambda kv: kv[1])
    return f"logged {sum(logged.values())} warnings/errors (most: {count} x {message[:100]})"


def _notes(record: dict, *extra: str) -> str:
    parts = [e for e in extra if e]
    if record.get("other_cpu_share", 0) > 0.05:
        parts.append(f"other processes {record['other_cpu_share']:.0%}")
    if _log_text(record):
        parts.append(_log_text(record))
    return "; ".join(parts)


def markdown(data: dict) -> str:
    meta = data["meta"]
    runs = data["runs"]
    m = meta.get("machine", {})
    v = {**meta.get("versions", {}), **meta.get("versions_extra", {})}
    paths = meta.get("paths", {})
    lines = [f"# The OpenStack plugin through the broker: {meta.get('date', '')}, "
             f"{m.get('host', '')}", ""]
    lines += [
        f"Machine: {m.get('cpu_count')} CPUs ({m.get('cpu_model', '?')}), "
        f"{_n(m.get('memory_mb'))} MB, kernel {m.get('kernel')}, open files {m.get('nofile')}, "
        f"somaxconn {m.get('somaxconn')}, tcp_tw_reuse {m.get('tcp_tw_reuse')}. "
        "Everything below ran on it at once: ab or the cycle driver, the broker, the "
        "plugin, the simulator and Keystone share its cores.",
        "",
        f"Versions: python {v.get('python')}, django {v.get('django')}, pecan "
        f"{v.get('pecan')}, eventlet {v.get('eventlet')}, gevent {v.get('gevent')}, "
        f"keystoneauth1 {v.get('keystoneauth1')}, requests {v.get('requests')}, urllib3 "
        f"{v.get('urllib3')}, ab {v.get('ab')}; Keystone {v.get('keystone')} under gunicorn "
        f"{v.get('keystone-gunicorn')} (1 process, 8 threads). Broker {_source(meta)}.",
        "",
        f"Broker and plugin: {meta.get('workers')} workers each, the same web framework "
        "and server backend for both (the combination named in each row); the region "
        f"`{OWNER}/{REGION}` in SQLite with the Keystone admin's credentials; the "
        "simulator: one gevent process (`--quiet`), validating tokens with Keystone "
        f"(cached), {meta.get('simulator', '?')}; the admin project's port quota "
        f"{_quota(meta.get('port_quota'))}. Defaults otherwise "
        "(`max_connections_per_plugin`: half of `wsgi_pool_size`, 500 per broker worker).",
        "",
        "Paths (tenant = the admin project's id):",
        "",
        f"- broker: `GET {paths.get('broker', '?')}`",
        f"- plugin: `GET {paths.get('plugin', '?')}`",
        f"- simulator: `GET {paths.get('simulator', '?')}` with `X-Auth-Token` (the query "
        "the plugin sends for one list)",
        f"- cycle: `POST {paths.get('cycle', '?')}` then `DELETE .../ports/{{id}}`, through "
        "the broker (bench/port_cycle.py: a thread per connection, kept alive)",
        "",
        "Answer sizes (bytes): " + ", ".join(f"{k} {v:,}" for k, v in
                                             meta.get("body_bytes", {}).items()) + ".",
        "",
        "ab runs with `-r` (receive errors are counted, not fatal) and `-s 30`. "
        "\"Bad\" is ab's failed (connect, receive, length, exceptions) + non-2xx + never "
        "done. CPU: each part's CPU time over the run's wall time (100% = one core).",
        "",
    ]
    for note in meta.get("notes", []):
        lines.append(f"> note: {note}")
    if meta.get("notes"):
        lines.append("")
    lines += _list_tables(runs)
    lines += _overhead_table(runs)
    lines += _cycle_table(runs)
    lines += _errors_md(runs)
    if "ports_left_on_network" in meta:
        lines += [f"Ports left on the bench network at the end: "
                  f"{meta['ports_left_on_network']}.", ""]
    lines += _onap_md(meta.get("onap_plugin") or ONAP_ATTEMPT)
    return "\n".join(lines) + "\n"


def _quota(value) -> str:
    if value is None or value == 0:
        return "left at the simulator's default (500, as Neutron's)"
    return "unlimited (-1)" if value < 0 else f"{value}"


def _errors_md(runs: list[dict]) -> list[str]:
    """The first error each server logged in a run, and the first answer of each
    kind of failed call of the cycle driver."""
    lines = []
    for r in runs:
        where = (f"{r['case']} {r['target']} {r['combo'] or '-'} -c {r['concurrency']}"
                 + (" -k" if r.get("keepalive") and r["case"] == "list" else ""))
        samples = (r.get("driver") or {}).get("failure_samples") or {}
        for kind, text in samples.items():
            lines.append(f"- {where}: `{kind}`: {text[:200]!r}")
        for server, text in (r.get("server_errors") or {}).items():
            first = text.strip().splitlines()
            # The exception's own line: the last unindented one after the first.
            tail = [line for line in first[1:] if line.strip() and not line[0].isspace()
                    and not line.startswith("Traceback")][-1:]
            lines.append(f"- {where}: {server} logged: `{first[0][:220]}`"
                         + (f" ... `{tail[0].strip()[:200]}`" if tail else ""))
    if not lines:
        return []
    return ["## Failures and errors, first of each run", "",
            "(whole excerpts in the JSON: `server_errors`, `driver.failure_samples`)", "",
            *lines, ""]


def _source(meta: dict) -> str:
    src = meta.get("source") or {}
    text = f"at {src.get('commit', '?')}"
    if src.get("uncommitted"):
        text += f" with uncommitted changes under src/ (diff {src.get('diff_sha256')})"
    return text


def _list_tables(runs: list[dict]) -> list[str]:
    lines = ["## List: `GET .../networks`", ""]
    lists = [r for r in runs if r["case"] == "list"]
    for conc in sorted({r["concurrency"] for r in lists}):
        for ka in (False, True):
            rows = [r for r in lists if r["concurrency"] == conc and r["keepalive"] == ka]
            if not rows:
                continue
            n = rows[0]["requests"]
            lines += [f"### `ab -n {n:,} -c {conc}{' -k' if ka else ''}`", "",
                      "| target | framework-backend | requests/s | p50 ms | p90 ms | p99 ms "
                      "| max ms | bad | CPU | notes |",
                      "|---|---|---:|---:|---:|---:|---:|---|---|---|"]
            for r in rows:
                a = r.get("ab") or {}
                lat = a.get("latency_ms", {})
                lines.append(
                    f"| {r['target']} | {r['combo'] or '-'} | {_n(a.get('rps'))} | "
                    f"{_ms(lat.get('50'))} | {_ms(lat.get('90'))} | {_ms(lat.get('99'))} | "
                    f"{_ms(lat.get('100'))} | {_bad_ab(a) if a else r['error'][:80]} | "
                    f"{_cpu_text(r.get('cpu_s', {}), a.get('wall_s'))} | {_notes(r)} |")
            lines.append("")
    return lines


def _overhead_table(runs: list[dict]) -> list[str]:
    """At -c 1 (no -k): what the plugin adds to the cloud, the broker to the plugin."""
    def p50(target: str, combo: str) -> float | None:
        for r in runs:
            if (r["case"] == "list" and r["target"] == target and r["concurrency"] == 1
                    and not r["keepalive"] and r["combo"] == combo and r.get("ab")):
                return r["ab"]["latency_ms"].get("50")
        return None
    sim = p50("simulator", "")
    combos = sorted({r["combo"] for r in runs if r["case"] == "list" and r["combo"]},
                    key=lambda c: COMBOS.index(c) if c in COMBOS else 99)
    if not combos or sim is None:
        return []
    lines = ["## Added at the median, `-c 1` (no -k)", "",
             f"The simulator alone: {_ms(sim)} ms.", "",
             "| framework-backend | plugin p50 ms | plugin adds | broker p50 ms | broker adds |",
             "|---|---:|---:|---:|---:|"]
    for combo in combos:
        plug, brok = p50("plugin", combo), p50("broker", combo)
        lines.append(f"| {combo} | {_ms(plug)} | "
                     f"{_ms(plug - sim) if plug is not None else '-'} | {_ms(brok)} | "
                     f"{_ms(brok - plug) if None not in (brok, plug) else '-'} |")
    lines.append("")
    return lines


def _cycle_table(runs: list[dict]) -> list[str]:
    cycles = [r for r in runs if r["case"] == "cycle"]
    if not cycles:
        return []
    lines = ["## Port create + delete, through the broker", "",
             "| threads | framework-backend | cycles ok / asked | calls/s | cycles/s | "
             "POST p50 / p99 ms | DELETE p50 / p99 ms | cycle p50 / p99 / max ms | "
             "failed calls | CPU | notes |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for r in sorted(cycles, key=lambda r: (r["concurrency"],
                                           COMBOS.index(r["combo"])
                                           if r["combo"] in COMBOS else 99)):
        d = r.get("driver")
        if not d:
            lines.append(f"| {r['concurrency']} | {r['combo']} | not measured | | | | | | "
                         f"{r['error'][:100]} | | |")
            continue
        fails = (f"{d['calls_failed']}: " + ", ".join(f"{k} {v}" for k, v in
                                                       d["failures"].items())
                 if d["calls_failed"] else "0")
        extra = []
        if d.get("ports_left_behind"):
            extra.append(f"{d['ports_left_behind']} ports left (DELETE failed)")
        if d.get("time_limited"):
            extra.append("stopped by the time limit")
        if d.get("threads_still_running"):
            extra.append(f"{d['threads_still_running']} threads hung")
        pm, dm, cm = d["post_ms"], d["delete_ms"], d["cycle_ms"]
        lines.append(
            f"| {r['concurrency']} | {r['combo']} | {d['cycles_ok']:,} / {d['cycles_asked']:,} "
            f"| {_n(d['calls_per_s'])} | {_n(d['cycles_per_s'])} | {_ms(pm.get('50'))} / "
            f"{_ms(pm.get('99'))} | {_ms(dm.get('50'))} / {_ms(dm.get('99'))} | "
            f"{_ms(cm.get('50'))} / {_ms(cm.get('99'))} / {_ms(cm.get('100'))} | {fails} | "
            f"{_cpu_text(r.get('cpu_s', {}), d.get('wall_s'))} | "
            f"{_notes(r, *extra)} |")
    lines.append("")
    return lines


# -- ONAP's own plugin ----------------------------------------------------------------

# The attempt to run ONAP's own plugin here, side by side (2026-12-07, about
# 11 minutes of a 15-minute budget). Not a mode of this section: its code is
# not ours to ship, and it needs a Python 3.6 venv and a fake A&AI. The
# throw-away driver (outside the repository) started the same Keystone and
# simulator as Cloud does, then ONAP's plugin, and ran ab and port_cycle.
ONAP_ATTEMPT: dict = {
    "tried": True,
    "source": "onap/multicloud-openstack at 47e3a651 (2026-07-24), pike/ and share/, "
              "exported with git archive to a scratch directory (nothing committed)",
    "summary": (
        "**It installs and runs**, with Python 3.6 and a fake A&AI, and answers the same "
        "list from the same Keystone and simulator; here it is about 50 times slower "
        "than ours at -c 1 and 100 times at -c 100, because every call authenticates anew with Keystone "
        "(one POST /v3/auth/tokens per call, and the cloud then validates each new "
        "token: a GET /v3/auth/tokens per call as well). One sitting, same machine, "
        "other jobs running, the simulator with TCP_NODELAY (a bench wrapper then; the "
        "simulator's own since 39d4000), uWSGI 2.0.23 `--http --master --enable-threads --processes 4` as its run.sh "
        "starts it (loopback only):"),
    "figures": {
        "list ab -n 100 -c 1": "5.2-6.3 req/s, p50 150-186 ms, p99 363-508 ms, 0 failed",
        "list ab -n 100 -c 1 -k": "6.4 req/s, p50 150 ms, p99 282 ms, 0 failed",
        "list ab -n 300 -c 100": "5.4 req/s, p50 17.5 s, p99 20.2 s, 0 failed",
        "list ab -n 1000 -c 100 (-t 120)": "6.5 req/s, 221 of 1,000 never done in 120 s "
                                           "(with -k: 5.2 req/s, 371 never done)",
        "port cycle, 1 thread, 20 cycles, a connection per call": "3.4 calls/s, POST p50 "
            "378 ms, DELETE p50 192 ms, 0 failed",
        "port cycle, 20 threads, 100 cycles, a connection per call": "2.9 calls/s, POST "
            "p50 7.4 s, DELETE p50 6.4 s, 0 failed",
        "port cycle over kept-alive connections": "15 of 30 (1 thread) and 90 of 200 "
            "(20 threads) POSTs failed (BrokenPipeError, RemoteDisconnected, "
            "ConnectionResetError): uWSGI's --http router closes a connection after an "
            "answer without saying `Connection: close`, so a client's next request on "
            "it fails; ab copes (it reconnects), a POST must not be retried blindly",
    },
    "steps": [
        "Python: the machine's is 3.11; pike and starlingx pin Django 3.2.7, "
        "djangorestframework 3.12.4, keystoneauth1 2.18.0, PyYAML 5.4.1 (no 3.11 wheels), "
        "ruamel.yaml 0.17.1 (yanked), httplib2 0.19.1, python-memcached, onaphpadriver "
        "(pike); tox says py36. pyenv has 3.6.15: `python3.6 -m venv`.",
        "`pip install -r pike/requirements.txt` with the venv's pip 18.1 FAILED: it picked "
        "asgiref, then sqlparse, releases that need Python >= 3.10 (asgiref requires "
        "Python '>=3.10' but the running Python is 3.6.15). Fixed by `pip install "
        "pip==21.3.1` first (its resolver skips them); then every pin installed from PyPI "
        "in ~20 s (ruamel.yaml 0.17.1 with a 'yanked' warning).",
        "uWSGI (not in requirements.txt; run.sh starts it): `pip install uwsgi==2.0.23` "
        "built in ~30 s.",
        "settings.py and log.yml write logs under /var/log/onap/multicloud/openstack/pike "
        "(settings.py creates it at import): pointed at the scratch directory in the "
        "scratch copy.",
        "memcached (its Django cache; it caches A&AI answers): `apt-get install "
        "memcached` (apt's service start is denied here), then one started on a free "
        "loopback port (MEMCACHED_HOST/MEMCACHED_PORT).",
        "A&AI: the plugin reads the region (GET .../cloud-region/acme/RegionOne) and its "
        "credentials (GET .../esr-system-info-list) from A&AI for every call "
        "(extsys.get_vim_by_id, cached in memcached). A 40-line stdlib HTTP server "
        "answered both (AAI_SERVICE_URL=http://127.0.0.1:P/aai); it saw 2 requests in "
        "the whole run.",
        "Run: `PYTHONPATH=share:pike uwsgi --http 127.0.0.1:P --module pike.wsgi "
        "--master --enable-threads --processes 4 --need-app` in pike/: it answered "
        "GET /api/multicloud-pike/v0/acme_RegionOne/{tenant}/networks with 200 (the "
        "cloud's networks, keys renamed, vimId and tenantId added) and created and "
        "deleted ports (POST/DELETE .../ports) through the same simulator.",
        "Not done (time): starlingx (same pins, needs more of share/ and the same "
        "A&AI), ONAP's plugin behind our broker (it would only add our forwarding to "
        "its figures), 2 processes instead of run.sh's 4, -c 1000 (at 5 calls/s, "
        "10,000 calls take half an hour).",
    ],
}


def _onap_md(attempt: dict) -> list[str]:
    lines = ["## ONAP's own OpenStack plugin (onap/multicloud-openstack), side by side", ""]
    if attempt.get("source"):
        lines += [f"Source: {attempt['source']}.", ""]
    lines += [attempt.get("summary", ""), ""]
    if attempt.get("figures"):
        lines += ["| ONAP pike plugin | measured |", "|---|---|"]
        lines += [f"| {case} | {text} |" for case, text in attempt["figures"].items()]
        lines.append("")
    if attempt.get("steps"):
        lines += ["What was tried, in order:", ""]
        lines += [f"{i}. {step}" for i, step in enumerate(attempt["steps"], 1)]
        lines.append("")
    return lines


# -- standalone entry ---------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    from multicloud_broker import warnings_log
    warnings_log.install()
    args = parse_args(argv)
    if args.rewrite:
        path = Path(args.rewrite)
        out = path.with_suffix(".md")
        out.write_text(markdown(json.loads(path.read_text())))
        print(f"bench: wrote {out}")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools, tool_notes = machine.find_tools(install=not args.no_install)
    if "ab" not in tools:
        print("bench: cannot measure without ab: " + machine.HOW_TO_GET["ab"], file=sys.stderr)
        return 2
    nofile = machine.raise_nofile()
    notes = [n for n in tool_notes if n.startswith("ab ")]
    if nofile[0] < 2100:
        notes.append(f"open-file limit is {nofile[0]}: -c 1000 needs about 2000 "
                     "(ab and each server); raise the hard limit (ulimit -Hn)")
    tmp = Path(tempfile.mkdtemp(prefix="mcb-bench-plugin-"))
    ctx = modes.Context(tools, tmp, args.workers)
    date = datetime.date.today().isoformat()
    stem = (f"{date}-{socket.gethostname()}" + ("-quick" if args.quick else "")
            + (f"-{args.tag}" if args.tag else ""))
    meta = {"date": date, "started": _now(), "quick": args.quick, "argv": sys.argv,
            "machine": machine.machine(), "versions": machine.versions(tools),
            "source": machine.source_state(REPO), "notes": notes, "scratch_dir": str(tmp)}
    try:
        run(args, ctx, tools, Path(args.out), stem, meta)
    finally:
        machine.drop_scratch(tmp, args.keep_tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
