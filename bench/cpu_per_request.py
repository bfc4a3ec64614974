"""CPU time of one worker per request, each server backend side by side.

Throughput on a shared machine moves with the neighbours; the CPU a worker
spends per request moves much less. One broker worker is pinned to one core
and ab (and the plugin, bench/slow_plugin.py with no delay) to the other;
the worker's utime+stime over an ab run, divided by the requests, is the
figure. Rounds interleave the backends. Needs taskset, ab and two cores.

Usage: python -m bench.cpu_per_request [--rounds 5] [-n 12000] [-c 50] [-k]
       [--framework pecan]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.modes import BACKENDS, FORWARD, VIM_TYPES
from bench.procs import free_port

REPO = Path(__file__).resolve().parent.parent
PATHS = {"vim_types": VIM_TYPES, "forwarded call": FORWARD}


def _answers(port: int, path: str) -> None:
    for _ in range(400):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answers on port {port}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ab(args: argparse.Namespace, url: str, requests: int) -> str:
    command = ["taskset", "-c", "0", "ab", "-q", "-n", str(requests), "-c", str(args.c)]
    return subprocess.run(command + (["-k"] if args.k else []) + [url],
                          capture_output=True, text=True, timeout=600).stdout


def _config(tmp: Path, plugin_port: int) -> Path:
    conf = tmp / "broker.ini"
    conf.write_text(f"[DEFAULT]\nbind_host = 127.0.0.1\nworkers = 1\n"
                    f"access_log = {tmp / 'access.log'}\n"
                    f"[inventory]\nbackend = sqlite\nsqlite_path = {tmp / 'inv.sqlite'}\n"
                    f"[plugins]\nendpoints = multicloud-ocata:http://127.0.0.1:{plugin_port}\n")
    subprocess.run([sys.executable, "-m", "multicloud_broker", "region", "add",
                    "--config-file", str(conf), "--cloud-owner", "bench",
                    "--cloud-region-id", "RegionOne", "--cloud-type", "openstack",
                    "--cloud-region-version", "ocata"], check=True, capture_output=True)
    return conf


def _round(args: argparse.Namespace, conf: Path, backend: str,
           results: dict[tuple[str, str], list[float]]) -> None:
    port = free_port()
    broker = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-m", "multicloud_broker", "serve",
         "--config-file", str(conf), "--web-framework", args.framework,
         "--server-backend", backend, "--bind-port", str(port)],
        cwd=conf.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _answers(port, VIM_TYPES)
        for name, path in PATHS.items():
            url = f"http://127.0.0.1:{port}{path}"
            _ab(args, url, 500)  # warm-up
            before = _cpu_seconds(broker.pid)
            out = _ab(args, url, args.n)
            per_request = (_cpu_seconds(broker.pid) - before) / args.n * 1e6
            failed = next((line.split()[-1] for line in out.splitlines()
                           if line.startswith("Failed requests")), "?")
            results.setdefault((backend, name), []).append(per_request)
            print(f"{backend:9} {name:15} {per_request:5.0f} µs/request  failed {failed}",
                  flush=True)
    finally:
        broker.terminate()
        broker.wait(30)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu_per_request")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=12000, help="requests per measured run")
    parser.add_argument("-c", type=int, default=50, help="ab's concurrency")
    parser.add_argument("-k", action="store_true", help="ab -k (kept-alive connections)")
    parser.add_argument("--framework", default="pecan", choices=("django", "pecan"))
    args = parser.parse_args(argv)
    results: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="mcb-cpu-") as scratch:
        tmp = Path(scratch)
        plugin_port = free_port()
        plugin = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "bench.slow_plugin",
             "--port", str(plugin_port), "--delay-ms", "0"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _answers(plugin_port, "/")
            conf = _config(tmp, plugin_port)
            for _ in range(args.rounds):
                for backend in BACKENDS:
                    _round(args, conf, backend, results)
        finally:
            plugin.terminate()
            plugin.wait(30)
    print("medians, µs of CPU per request:")
    for name in PATHS:
        medians = {b: statistics.median(results[(b, name)]) for b in BACKENDS}
        shown = ", ".join(f"{b} {m:.0f}" for b, m in medians.items())
        print(f"  {name}: {shown}; gevent/eventlet {medians['gevent'] / medians['eventlet']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
