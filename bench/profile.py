"""--profile: py-spy on one worker of each of our modes under `ab -c 100`.

py-spy's raw output is one collapsed stack per line with its sample count;
the leaf frame is where the time was spent (self time), every frame on the
stack shares it (inclusive time). Idle samples (the hub waiting in epoll) are
left out by py-spy, so percentages are of the worker's busy time.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench.ab import SOCKET_TIMEOUT
from bench.modes import Mode
from bench.procs import wait_http

# (what a reader asks about, regex on "function (file:line)" frames)
WATCH = [
    ("pecan argument inspection (pecan.util.getargspec, inspect)",
     r"getargspec|\(inspect\.py|/inspect\.py"),
    ("pecan (all)", r"\(pecan/|/pecan/"),
    ("webob (all)", r"\(webob/|/webob/"),
    ("django (all)", r"\(django/|/django/"),
    ("django signals (dispatch)", r"django/dispatch/"),
    ("urllib3 (all)", r"\(urllib3/|/urllib3/"),
    ("logging (all)", r"\(logging/|/logging/"),
    ("eventlet (all)", r"\(eventlet/|/eventlet/"),
    ("gevent (all)", r"\(gevent/|/gevent/"),
    ("the broker's server layer (server/)", r"multicloud_broker/server/"),
    ("multicloud_broker (all)", r"multicloud_broker/"),
    ("uuid (transaction ids)", r"\(uuid\.py|/uuid\.py"),
]
CATEGORIES = [("pecan", "pecan/"), ("webob", "webob/"), ("django", "django/"),
              ("eventlet", "eventlet/"), ("gevent", "gevent/"), ("urllib3", "urllib3/"),
              ("logging", "logging/"),
              ("inspect", "inspect.py"), ("multicloud_broker", "multicloud_broker/"),
              ("http.client", "http/client.py"), ("socket", "socket.py"),
              ("json", "json/"), ("uuid", "uuid.py"), ("oslo", "oslo_")]


def parse_raw(path: Path) -> tuple[Counter, int]:
    """(stack -> samples, total samples) from py-spy's --format raw file."""
    stacks: Counter = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[stack] += int(count)
    return stacks, sum(stacks.values())


def summary(stacks: Counter, total: int, top: int = 25) -> list[str]:
    """Top self-time functions, time by package, and the watched items."""
    leaf, inclusive, category = Counter(), Counter(), Counter()
    for stack, count in stacks.items():
        frames = stack.split(";")
        leaf[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        category[_category(frames[-1])] += count
    pct = (lambda n: f"{100.0 * n / total:5.1f}%") if total else (lambda n: "  n/a")
    lines = [f"samples: {total} (busy time of one worker)", "",
             f"top {top} functions by self time:"]
    lines += [f"  {pct(n)}  {frame}" for frame, n in leaf.most_common(top)]
    lines += ["", "self time by package (leaf frame's file):"]
    lines += [f"  {pct(n)}  {name}" for name, n in category.most_common()]
    lines += ["", "inclusive time of what the issue asks about (any frame on the stack):"]
    for title, pattern in WATCH:
        regex = re.compile(pattern)
        n = sum(c for s, c in stacks.items() if regex.search(s))
        lines.append(f"  {pct(n)}  {title}")
    lines += ["", f"top {top} functions by inclusive time:"]
    lines += [f"  {pct(n)}  {frame}" for frame, n in inclusive.most_common(top)]
    return lines


def _category(frame: str) -> str:
    for name, needle in CATEGORIES:
        if needle in frame:
            return name
    return "other (stdlib, C calls)"


def profile_mode(mode: Mode, tools: dict[str, str], tmp: Path, duration: float,
                 warm: int) -> list[str]:
    """Profile one worker of `mode` for `duration` s under ab -c 100; report lines."""
    running = mode.start()
    load = None
    try:
        proc = running.procs[0]
        wait_http(proc, running.port, running.path, headers=running.headers)
        _ab(tools["ab"], running, warm, 50, tmp / f"profile-{mode.name}-warm.txt", 60).wait(90)
        workers = proc.workers() or [proc.pid]
        target = workers[0]
        load = _ab(tools["ab"], running, 10_000_000, 100,
                   tmp / f"profile-{mode.name}-ab.txt", duration + 15)
        time.sleep(2)  # let the load reach its steady state first
        raw = tmp / f"profile-{mode.name}.raw"
        done = subprocess.run(
            [tools["py-spy"], "record", "--pid", str(target), "--duration", str(int(duration)),
             "--rate", "250", "--format", "raw", "--function", "--output", str(raw)],
            capture_output=True, text=True, timeout=duration + 60)
        if done.returncode != 0 or not raw.exists():
            return [f"py-spy failed ({done.returncode}): {done.stderr.strip()[-300:]}"]
        stacks, total = parse_raw(raw)
        return [f"worker pid {target} of {len(workers)}; {int(duration)} s at ab -c 100",
                *summary(stacks, total)]
    finally:
        if load is not None and load.poll() is None:
            load.terminate()  # our own ab, by its Popen handle
            try:
                load.wait(10)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait(5)
        running.stop()


def _ab(ab: str, running, n: int, c: int, out: Path, limit: float) -> subprocess.Popen:
    argv = [ab, "-t", str(int(limit)), "-n", str(n), "-c", str(c), "-s", str(SOCKET_TIMEOUT)]
    for name, value in running.headers.items():
        argv += ["-H", f"{name}: {value}"]
    with open(out, "wb") as sink:
        return subprocess.Popen(argv + [running.url], stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def run_profiles(modes: list[Mode], tools: dict[str, str], tmp: Path, out: Path,
                 duration: float, warm: int, header: list[str]) -> Path:
    """Profile each mode in turn and write the report to `out`."""
    lines = list(header)
    for mode in modes:
        print(f"bench: profiling {mode.name} for {duration:.0f}s", flush=True)
        lines += ["", "=" * 78, f"{mode.name}: {mode.label}", "=" * 78]
        try:
            lines += profile_mode(mode, tools, tmp, duration, warm)
        except Exception as exc:  # one mode failing must not lose the others
            lines.append(f"not profiled: {type(exc).__name__}: {str(exc)[:500]}")
        out.write_text("\n".join(lines) + "\n")
    return out

