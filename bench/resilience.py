"""Section `resilience`: does a normal client still get its answers while
slow and idle connections are held? (issue 10, item 1, at full size)

For each framework, a broker with the default configuration (one worker
per CPU) in front of bench/slow_plugin.py (no delay). Then, from this
process: --idle kept-alive connections that made one request and stay
idle, and --slowloris connections that send a request line and a header
line every few seconds (replaced when the broker cuts them, so their
number holds). Meanwhile a separate probe process calls vim_types and a
forwarded path one after the other on fresh connections, and records each
latency. Worker memory (RSS, summed) is read before the idle connections,
after them and after the slow ones: the memory per connection.

Results: bench/results/<stem>-resilience.{json,md}.
"""

from __future__ import annotations

import datetime
import http.client
import json
import multiprocessing
import os
import selectors
import socket
import statistics
import time
from pathlib import Path

from bench import modes
from bench.procs import wait_http

SLOW_LINE = f"GET {modes.VIM_TYPES} HTTP/1.1\r\nHost: bench\r\n".encode()
IDLE_REQUEST = f"GET {modes.VIM_TYPES} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
DRIP_EVERY = 5.0  # seconds between two header lines of a slowloris connection
KEEPALIVE_S = 60.0  # the broker's default keepalive_timeout


def worker_rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


# -- the normal client, in its own process (no GIL shared with the attack) ----------

def _probe(port: int, start, stop, results) -> None:
    samples = []
    start.wait()
    while not stop.is_set():
        for path in (modes.VIM_TYPES, modes.FORWARD):
            began = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connected = began
            try:
                conn.connect()
                connected = time.monotonic()
                conn.request("GET", path)
                reply = conn.getresponse()
                reply.read()
                status = reply.status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
            finally:
                conn.close()
            samples.append((path, status, time.monotonic() - began, connected - began))
        time.sleep(0.05)
    results.put(samples)


# -- the attack -------------------------------------------------------------------

class Attack:
    """Holds slowloris and idle kept-alive connections to one port."""

    def __init__(self, port: int):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.slow: dict[socket.socket, float] = {}  # socket -> opened at
        self.idle: set[socket.socket] = set()
        self.cut_after: list[float] = []  # seconds a slowloris connection lived
        self.cut_status: dict[str, int] = {}
        self.idle_closed = 0
        self.refused = 0  # connections answered 503 (over max_connections)
        self._data: dict[socket.socket, bytes] = {}
        self._drip_at = 0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        return sock

    def open_idle(self, count: int, batch: int = 500) -> int:
        opened = 0
        while opened < count:
            socks = [self._connect() for _ in range(min(batch, count - opened))]
            for sock in socks:
                sock.sendall(IDLE_REQUEST)
            for sock in socks:
                if _read_answer(sock) == 200:
                    sock.setblocking(False)
                    self.sel.register(sock, selectors.EVENT_READ, "idle")
                    self.idle.add(sock)
                else:
                    self.refused += 1
                    sock.close()
            opened += len(socks)
        return len(self.idle)

    def open_slow(self, count: int) -> None:
        for _ in range(count):
            self._open_one_slow()

    def _open_one_slow(self) -> None:
        sock = self._connect()
        sock.sendall(SLOW_LINE)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, "slow")
        self.slow[sock] = time.monotonic()

    def drip(self, share: float = 1.0) -> None:
        """A header line on `share` of the slow connections (the next ones in turn)."""
        socks = list(self.slow)
        if not socks:
            return
        count = max(1, int(len(socks) * share))
        start = self._drip_at % len(socks)
        for sock in (socks[start:] + socks[:start])[:count]:
            try:
                sock.send(b"X-Slow: 1\r\n")
            except OSError:
                pass
        self._drip_at = start + count

    def run(self, seconds: float, open_slow: int = 0) -> None:
        """Serve events for `seconds`: record cuts, replace cut slow
        connections, and open `open_slow` more evenly over the time."""
        began = last = time.monotonic()
        end = began + seconds
        opened = 0
        while time.monotonic() < end:
            for key, _ in self.sel.select(timeout=0.05):
                self._readable(key.fileobj, key.data)
            now = time.monotonic()
            due = int(open_slow * min(1.0, (now - began) / seconds))
            for _ in range(due - opened):
                self._open_one_slow()
            opened = max(opened, due)
            # Each connection sends a line every DRIP_EVERY s, spread evenly
            # (as independent clients would), not all in the same instant.
            self.drip(min(1.0, (now - last) / DRIP_EVERY))
            last = now

    def _readable(self, sock: socket.socket, kind: str) -> None:
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._data[sock] = self._data.get(sock, b"") + data
            return
        received = self._data.pop(sock, b"")
        self.sel.unregister(sock)
        sock.close()
        if kind == "idle":
            self.idle.discard(sock)
            self.idle_closed += 1
            return
        opened = self.slow.pop(sock)
        status = received[9:12].decode("latin-1") or "closed"
        self.cut_status[status] = self.cut_status.get(status, 0) + 1
        if status == "503":
            self.refused += 1
        else:
            self.cut_after.append(time.monotonic() - opened)
        self._open_one_slow()

    def close(self) -> None:
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


def _read_answer(sock: socket.socket) -> int:
    """Status of one answer with Content-Length, read whole (0 if none)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head[9:12])


# -- one framework ----------------------------------------------------------------

def measure(ctx: modes.Context, framework: str, plugin_port: int, slowloris: int,
            idle: int, seconds: float, ramp: float) -> dict:
    sqlite = {"inventory": {"backend": "sqlite"},
              "plugins": {"endpoints": f"multicloud-ocata:http://127.0.0.1:{plugin_port}"}}
    running = modes.ours(ctx, framework, modes.VIM_TYPES, sqlite, tag="-resilience")()
    proc = running.procs[0]
    mp = multiprocessing.get_context("fork")
    start, stop, results = mp.Event(), mp.Event(), mp.Queue()
    # Forked before the attack opens its sockets: the probe holds none of them.
    probe = mp.Process(target=_probe, args=(running.port, start, stop, results))
    probe.start()
    attack = Attack(running.port)
    record: dict = {"framework": framework, "workers": ctx.workers,
                    "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
                    "slowloris_wanted": slowloris, "idle_wanted": idle,
                    "slowloris_ramp_s": ramp}
    try:
        wait_http(proc, running.port, modes.VIM_TYPES)
        wait_http(proc, running.port, modes.FORWARD)
        _warm(running.port)
        workers = proc.workers()
        rss0 = worker_rss_kib(workers)
        record["idle_held"] = attack.open_idle(idle)
        idle_at = time.monotonic()
        time.sleep(1)
        rss1 = worker_rss_kib(workers)
        began = time.monotonic()
        if ramp:
            # Opened evenly over one header deadline: from then on, as many
            # are cut (and replaced) every second as were opened.
            attack.run(ramp, open_slow=slowloris)
        else:
            attack.open_slow(slowloris)  # all at once: they are cut at once too
        record["slowloris_open_s"] = round(time.monotonic() - began, 1)
        rss2 = worker_rss_kib(workers)
        # Within the default keepalive_timeout (60 s) of the idle connections'
        # last request, so that they are all still held while measuring.
        window = max(5.0, min(seconds, KEEPALIVE_S - 5 - (time.monotonic() - idle_at)))
        record["seconds_measured"] = round(window, 1)
        start.set()
        attack.run(window)
        stop.set()
        samples = results.get(timeout=30)
        record["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        record["slowloris_held_at_end"] = len(attack.slow)
        record["idle_held_at_end"] = len(attack.idle)
        record.update(_latencies(samples))
        record["slowloris_cut"] = attack.cut_status
        record["slowloris_lived_s"] = _spread(attack.cut_after)
        record["refused_503"] = attack.refused
        record["idle_closed_by_broker"] = attack.idle_closed
        record["worker_rss_kib"] = {"before": rss0, "with_idle": rss1,
                                    "with_idle_and_slowloris": rss2}
        record["kib_per_idle_connection"] = round((rss1 - rss0) / max(1, record["idle_held"]), 1)
        record["kib_per_slowloris_connection"] = round((rss2 - rss1) / max(1, slowloris), 1)
    finally:
        stop.set()
        start.set()
        probe.join(timeout=30)
        attack.close()
        running.stop()
    return record


def _warm(port: int) -> None:
    for path in (modes.VIM_TYPES, modes.FORWARD) * 200:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path)
        conn.getresponse().read()
        conn.close()


def _latencies(samples: list) -> dict:
    out = {}
    for path in (modes.VIM_TYPES, modes.FORWARD):
        mine = [s for s in samples if s[0] == path]
        ok = [s[2] * 1000 for s in mine if s[1] == 200]
        key = "vim_types" if path == modes.VIM_TYPES else "forward"
        failures: dict[str, int] = {}
        for sample in mine:
            if sample[1] != 200:
                failures[str(sample[1])] = failures.get(str(sample[1]), 0) + 1
        slow = [s for s in mine if s[2] > 1.0]
        out[key + "_over_1s_connect_ms"] = [round(s[3] * 1000, 1) for s in slow]
        out[key] = {"requests": len(mine), "ok": len(ok),
                    "failed": len(mine) - len(ok), "failures": failures,
                    "over_1s": sum(1 for s in mine if s[2] > 1.0),
                    "ms": _spread(ok)}
    return out


def _spread(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)
    return {"min": round(values[0], 1), "p50": round(statistics.median(values), 1),
            "p99": round(values[min(len(values) - 1, int(len(values) * 0.99))], 1),
            "max": round(values[-1], 1)}


# -- the section ------------------------------------------------------------------

def run(ctx: modes.Context, out_dir: Path, stem: str, *, slowloris: int = 10_000,
        idle: int = 5_000, seconds: float = 35.0, ramp: float = 20.0,
        frameworks: tuple[str, ...] = ("django", "pecan"), meta: dict | None = None) -> Path:
    plugin = modes.SlowPlugin(ctx, 0)
    rows = []
    try:
        plugin.start()
        for framework in frameworks:
            print(f"bench: resilience {framework}: {idle} idle + {slowloris} slowloris "
                  f"(opened over {ramp:g} s), {seconds:g} s", flush=True)
            row = measure(ctx, framework, plugin.port, slowloris, idle, seconds, ramp)
            print(f"bench:   {json.dumps(row)}", flush=True)
            rows.append(row)
    finally:
        plugin.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"meta": dict(meta or {}, section="resilience", seconds=seconds, ramp_s=ramp,
                         finished=datetime.datetime.now().isoformat(timespec="seconds")),
            "runs": rows}
    path = out_dir / f"{stem}-resilience.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    (out_dir / f"{stem}-resilience.md").write_text(markdown(data))
    print(f"bench: wrote {path}")
    return path


def markdown(data: dict) -> str:
    lines = ["# Resilience: normal requests while slow and idle connections are held", "",
             f"{data['meta'].get('date', '')}, {data['runs'][0]['workers'] if data['runs'] else '?'}"
             f" workers, default configuration, {data['meta']['seconds']:g} s under attack "
             f"after the slowloris connections were opened over "
             f"{data['meta'].get('ramp_s', 0):g} s (0: all at once, so all are cut at once).", "",
             "| framework | idle held | slowloris held | path | requests | failed | > 1 s "
             "| p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in data["runs"]:
        for key in ("vim_types", "forward"):
            lat = row[key]
            lines.append(f"| {row['framework']} | {row['idle_held_at_end']} | "
                         f"{row['slowloris_held_at_end']} | {key} | {lat['requests']} | "
                         f"{lat['failed']} | {lat['over_1s']} | {lat['ms'].get('p50', '-')} | "
                         f"{lat['ms'].get('p99', '-')} | {lat['ms'].get('max', '-')} |")
    lines += ["", "| framework | KiB per idle connection | KiB per slowloris connection "
              "| worker RSS before / with idle / with both (KiB) | slowloris cut (status: n) "
              "| lived s (p50) | refused 503 |", "|---|---|---|---|---|---|---|"]
    for row in data["runs"]:
        rss = row["worker_rss_kib"]
        lines.append(f"| {row['framework']} | {row['kib_per_idle_connection']} | "
                     f"{row['kib_per_slowloris_connection']} | {rss['before']} / "
                     f"{rss['with_idle']} / {rss['with_idle_and_slowloris']} | "
                     f"{row['slowloris_cut']} | {row['slowloris_lived_s'].get('p50', '-')} | "
                     f"{row['refused_503']} |")
    return "\n".join(lines) + "\n"
