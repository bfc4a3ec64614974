"""CPU per call of the OpenStack plugin's worker beside the broker's, for one
network list forwarded by the broker to the plugin (issue 19: the plugin may
spend no more per call than the broker).

    python -m bench.plugin_cpu [--rounds 3] [-n 2000] [-c 10] [--frameworks pecan,django]
                               [--baseline-src DIR] [--cpu 1] [--broker-cpu N] [--driver-cpu 0] [-k]
                               [--networks N] [--backend eventlet|gevent]
                               [--profile S --py-spy PATH] [--json FILE]

Keystone, the OpenStack simulator and the region come from bench/plugin.py
(Cloud); each framework gets a plugin and a broker (bench/plugin.py's Pair),
one worker each, eventlet, both pinned to `--cpu` with taskset (the broker
to `--broker-cpu` if given). This process,
and so ab, the simulator and Keystone, runs on `--driver-cpu`. Each round
runs `ab -n N -c C` on `GET /api/multicloud/v0/{vimid}/{tenant}/networks`
through the broker, for every pair in turn, and reads each part's utime+stime
(every process of its session: the bootstrap idles) from /proc before and
after. CPU time moves much less with the neighbours than throughput does;
interleaving the pairs puts the machine's drift on all of them alike.

With --baseline-src DIR (another checkout's tree, e.g. `git archive HEAD src
| tar -x -C DIR`), each framework also gets a pair running DIR's code on
the same Keystone, simulator and inventory: before and after in one sitting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import machine, modes
from bench.ab import run_ab
from bench.plugin import Cloud, Pair, _warm, broker_list

CLK_TCK = os.sysconf("SC_CLK_TCK")


class PinnedContext(modes.Context):
    """modes.Context whose `multicloud-broker` runs (plugin, broker, region
    add) are pinned to one CPU."""

    def __init__(self, tools: dict[str, str], tmp: Path, cpu: int):
        super().__init__(tools, tmp, workers=1)
        self.cpu = cpu

    def broker_cli(self) -> list[str]:
        return ["taskset", "-c", str(self.cpu), *super().broker_cli()]


@contextlib.contextmanager
def _pythonpath(src: str) -> Iterator[None]:
    """Processes started meanwhile import the broker from `src` (Pair takes
    its environment from os.environ, through modes._env)."""
    if not src:
        yield
        return
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = src
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def _ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def measure(pair: Pair, args: argparse.Namespace, tools: dict[str, str], tmp: Path,
            tenant: str) -> dict:
    """One ab run through the pair's broker; each part's CPU ms per call."""
    parts = pair.procs()
    before = {part: _ticks(pids) for part, pids in parts.items()}
    everyone = machine.cpu_ticks()
    result = run_ab(tools["ab"], f"http://127.0.0.1:{pair.broker_port}{broker_list(tenant)}",
                    args.n, args.c, tmp / "ab.csv", args.time_limit, keepalive=args.k)
    after_all = machine.cpu_ticks()
    ours = {os.getpid(), *(p for pids in parts.values() for p in pids)}
    done = max(1, result.complete)
    ms = {part: (_ticks(pids) - before[part]) / CLK_TCK * 1000 / done
          for part, pids in parts.items()}
    other = machine.foreign_cpu_seconds(everyone, after_all, ours)
    return {"plugin_ms": round(ms.get("plugin", 0.0), 3),
            "broker_ms": round(ms.get("broker", 0.0), 3),
            "ratio": round(ms.get("plugin", 0.0) / max(ms.get("broker", 0.0), 1e-9), 3),
            "rps": result.rps, "complete": result.complete, "bad": result.bad,
            "other_cpu_share": round(other / max(result.wall_s, 0.001)
                                     / (os.cpu_count() or 1), 3)}


def _busiest(pids: list[int]) -> int:
    """The worker: the process of the session that used the most CPU."""
    return max(pids, key=lambda pid: _ticks([pid]))


def profile(pair: Pair, args: argparse.Namespace, tools: dict[str, str], tmp: Path,
            tenant: str) -> list[str]:
    """py-spy on both workers at once while ab runs through the broker."""
    if not args.py_spy:
        return ["no py-spy: give --py-spy PATH"]
    url = f"http://127.0.0.1:{pair.broker_port}{broker_list(tenant)}"
    load = subprocess.Popen([tools["ab"], "-t", str(int(args.profile) + 10), "-n", "10000000",
                             "-c", str(args.c), url], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    lines = []
    try:
        time.sleep(1)
        spies = {}
        for part, pids in pair.procs().items():
            raw = tmp / f"profile-{part}.raw"
            spies[part] = (raw, subprocess.Popen(
                [args.py_spy, "record", "--pid", str(_busiest(pids)), "--duration",
                 str(int(args.profile)), "--rate", "500", "--format", "raw", "--function",
                 "--nonblocking", "--output", str(raw)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for part, (raw, spy) in spies.items():
            spy.wait(args.profile + 60)
            lines += ["", f"== {part} worker ==", *profile_summary(raw)]
    finally:
        load.terminate()  # our own ab, by its handle
        load.wait(10)
    return lines


def profile_summary(raw: Path) -> list[str]:
    from bench.profile import parse_raw, summary as spy_summary
    if not raw.exists():
        return ["py-spy wrote nothing"]
    return spy_summary(*parse_raw(raw), top=30)


def summary(runs: dict[str, list[dict]]) -> list[str]:
    lines = ["medians over rounds (CPU ms per call; ratio = plugin / broker, per round):"]
    for label, rows in runs.items():
        med = {k: statistics.median(r[k] for r in rows) for k in ("plugin_ms", "broker_ms",
                                                                   "ratio")}
        ratios = ", ".join(f"{r['ratio']:.2f}" for r in rows)
        lines.append(f"  {label:16} plugin {med['plugin_ms']:.3f}  broker "
                     f"{med['broker_ms']:.3f}  ratio {med['ratio']:.2f}  (rounds: {ratios})")
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.plugin_cpu",
                                description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-n", type=int, default=2000, help="requests per measured run")
    p.add_argument("-c", type=int, default=10, help="ab's concurrency")
    p.add_argument("-k", action="store_true", help="ab -k (kept-alive client connections)")
    p.add_argument("--frameworks", default="pecan,django")
    p.add_argument("--networks", type=int, default=0,
                   help="networks added to the tenant first (the list has 2 without)")
    p.add_argument("--backend", default="eventlet", choices=modes.BACKENDS)
    p.add_argument("--cpu", type=int, default=1, help="CPU of the plugin and the broker")
    p.add_argument("--broker-cpu", type=int, default=None,
                   help="the broker's CPU instead (default: --cpu)")
    p.add_argument("--driver-cpu", type=int, default=0,
                   help="CPU of this process, ab, the simulator and Keystone")
    p.add_argument("--baseline-src", default="",
                   help="another tree's src/ parent: its code runs beside ours")
    p.add_argument("--time-limit", type=float, default=120, help="bound of one ab run, s")
    p.add_argument("--json", default="", help="also write every round's figures here")
    p.add_argument("--profile", type=float, default=0, metavar="S",
                   help="then py-spy on the first pair's plugin and broker workers for S s "
                        "(self and inclusive time, bench/profile.py's summary)")
    p.add_argument("--py-spy", default=shutil.which("py-spy") or "", help="py-spy's path")
    p.add_argument("--keep-tmp", action="store_true")
    p.add_argument("--no-install", action="store_true", help="never apt-get install ab")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools, _ = machine.find_tools(install=not args.no_install)
    if "ab" not in tools or not shutil.which("taskset"):
        print("bench: needs ab and taskset: " + machine.HOW_TO_GET["ab"], file=sys.stderr)
        return 2
    machine.raise_nofile()
    os.sched_setaffinity(0, {args.driver_cpu})  # inherited by ab, the simulator, Keystone
    baseline = str(Path(args.baseline_src, "src").resolve()) if args.baseline_src else ""
    tmp = Path(tempfile.mkdtemp(prefix="mcb-bench-plugin-cpu-"))
    ctx = PinnedContext(tools, tmp, args.cpu)
    cloud = Cloud(ctx)
    pairs: dict[str, Pair] = {}
    runs: dict[str, list[dict]] = {}
    try:
        cloud.start()
        if args.networks:  # straight in the simulator, past Neutron's default quota
            cloud.sim_call("PUT", f"/network/v2.0/quotas/{cloud.tenant}",
                           {"quota": {"network": -1}})
        for i in range(args.networks):
            cloud.sim_call("POST", "/network/v2.0/networks",
                           {"network": {"name": f"bench-list-{i}", "shared": False}})
        for framework in args.frameworks.split(","):
            for tag, src in (("", ""), ("-before", baseline)):
                if tag and not src:
                    continue
                pair = pairs[framework + tag] = Pair(ctx, cloud, framework, args.backend)
                with _pythonpath(src):
                    pair.start()
                if args.broker_cpu is not None:  # every thread of its processes
                    for pid in pair.procs()["broker"]:
                        subprocess.run(["taskset", "-a", "-p", "-c", str(args.broker_cpu),
                                        str(pid)], check=True, stdout=subprocess.DEVNULL)
                _warm(tools, tmp, pair.broker_port, broker_list(cloud.tenant))
        print(f"bench: load average {os.getloadavg()}", flush=True)
        for round_no in range(1, args.rounds + 1):
            for label, pair in pairs.items():
                row = measure(pair, args, tools, tmp, cloud.tenant)
                runs.setdefault(label, []).append(row)
                print(f"round {round_no} {label:16} plugin {row['plugin_ms']:.3f} ms  broker "
                      f"{row['broker_ms']:.3f} ms  ratio {row['ratio']:.2f}  "
                      f"{row['rps'] or 0:.0f} req/s  bad {row['bad']}  other CPU "
                      f"{row['other_cpu_share']:.0%}", flush=True)
        print(f"bench: load average {os.getloadavg()}", flush=True)
        print("\n".join(summary(runs)))
        if args.profile and pairs:
            print("\n".join(profile(next(iter(pairs.values())), args, tools, tmp,
                                   cloud.tenant)))
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"argv": sys.argv, "date": time.strftime("%Y-%m-%d %H:%M"),
                 "source": machine.source_state(modes.REPO), "runs": runs}, indent=1))
    finally:
        for pair in pairs.values():
            pair.stop()
        cloud.stop()
        machine.drop_scratch(tmp, args.keep_tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
