"""`python -m bench.run`: the spec's ApacheBench comparison, on this machine, now.

For each level (ab -n 100 -c 1, -n 10000 -c 100, -n 100000 -c 1000) and
each repeat, every mode is started fresh, warmed up, measured once and
stopped by PID, round-robin over the modes so that drift on the machine
spreads evenly. Results go to bench/results/<date>-<host>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench import machine, modes, report
from bench import plugin as plugin_section
from bench import volte as volte_section
from bench.ab import run_ab
from bench.procs import StartError, descendants, wait_http
from multicloud_broker import warnings_log

# Importing the broker's config (for the vim_types bytes) imports eventlet.
warnings_log.install()

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
LEVELS = {1: 100, 100: 10_000, 1000: 100_000}  # concurrency -> requests (the spec's)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="10x fewer requests per level, to check the harness (~5 min)")
    p.add_argument("--levels", default="1,100,1000",
                   help="concurrency levels to run, from 1,100,1000 (default: all)")
    p.add_argument("--sections", default="vim_types,forward,slow",
                   help="any of vim_types, forward, slow, resilience, plugin, volte (default: the "
                        "first three; resilience holds 15,000 connections, ~3 min; plugin "
                        "runs Keystone, the OpenStack simulator, the plugin and the broker, "
                        "~10 min, see bench/plugin.py)")
    p.add_argument("--resilience-seconds", type=float, default=35,
                   help="time under attack per framework in section resilience, after "
                        "the ramp (ramp + this < keepalive_timeout, or the idle ones go)")
    p.add_argument("--resilience-ramp", type=float, default=20,
                   help="seconds over which the slowloris connections are opened "
                        "(0: all at once, so that they are all cut at once)")
    p.add_argument("--modes", default="",
                   help="only these modes (comma-separated names, e.g. pecan,eventlet-bare)")
    p.add_argument("--requests", type=int, default=0,
                   help="requests per ab run at every level of vim_types and forward "
                        "(default: the spec's, 100 / 10,000 / 100,000), to bound a sitting "
                        "on a shared machine")
    p.add_argument("--max-connections-per-plugin", type=int, default=0,
                   help="[plugins] max_connections_per_plugin of the sqlite brokers in "
                        "forward and slow, before modes too (default: their own); lower "
                        "than the calls in flight per worker, it makes calls queue")
    p.add_argument("--repeats", type=int, default=1,
                   help="measurements per mode and level, interleaved (default 1)")
    p.add_argument("--workers", type=int, default=0,
                   help="processes per server (default: the CPUs this process may use)")
    p.add_argument("--keepalive", action="store_true",
                   help="ab -k (NOT the spec's way: the spec opens a connection per request)")
    p.add_argument("--recv-errors-ok", action="store_true",
                   help="ab -r: count receive errors as failures instead of aborting")
    p.add_argument("--time-limit", type=float, default=0,
                   help="bound of one ab run in seconds (default 300, quick 60)")
    p.add_argument("--uwsgi-listen", type=int, default=0,
                   help="uWSGI's --listen backlog (default: uWSGI's own, 100, as the spec ran it)")
    p.add_argument("--slow-delay-ms", type=float, default=50,
                   help="the slow plugin's delay per answer (section slow; default 50)")
    p.add_argument("--slow-requests", type=int, default=2000,
                   help="requests per run in section slow, at least 10 per connection "
                        "(default 2000; uWSGI with 2 processes and 50 ms takes ~50 s for them)")
    p.add_argument("--profile", action="store_true",
                   help="also py-spy one worker of each of our modes under ab -c 100")
    p.add_argument("--profile-only", action="store_true",
                   help="only the profile (implies --profile)")
    p.add_argument("--profile-seconds", type=float, default=15)
    p.add_argument("--no-install", action="store_true",
                   help="never apt-get install ab or nginx, even as root")
    p.add_argument("--out", default=str(RESULTS), help="results directory")
    p.add_argument("--tag", default="",
                   help="suffix of the result files' names (<date>-<host>[-quick][-TAG])")
    p.add_argument("--rewrite", metavar="JSON",
                   help="only rewrite the .md and .png of an earlier results .json")
    p.add_argument("--keep-tmp", action="store_true",
                   help="keep the scratch directory (configs, server logs)")
    p.add_argument("--baseline-src", metavar="DIR", default="",
                   help="another checkout of the broker (e.g. a git worktree): adds modes "
                        "django-before, pecan-before (vim_types) and django-sqlite-before, "
                        "pecan-sqlite-before (forward) running DIR/src with this venv")
    p.add_argument("--scrape", action="store_true",
                   help="GET /metrics once a second during every measured run of our "
                        "modes (not the -before ones); count and latency recorded")
    p.add_argument("--stdout-pipe", action="store_true",
                   help="our brokers log access lines to stdout, a pipe the harness "
                        "drains (as in a container), instead of to a file")
    plugin_section.add_options(p, prefix="plugin-")  # --plugin-levels, --plugin-combos...
    volte_section.add_options(p, prefix="volte-")  # --volte-flows, --volte-combo
    args = p.parse_args(argv)
    plugin_section.finish_args(p, args)
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    unknown = [c for c in args.levels if c not in LEVELS]
    if unknown:
        p.error(f"--levels: unknown level(s) {unknown}; choose from {sorted(LEVELS)}")
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    args.modes = {m.strip() for m in args.modes.split(",") if m.strip()}
    if args.profile_only:
        args.profile, args.sections = True, []
    args.time_limit = args.time_limit or (60 if args.quick else 300)
    return args


class Bench:
    """One sitting: the runs, in order, and the results they produce."""

    def __init__(self, args: argparse.Namespace, tools: dict[str, str], tmp: Path):
        self.args = args
        self.tools = tools
        self.tmp = tmp
        self.scale = 10 if args.quick else 1
        self.warm = 200 if args.quick else 1000
        self.runs: list[dict] = []

    def requests(self, conc: int) -> int:
        # ab's -e percentiles are wrong below 100 requests.
        return max(100, conc, self.args.requests or LEVELS[conc] // self.scale)

    def section(self, name: str, mode_list: list[modes.Mode],
                levels: list[int] | None = None,
                requests: dict[int, int] | None = None) -> None:
        """Round-robin over modes, per level and repeat."""
        if self.args.modes:
            mode_list = [m for m in mode_list if m.name in self.args.modes or m.baseline]
        for conc in self.args.levels if levels is None else levels:
            for rep in range(self.args.repeats):
                for mode in mode_list:
                    self.runs.append(self.measure(name, mode, conc, rep,
                                                  (requests or {}).get(conc, 0)))

    def measure(self, section: str, mode: modes.Mode, conc: int, rep: int,
                requests: int = 0) -> dict:
        n = requests or self.requests(conc)
        record = {"section": section, "mode": mode.name, "label": mode.label,
                  "ours": mode.ours, "baseline": mode.baseline, "concurrency": conc,
                  "requests": n, "repeat": rep, "started": _now(), "ab": None, "error": ""}
        print(f"bench: {section:9} {mode.name:18} ab -n {n} -c {conc} (repeat {rep + 1})",
              flush=True)
        running = None
        try:
            running = mode.start()
            for proc in running.procs:
                wait_http(proc, running.port, running.path, headers=running.headers)
            time.sleep(1.0)  # every worker past its start-up, not only the first
            warm = self.tmp / "warm.csv"
            run_ab(self.tools["ab"], running.url, self.warm, min(100, self.warm),
                   warm, 60, headers=running.headers)
            csv = self.tmp / f"{section}-{mode.name}-c{conc}-r{rep}.csv"
            ours = self._our_pids()
            scraper = (Scraper(running.port, running.metrics)
                       if self.args.scrape and running.metrics else None)
            before = machine.cpu_ticks()
            if scraper:
                scraper.start()
            try:
                result = run_ab(self.tools["ab"], running.url, n, conc, csv,
                                self.args.time_limit, keepalive=self.args.keepalive,
                                recv_errors_ok=self.args.recv_errors_ok,
                                headers=running.headers)
            finally:
                if scraper:
                    record["scrape"] = scraper.finish()
            record["ab"] = result.as_dict()
            ours |= self._our_pids()
            other = machine.foreign_cpu_seconds(before, machine.cpu_ticks(), ours)
            record["other_cpu_s"] = round(other, 2)
            record["other_cpu_share"] = round(
                other / max(result.wall_s, 0.001) / (os.cpu_count() or 1), 3)
            print(f"bench:   {result.time_taken_s or 0:8.3f} s  {result.rps or 0:9.1f} req/s  "
                  f"failed {result.failed}  non-2xx {result.non_2xx}  "
                  f"never done {result.not_done}  p50 {result.latency_ms.get('50', '-')} ms  "
                  f"ab CPU {result.ab_cpu_s / max(result.wall_s, 0.001):.0%}"
                  + (f"  [{result.aborted}]" if result.aborted else ""), flush=True)
            if scraper:
                sc = record["scrape"]
                print(f"bench:   scraped /metrics {sc['count']} times, failed {sc['failed']}, "
                      f"median {sc['median_ms']} ms, max {sc['max_ms']} ms", flush=True)
            if record["other_cpu_share"] > 0.05:
                print(f"bench:   note: other processes used {record['other_cpu_share']:.0%} "
                      "of the machine during this run", flush=True)
        except StartError as exc:
            record["error"] = str(exc)
            print(f"bench:   NOT RUN: {str(exc).splitlines()[0]}", flush=True)
        finally:
            if running is not None:
                running.stop()
                record["server_log"] = {}
                for proc in running.procs:
                    record["server_log"].update(proc.log_counts())
                piped = [p for p in running.procs if p.piped]
                if piped:
                    # Access lines that reached the pipe: warm-up, probes and the run.
                    record["stdout_lines"] = sum(p.stdout_lines for p in piped)
                    print(f"bench:   stdout pipe: {record['stdout_lines']} lines read",
                          flush=True)
                for message, count in sorted(record["server_log"].items(),
                                             key=lambda kv: -kv[1])[:3]:
                    print(f"bench:   server log: {count} x {message}", flush=True)
        return record


    @staticmethod
    def _our_pids() -> set[int]:
        return {os.getpid(), *descendants(os.getpid())}


class Scraper:
    """GET a /metrics path once a second from a thread, as Prometheus would."""

    def __init__(self, port: int, path: str):
        import threading
        self.port, self.path = port, path
        self.latencies_ms: list[float] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scraper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        import http.client
        while not self._stop.wait(1.0):
            started = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200 or b"# TYPE" not in body:
                    self.failed.append(f"HTTP {resp.status}")
                    continue
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
            except OSError as exc:
                self.failed.append(type(exc).__name__)
            finally:
                conn.close()

    def finish(self) -> dict:
        import statistics
        self._stop.set()
        self._thread.join(15)
        lat = self.latencies_ms
        return {"count": len(lat), "failed": len(self.failed), "failures": self.failed[:5],
                "median_ms": round(statistics.median(lat), 1) if lat else None,
                "max_ms": round(max(lat), 1) if lat else None}


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rewrite:
        return rewrite(Path(args.rewrite))
    # A SIGTERM to the harness must still run the finally blocks that stop servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools, notes = machine.find_tools(install=not args.no_install)
    for note in notes:
        print(f"bench: {note}", file=sys.stderr)
    if "ab" not in tools:
        print("bench: cannot measure without ab", file=sys.stderr)
        return 2
    nofile = machine.raise_nofile()
    workers = args.workers or machine.usable_cpus()
    if nofile[0] < 2100:
        notes.append(f"open-file limit is {nofile[0]}: -c 1000 needs about 2000 "
                     "(ab and each server); raise the hard limit (ulimit -Hn)")
    tmp = Path(tempfile.mkdtemp(prefix="mcb-bench-"))
    ctx = modes.Context(tools, tmp, workers)
    ctx.uwsgi_listen = args.uwsgi_listen
    ctx.stdout_pipe = args.stdout_pipe
    ctx.plugin_connections = args.max_connections_per_plugin
    if args.max_connections_per_plugin:
        notes.append(f"[plugins] max_connections_per_plugin {args.max_connections_per_plugin}"
                     " in the sqlite brokers of forward and slow")
    if args.stdout_pipe:
        notes.append("--stdout-pipe: our brokers (and the -before ones) had no access_log "
                      "option: access lines went to stdout, a pipe drained by a thread of "
                      "the harness (as `cat > /dev/null` in a container)")
    if args.scrape:
        notes.append("--scrape: GET /metrics once a second during every measured run "
                     "of our current modes (the -before code has no /metrics)")
    if args.baseline_src:
        src = Path(args.baseline_src).resolve()
        ctx.baseline_src = str(src / "src")
        ctx.baseline_commit = machine.source_state(src).get("commit", "?")[:7]
        where = ctx.check_baseline()
        notes.append(f"-before modes: the broker at {ctx.baseline_commit} from {src} "
                     f"(this venv, PYTHONPATH={ctx.baseline_src}; imports {where})")
    bench = Bench(args, tools, tmp)
    date = datetime.date.today().isoformat()
    stem = (f"{date}-{socket.gethostname()}" + ("-quick" if args.quick else "")
            + (f"-{args.tag}" if args.tag else ""))
    meta = {"date": date, "started": _now(), "quick": args.quick, "argv": sys.argv,
            "workers": workers, "repeats": args.repeats, "keepalive": args.keepalive,
            "levels": {c: bench.requests(c) for c in args.levels},
            "paths": {"vim_types": modes.VIM_TYPES, "forward": modes.FORWARD,
                      "slow": modes.FORWARD},
            "machine": machine.machine(), "versions": machine.versions(tools),
            "source": machine.source_state(REPO),
            "baseline_source": (machine.source_state(Path(args.baseline_src))
                                if args.baseline_src else None),
            "notes": notes, "scratch_dir": str(tmp)}
    results = {"meta": meta, "runs": bench.runs}
    out_dir = Path(args.out)
    try:
        if "vim_types" in args.sections:
            bench.section("vim_types", modes.vim_types_modes(ctx))
        if "forward" in args.sections:
            forward(bench, ctx, notes)
        if "slow" in args.sections:
            slow(bench, ctx)
        if "resilience" in args.sections:
            from bench import resilience
            resilience.run(ctx, out_dir, stem, seconds=args.resilience_seconds,
                           ramp=args.resilience_ramp, meta=meta)
        if "plugin" in args.sections:
            plugin_section.run(args, ctx, tools, out_dir, stem, meta)
        if "volte" in args.sections:  # demo volte on the plugin's chain, see bench/volte.py
            volte_section.run(args, ctx, tools, out_dir, stem, meta)
        if args.profile:
            profile(args, tools, ctx, out_dir, stem, meta)
    except KeyboardInterrupt:
        notes.append("interrupted: results are partial")
    finally:
        meta["finished"] = _now()
        meta["source_at_end"] = machine.source_state(REPO)
        if not machine.same_broker(meta["source"], meta["source_at_end"]):
            notes.append("the broker's code changed during this run (see source and "
                         "source_at_end in the JSON): rows may mix versions")
        if bench.runs:
            for path in report.write_all(results, out_dir, stem):
                print(f"bench: wrote {path}")
        machine.drop_scratch(tmp, args.keep_tmp)
    return 0


def rewrite(path: Path) -> int:
    """Markdown and chart again from a results file (e.g. after changing report.py)."""
    import json
    results = json.loads(path.read_text())
    for written in report.write_all(results, path.parent, path.stem):
        print(f"bench: wrote {written}")
    return 0


def forward(bench: Bench, ctx: modes.Context, notes: list[str]) -> None:
    if "nginx" not in ctx.tools:
        notes.append("forwarding not measured: nginx (the upstream) is missing")
        return
    up = modes.Upstreams(ctx)
    try:
        up.start()
        bench.section("forward", modes.forward_modes(ctx, up))
    finally:
        up.stop()


def slow(bench: Bench, ctx: modes.Context) -> None:
    """Where eventlet earns its keep: requests that wait on a plugin. A worker
    process per core (uWSGI) serves one at a time; a green-thread worker
    serves hundreds. At -c 1 both only pass the delay on, so it is skipped."""
    plugin = modes.SlowPlugin(ctx, bench.args.slow_delay_ms)
    levels = [c for c in bench.args.levels if c > 1]
    # At least ten rounds of every connection, so that start-up is not all we see.
    requests = {c: max(bench.args.slow_requests, 10 * c) // bench.scale for c in levels}
    try:
        plugin.start()
        bench.section("slow", modes.slow_modes(ctx, plugin), levels, requests)
    finally:
        plugin.stop()


def profile(args: argparse.Namespace, tools: dict[str, str], ctx: modes.Context,
            out_dir: Path, stem: str, meta: dict) -> None:
    from bench.profile import run_profiles
    if "py-spy" not in tools:
        meta["notes"].append("profile not taken: " + machine.HOW_TO_GET["py-spy"])
        return
    chosen = [m for m in modes.vim_types_modes(ctx) if m.ours]
    up = modes.Upstreams(ctx)
    try:
        if "nginx" in tools:
            up.start()
            chosen += [m for m in modes.forward_modes(ctx, up)
                       if m.name.endswith("-aai")]
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{stem}-profile.txt"
        header = [f"py-spy profile, {meta['machine']['host']}, {meta['date']}, "
                  f"{ctx.workers} workers per server, versions: {meta['versions']}"]
        run_profiles(chosen, tools, ctx.tmp, path, args.profile_seconds,
                     200 if args.quick else 1000, header)
        meta["profile_file"] = path.name
        print(f"bench: wrote {path}")
    finally:
        up.stop()


if __name__ == "__main__":
    sys.exit(main())
