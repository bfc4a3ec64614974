"""`python -m bench.port_cycle`: create a port, delete it, again and again.

ab sends one request over and over; a create+delete cycle needs the id the
POST answered, so this is a small load driver of its own: CONCURRENCY
threads, each with one kept-alive HTTP/1.1 connection (http.client; with
--no-keepalive a new one per call) to 127.0.0.1, take cycles from a shared
count until CYCLES are done (or --time-limit passes). A cycle is

    POST {base}/ports {"name": "<unique>", "networkId": NET}  -> 200/201/202 with an "id"
    DELETE {base}/ports/{id}                                  -> 204 (or 200/202)

Anything else is a failure, counted by kind (`POST HTTP 503`, `DELETE
ConnectionResetError`...); a failed POST skips its DELETE. Every call is
bounded by --timeout; a connection that failed is replaced. Latencies are
per call (POST and DELETE apart) and per cycle, in ms.

Prints one JSON document on stdout: calls/s, cycles/s, failures, the
ports a failed DELETE may have left, percentiles.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

OK_CREATE = (200, 201, 202)
OK_DELETE = (200, 202, 204)
PERCENTILES = (50, 90, 99, 100)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.port_cycle",
                                description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True,
                   help="http://127.0.0.1:PORT/api/multicloud/v0/VIMID/TENANT (the ports' parent)")
    p.add_argument("--network", required=True, help="networkId of every port")
    p.add_argument("--cycles", type=int, default=1000, help="create+delete cycles in all")
    p.add_argument("--concurrency", type=int, default=10, help="threads (connections)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    p.add_argument("--time-limit", type=float, default=300.0,
                   help="stop taking new cycles after this many seconds")
    p.add_argument("--prefix", default="bench-port", help="port names' prefix")
    p.add_argument("--no-keepalive", action="store_true",
                   help="a new connection per call (for servers that close kept-alive "
                        "connections without saying so)")
    args = p.parse_args(argv)
    if not args.base.startswith("http://127.0.0.1:"):
        p.error("--base: loopback only (http://127.0.0.1:PORT/...)")
    return args


class Driver:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        split = urlsplit(args.base)
        self.port = split.port
        self.path = split.path.rstrip("/") + "/ports"
        self.lock = threading.Lock()
        self.taken = 0
        self.deadline = 0.0
        self.post_ms: list[float] = []
        self.delete_ms: list[float] = []
        self.cycle_ms: list[float] = []
        self.failures: dict[str, int] = {}
        self.samples: dict[str, str] = {}  # the first answer (or error) of each kind
        self.cycles_ok = 0
        self.left_behind = 0  # created, then the DELETE failed
        self.connections = 0  # opened in all (1 per thread unless some failed)
        self.start_gate = threading.Barrier(args.concurrency + 1)

    def take(self) -> bool:
        with self.lock:
            if self.taken >= self.args.cycles or time.monotonic() > self.deadline:
                return False
            self.taken += 1
            return True

    def _connect(self) -> http.client.HTTPConnection:
        with self.lock:
            self.connections += 1
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.args.timeout)

    def _fail(self, kind: str, sample: object = b"") -> None:
        with self.lock:
            self.failures[kind] = self.failures.get(kind, 0) + 1
            if kind not in self.samples:
                text = sample.decode(errors="replace") if isinstance(sample, bytes) else str(sample)
                self.samples[kind] = text[:300]

    def _call(self, conn: http.client.HTTPConnection, method: str, path: str,
              body: bytes | None) -> tuple[int, bytes, float]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        if resp.will_close or self.args.no_keepalive:
            conn.close()  # http.client reopens on the next request
        return resp.status, data, (time.perf_counter() - started) * 1000

    def worker(self) -> None:
        conn = self._connect()
        posts, deletes, cycles = [], [], []
        ok = left = 0
        self.start_gate.wait(timeout=120)
        try:
            while self.take():
                began = time.perf_counter()
                name = f"{self.args.prefix}-{uuid.uuid4().hex[:12]}"
                body = json.dumps({"name": name, "networkId": self.args.network}).encode()
                try:
                    status, data, ms = self._call(conn, "POST", self.path, body)
                except (OSError, http.client.HTTPException) as exc:
                    self._fail(f"POST {type(exc).__name__}", exc)
                    conn.close()
                    conn = self._connect()
                    continue
                port_id = None
                if status in OK_CREATE:
                    try:
                        port_id = json.loads(data).get("id")
                    except ValueError:
                        pass
                if not port_id:
                    self._fail(f"POST HTTP {status}" + ("" if status not in OK_CREATE
                                                        else " without an id"), data)
                    continue
                posts.append(ms)
                try:
                    status, answer, ms = self._call(conn, "DELETE", f"{self.path}/{port_id}", None)
                except (OSError, http.client.HTTPException) as exc:
                    self._fail(f"DELETE {type(exc).__name__}", exc)
                    left += 1
                    conn.close()
                    conn = self._connect()
                    continue
                if status not in OK_DELETE:
                    self._fail(f"DELETE HTTP {status}", answer)
                    left += 1
                    continue
                deletes.append(ms)
                cycles.append((time.perf_counter() - began) * 1000)
                ok += 1
        finally:
            conn.close()
            with self.lock:
                self.post_ms += posts
                self.delete_ms += deletes
                self.cycle_ms += cycles
                self.cycles_ok += ok
                self.left_behind += left

    def run(self) -> dict:
        threading.stack_size(512 * 1024)  # 1000 threads: keep the address space modest
        threads = [threading.Thread(target=self.worker, name=f"cycle-{i}", daemon=True)
                   for i in range(self.args.concurrency)]
        for thread in threads:
            thread.start()
        self.deadline = time.monotonic() + self.args.time_limit
        started = time.perf_counter()
        self.start_gate.wait(timeout=120)
        for thread in threads:
            # Every call is bounded by --timeout, each thread by the deadline.
            thread.join(self.args.time_limit + 3 * self.args.timeout + 10)
        wall = time.perf_counter() - started
        hung = sum(t.is_alive() for t in threads)
        calls_ok = len(self.post_ms) + len(self.delete_ms)
        failed = sum(self.failures.values())
        return {
            "cycles_asked": self.args.cycles, "concurrency": self.args.concurrency,
            "cycles_started": self.taken, "cycles_ok": self.cycles_ok,
            "calls_ok": calls_ok, "calls_failed": failed, "failures": self.failures,
            "failure_samples": self.samples,
            "ports_left_behind": self.left_behind, "threads_still_running": hung,
            "connections_opened": self.connections, "keepalive": not self.args.no_keepalive,
            "wall_s": round(wall, 3),
            "cycles_per_s": round(self.cycles_ok / wall, 1) if wall else None,
            "calls_per_s": round(calls_ok / wall, 1) if wall else None,
            "post_ms": percentiles(self.post_ms), "delete_ms": percentiles(self.delete_ms),
            "cycle_ms": percentiles(self.cycle_ms),
            "time_limited": self.taken < self.args.cycles,
        }


def percentiles(values: list[float]) -> dict[str, float]:
    """{"50": ms, ..., "100": ms, "mean": ms} (nearest rank), empty without values."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for pct in PERCENTILES:
        rank = max(1, -(-pct * len(ordered) // 100))  # ceil
        out[str(pct)] = round(ordered[rank - 1], 2)
    out["mean"] = round(statistics.fmean(ordered), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = Driver(args).run()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
