"""Running ApacheBench and reading its report."""

from __future__ import annotations

import re
import resource
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# ab's own socket timeout (-s): a request waiting longer aborts the run, as
# ab does in the spec's runserver result.
SOCKET_TIMEOUT = 30

_NUMBERS = {
    "time_taken_s": r"Time taken for tests:\s+([\d.]+) seconds",
    "complete": r"Complete requests:\s+(\d+)",
    "failed": r"Failed requests:\s+(\d+)",
    "non_2xx": r"Non-2xx responses:\s+(\d+)",
    "rps": r"Requests per second:\s+([\d.]+)",
    "mean_ms": r"Time per request:\s+([\d.]+) \[ms\] \(mean\)",
}
_FAILED_KINDS = r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)"


@dataclass
class AbResult:
    """What one ab run measured. Latencies in ms, from ab's -e CSV (sub-ms)."""

    argv: list[str]
    requests: int
    concurrency: int
    exit_code: int = 0
    wall_s: float = 0.0
    time_taken_s: float | None = None
    complete: int = 0
    failed: int = 0
    failed_kinds: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0
    rps: float | None = None
    mean_ms: float | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    aborted: str = ""       # ab's error line when it gave up before the end
    not_done: int = 0       # requests never completed (abort or time limit)
    stderr_tail: str = ""   # ab's last progress and error lines
    approx_rps: float | None = None  # completed / wall time, when ab gave up
    ab_cpu_s: float = 0.0   # CPU time ab itself used (it shares the machine)

    @property
    def bad(self) -> int:
        """Requests that did not come back as a 2xx: failed, non-2xx, never done."""
        return self.failed + self.non_2xx + self.not_done

    def as_dict(self) -> dict:
        out = asdict(self)
        out["bad"] = self.bad
        return out


def run_ab(ab: str, url: str, requests: int, concurrency: int, csv_path: Path,
           time_limit: float, keepalive: bool = False, recv_errors_ok: bool = False,
           headers: dict[str, str] | None = None) -> AbResult:
    """`ab -n N -c C URL` as the spec runs it, bounded by -s and -t."""
    # -t first: ab's -t resets -n to 50000, a later -n sets it back.
    argv = [ab, "-t", str(int(time_limit)), "-n", str(requests), "-c", str(concurrency),
            "-s", str(SOCKET_TIMEOUT), "-e", str(csv_path)]
    if keepalive:
        argv.append("-k")
    if recv_errors_ok:
        argv.append("-r")
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    csv_path.unlink(missing_ok=True)
    started = time.monotonic()
    # Only ab is reaped while it runs (servers are reaped when stopped), so the
    # children's rusage delta is ab's own CPU time.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(argv, capture_output=True, text=True,
                              timeout=time_limit + SOCKET_TIMEOUT + 30)
        out, err, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:  # subprocess.run kills ab itself
        out, err, code = _text(exc.stdout), _text(exc.stderr) + "\nkilled: over time", -9
    result = parse(out, err, argv, requests, concurrency)
    result.stderr_tail = "\n".join(err.strip().splitlines()[-4:])
    result.exit_code = code
    result.wall_s = round(time.monotonic() - started, 3)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.ab_cpu_s = round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 3)
    result.latency_ms = read_percentiles(csv_path)
    if code != 0 and not result.aborted:
        result.aborted = (err.strip().splitlines() or [f"exit {code}"])[-1]
    if result.aborted and result.complete and result.wall_s:
        # ab printed no report: the rate it had reached, timeouts included.
        result.approx_rps = round(result.complete / result.wall_s, 1)
    return result


def parse(out: str, err: str, argv: list[str], requests: int, concurrency: int) -> AbResult:
    """An AbResult from ab's stdout (the report) and stderr (progress, errors)."""
    result = AbResult(argv=argv, requests=requests, concurrency=concurrency)
    for name, pattern in _NUMBERS.items():
        found = re.search(pattern, out)
        if found:
            value = found.group(1)
            setattr(result, name, float(value) if "." in value else int(value))
    kinds = re.search(_FAILED_KINDS, out)
    if kinds:
        result.failed_kinds = dict(zip(("connect", "receive", "length", "exceptions"),
                                       map(int, kinds.groups())))
    if result.time_taken_s is None:
        # No report: ab gave up. Its progress lines tell how far it got.
        progress = re.findall(r"Completed (\d+) requests", err)
        result.complete = int(progress[-1]) if progress else 0
        errors = [line for line in err.splitlines()
                  if line.strip() and not line.startswith(("Completed", "Finished",
                                                           "This is", "Copyright",
                                                           "Licensed", "Benchmarking"))]
        result.aborted = errors[-1].strip() if errors else "no report"
    result.not_done = max(0, requests - result.complete)
    return result


def read_percentiles(csv_path: Path) -> dict[str, float]:
    """{"50": ms, ...} from ab's -e file (0..100 %), empty when ab wrote none."""
    try:
        lines = csv_path.read_text().splitlines()[1:]
    except OSError:
        return {}
    table = {}
    for line in lines:
        pct, _, ms = line.partition(",")
        try:
            table[pct] = float(ms)
        except ValueError:
            continue
    return {p: table[p] for p in ("50", "66", "75", "90", "95", "99", "100") if p in table}


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
