"""Prometheus metrics, summed over every worker process.

The one module that uses prometheus_client. Core and the server call the
small functions below; nothing else knows how metrics are kept.

Workers are separate processes, and a scrape reaches only one of them. So the
bootstrap process makes a private directory (`start_multiprocess`) before it
forks, and every process keeps its figures there in memory-mapped files
(prometheus_client's multiprocess mode); whichever worker answers /metrics
reads and sums them all. A worker that dies leaves its counters behind (no
count is lost) and a respawned one writes to files of its own pid (none is
counted twice); `worker_exited` drops the dead one's live gauges.

prometheus_client decides between in-memory and multiprocess values when it
is imported, from PROMETHEUS_MULTIPROC_DIR: it is imported here only once the
first metric is made, after the bootstrap set the variable. Without it (the
app hosted by another WSGI server), figures are this process's own.

Hot path: label children are resolved once and cached by their label values;
a request costs one counter and one histogram update, made by a `_Recorder`.
"""

from __future__ import annotations

import atexit
import bisect
import functools
import glob
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable

from multicloud_broker import __version__

LOG = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404)
OTHER = "other"          # the method label of a method the API never serves
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
_DIR_PREFIX = "multicloud-broker-metrics-"
SAMPLE_INTERVAL = 1.0  # s between two readings of a worker's slots and connections

# Seconds: from well under a millisecond (vim_types) to the plugins' deadlines.
_DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                     0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_FAN_OUT_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500)

_framework = ""
_owned_dir: tuple[int, str] | None = None  # (creator pid, path) of our private directory


def configure(framework: str) -> None:
    """The web framework named by build_info (set when the broker is built)."""
    global _framework
    _framework = framework


# -- the multiprocess directory (bootstrap process) ----------------------------

def start_multiprocess() -> str | None:
    """Point every process forked from now on at a fresh directory for the
    metrics' files; the path, or None if no directory could be made (each
    worker then reports its own figures only).

    An operator's PROMETHEUS_MULTIPROC_DIR is used as given, emptied first;
    else a private directory is made under $RUNTIME_DIRECTORY (systemd) or
    the temporary directory, and removed when this process exits. Left-overs
    of brokers killed before they could clean up are removed too.
    """
    global _owned_dir, _instruments
    given = os.environ.get(ENV)
    try:
        if given:
            os.makedirs(given, exist_ok=True)
            for stale in glob.glob(os.path.join(given, "*.db")):
                os.remove(stale)
            path = given
        else:
            base = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0] or tempfile.gettempdir()
            _remove_orphans(base)
            path = tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-", dir=base)
            _owned_dir = (os.getpid(), path)
            atexit.register(stop_multiprocess)
    except OSError as exc:
        LOG.warning("metrics: no directory for the workers' figures (%s): each "
                    "worker's /metrics reports its own figures only", exc)
        return None
    os.environ[ENV] = path
    _instruments = None  # made again, on files, at first use
    _use_files_if_imported()
    return path


def stop_multiprocess() -> None:
    """Remove the private directory (in the process that made it only)."""
    global _owned_dir
    if _owned_dir is not None and _owned_dir[0] == os.getpid():
        shutil.rmtree(_owned_dir[1], ignore_errors=True)
        if os.environ.get(ENV) == _owned_dir[1]:
            del os.environ[ENV]
        _owned_dir = None


def _remove_orphans(base: str) -> None:
    for path in glob.glob(os.path.join(base, _DIR_PREFIX + "*")):
        pid = os.path.basename(path)[len(_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _use_files_if_imported() -> None:
    # prometheus_client picks its value class at import: if something imported
    # it before the variable was set, ask it again (its own function).
    import sys
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()


# -- the instruments -----------------------------------------------------------

class _Instruments:
    """Every metric, made once per process (after fork, files of its own pid)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        # A registry of our own (made again after start_multiprocess, never
        # registered twice), read as it is when there is no directory.
        self.registry = r = CollectorRegistry()
        Counter, Gauge, Histogram = (functools.partial(kind, registry=r)
                                     for kind in (Counter, Gauge, Histogram))
        p = "multicloud_broker_"
        self.requests = Counter(p + "requests", "Requests answered, by route template, "
                                "method and status", ["route", "method", "status"])
        self.request_seconds = Histogram(
            p + "request_duration_seconds", "Time to answer a request (to the answer's "
            "head; a streamed body's transfer not included), by route template",
            ["route"], buckets=_DURATION_BUCKETS)
        self.plugin_calls = Counter(
            p + "plugin_calls", "Calls to plugins by plugin and outcome: the answer's "
            "status class (2xx..5xx), or the broker's 502 (unreachable, broken answer), "
            "504 (too slow), 503_busy (no connection to the plugin came free: its queue "
            "was full, or the plugin stopped answering)", ["plugin", "outcome"])
        self.plugin_seconds = Histogram(
            p + "plugin_call_duration_seconds", "Time from a plugin call's start to its "
            "answer's head (or its failure), by plugin", ["plugin"], buckets=_DURATION_BUCKETS)
        self.fan_out = Histogram(p + "capacity_fan_out_vims", "VIMs asked by one "
                                 "check_vim_capacity", buckets=_FAN_OUT_BUCKETS)
        self.capacity_checks = Counter(
            p + "capacity_checks", "Per-VIM capacity checks by outcome: yes, no, failed "
            "(left out: fault or unusable answer), timeout (left out: capacity_timeout)",
            ["outcome"])
        self.inventory_lookups = Counter(
            p + "inventory_lookups", "Lookups in the inventory backend by backend and "
            "outcome (found, not_found, unreachable, refused, error)", ["backend", "outcome"])
        self.inventory_seconds = Histogram(
            p + "inventory_lookup_duration_seconds", "Time of one inventory backend lookup",
            ["backend"], buckets=_DURATION_BUCKETS)
        self.cache = Counter(
            p + "inventory_cache_lookups", "Region cache answers: hit, miss (asked the "
            "backend), stale (of the misses: backend unreachable, served as last seen), "
            "shared (waited for another request's lookup), negative (remembered as "
            "unknown)", ["result"])
        # One value per backend whoever answers the scrape: the latest
        # lookup's outcome in any live worker (mostrecent).
        self.inventory_up = Gauge(
            p + "inventory_up", "1 if the latest lookup in the shared inventory (A&AI, "
            "PostgreSQL) by any worker got an answer (found or not), 0 if it was "
            "unreachable, refused or failing", ["backend"],
            multiprocess_mode="livemostrecent")
        self.refused = Counter(p + "requests_refused", "Requests the server answered "
                               "itself before any route: 400 (malformed or ambiguous "
                               "framing), 408 (head too slow), 414, 431, 503 (worker at "
                               "max_connections)", ["status"])
        self.log_dropped = Counter(p + "log_lines_dropped", "Access- and application-log "
                                   "lines dropped because their reader lagged or failed")
        self.worker_starts = Counter(p + "worker_starts", "Worker processes started")
        self.worker_exits = Counter(p + "worker_exits", "Worker processes ended: retired "
                                    "(reload, asked to stop) or unexpected (died)",
                                    ["reason"])
        self.cached: dict = {}  # label values -> children or recorders, for the hot paths
        self.worker: _WorkerGauges | None = None  # made by the first sample() only


class _WorkerGauges:
    """Per-worker gauges, made in workers only (the bootstrap serves nothing:
    no series of its pid)."""

    def __init__(self, registry) -> None:
        from prometheus_client import Gauge
        Gauge = functools.partial(Gauge, registry=registry)
        p = "multicloud_broker_"
        self.in_flight = Gauge(p + "requests_in_flight", "Requests being answered by all "
                               "workers (request slots in use, sampled every second)",
                               multiprocess_mode="livesum")
        self.slots = Gauge(p + "worker_request_slots", "Requests a worker serves at once "
                           "(wsgi_pool_size)", multiprocess_mode="liveall")
        self.slots_used = Gauge(p + "worker_request_slots_in_use", "Request slots in use "
                                "(sampled every second)", multiprocess_mode="liveall")
        self.connections = Gauge(p + "worker_connections_open", "Client connections open "
                                 "(sampled every second)", multiprocess_mode="liveall")


_instruments: _Instruments | None = None
_make_lock = threading.Lock()


def _get() -> _Instruments:
    global _instruments
    found = _instruments
    if found is None:
        with _make_lock:
            if _instruments is None:
                _instruments = _Instruments()
            found = _instruments
    return found


class _Recorder:
    """A counter child and a histogram child that are always updated together,
    straight on their values: what Counter.inc and Histogram.observe do
    after checks that labels() has already made (a request's hot path pays
    for one call here instead of a dozen). The values are the library's own
    (its files, its exposition); the attribute names are prometheus_client's
    internals, so a unit test compares this with inc()/observe()."""

    __slots__ = ("_count", "_sum", "_buckets", "_bounds", "_keep")

    def __init__(self, counter, histogram, keep: object = None) -> None:
        self._count = counter._value
        self._sum = histogram._sum
        self._buckets = histogram._buckets
        self._bounds = histogram._upper_bounds
        self._keep = keep

    def record(self, seconds: float) -> None:
        self._count.inc(1)
        self._sum.inc(seconds)
        self._buckets[bisect.bisect_left(self._bounds, seconds)].inc(1)


# -- what the broker calls -------------------------------------------------------

def request_started() -> float:
    """A request's start time, for `request_done`. (Requests in flight are
    sampled from the server's request slots: no update per request.)"""
    return time.perf_counter()


def request_done(route: object | None, method: str, status: int, started: float) -> None:
    """A request answered: `route` is its core.routes.Route (None: no route)."""
    elapsed = time.perf_counter() - started
    m = _instruments or _get()
    key = (id(route), method, status)
    recorder = m.cached.get(key)
    if recorder is None:
        recorder = m.cached[key] = _request_recorder(m, route, method, status)
    recorder.record(elapsed)


def _request_recorder(m: _Instruments, route: object | None, method: str,
                      status: int) -> _Recorder:
    label = UNMATCHED if route is None else (route.root + route.template).replace(":path", "")
    method = method if method in _METHODS else OTHER
    # The route itself is kept with the recorder: its id stays unique.
    return _Recorder(m.requests.labels(label, method, str(status)),
                     m.request_seconds.labels(label), route)


def plugin_fault(plugin: str, status: int, started: float, busy: bool = False) -> None:
    """The broker answers `status` (502, 503 busy, 504) for a plugin's fault."""
    elapsed = time.perf_counter() - started
    m = _instruments or _get()
    outcome = "503_busy" if busy else str(status)
    m.plugin_calls.labels(plugin, outcome).inc()
    m.plugin_seconds.labels(plugin).observe(elapsed)


def plugin_answer(plugin: str, status: int, started: float) -> None:
    """A plugin answered with `status` (counted by class: 2xx, 4xx, ...)."""
    elapsed = time.perf_counter() - started
    m = _instruments or _get()
    key = ("plugin", plugin, status // 100)
    recorder = m.cached.get(key)
    if recorder is None:
        recorder = m.cached[key] = _Recorder(m.plugin_calls.labels(plugin, f"{status // 100}xx"),
                                             m.plugin_seconds.labels(plugin))
    recorder.record(elapsed)


def capacity_fan_out(vims: int) -> None:
    _get().fan_out.observe(vims)


def capacity_check(outcome: str) -> None:
    """One VIM's capacity check ended: yes, no, failed or timeout."""
    _get().capacity_checks.labels(outcome).inc()


def request_refused(status: int) -> None:
    """The server answered `status` itself, before the app saw a request."""
    _get().refused.labels(str(status)).inc()


def cache_lookup(result: str) -> None:
    """The region cache answered: hit, miss, stale, shared or negative."""
    m = _instruments or _get()
    child = m.cached.get(("cache", result))
    if child is None:
        child = m.cached[("cache", result)] = m.cache.labels(result)
    child.inc()


def inventory_lookup(backend: str, outcome: str, started: float) -> None:
    elapsed = time.perf_counter() - started
    m = _instruments or _get()
    key = ("inventory", backend, outcome)
    recorder = m.cached.get(key)
    if recorder is None:
        recorder = m.cached[key] = _Recorder(m.inventory_lookups.labels(backend, outcome),
                                             m.inventory_seconds.labels(backend))
    recorder.record(elapsed)


def inventory_up(backend: str, up: bool) -> None:
    """A lookup in a shared inventory got an answer (up) or not."""
    m = _instruments or _get()
    child = m.cached.get(("inventory_up", backend))
    if child is None:
        child = m.cached[("inventory_up", backend)] = m.inventory_up.labels(backend)
    child.set(1 if up else 0)


def _lookup_outcome(exc: Exception) -> str:
    """The outcome label of a failed lookup."""
    # Imported here, on failures only: core and inventory import this module.
    from multicloud_broker.core.errors import NotFound
    from multicloud_broker.inventory import InventoryRefused, InventoryUnreachable
    for kind, outcome in ((NotFound, "not_found"), (InventoryUnreachable, "unreachable"),
                          (InventoryRefused, "refused")):
        if isinstance(exc, kind):
            return outcome
    return "error"


class CountedInventory:
    """An inventory backend whose lookups are counted by outcome and timed.

    Everything else (check, close, the regions API's methods) is the
    backend's own. `backend` names it (aai, sqlite, postgresql)."""

    def __init__(self, inner: object, backend: str):
        self.inner = inner
        self.backend = backend

    def get(self, owner: str, region: str, transaction_id: str = ""):
        started = time.perf_counter()
        outcome = "found"
        try:
            return self.inner.get(owner, region, transaction_id)
        except Exception as exc:
            outcome = _lookup_outcome(exc)
            raise
        finally:
            inventory_lookup(self.backend, outcome, started)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


# -- the process manager's events (bootstrap process) --------------------------

def worker_started() -> None:
    _get().worker_starts.inc()


def worker_exited(pid: int, expected: bool) -> None:
    """A worker ended: counted, and its live gauges dropped from the sums."""
    _get().worker_exits.labels("retired" if expected else "unexpected").inc()
    path = os.environ.get(ENV)
    if path:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid, path)


# -- per-worker gauges, sampled ------------------------------------------------

class _Watch:
    """What one worker's sampler reads; replaced when the server is (SIGHUP)."""

    def __init__(self) -> None:
        self.slots = 0
        self.free_slots: Callable[[], int] = lambda: 0
        self.connections: Callable[[], int] = lambda: 0
        self.pid = 0  # the process whose sampler thread runs
        self.dropped_seen = 0


_watch = _Watch()


def watch_worker(slots: int, free_slots: Callable[[], int],
                 connections: Callable[[], int]) -> None:
    """Sample this worker's request slots, open connections and dropped log
    lines every SAMPLE_INTERVAL (off the request path); one sampler thread
    per process, reading the latest sources given."""
    _watch.slots, _watch.free_slots, _watch.connections = slots, free_slots, connections
    if _watch.pid != os.getpid():
        _watch.pid, _watch.dropped_seen = os.getpid(), 0
        threading.Thread(target=_sample_forever, name="metrics sampler", daemon=True).start()


def _sample_forever() -> None:
    while True:
        try:
            sample()
        except Exception:  # never ends the worker; seen in the log
            LOG.exception("metrics: sampling the worker failed")
        time.sleep(SAMPLE_INTERVAL)


def sample() -> None:
    """Read the watched sources once into the gauges."""
    from multicloud_broker.server.log_writer import dropped_lines
    m = _get()
    if m.worker is None:
        m.worker = _WorkerGauges(m.registry)
    w = m.worker
    w.slots.set(_watch.slots)
    in_use = max(0, _watch.slots - _watch.free_slots())
    w.slots_used.set(in_use)
    w.in_flight.set(in_use)
    w.connections.set(_watch.connections())
    dropped = dropped_lines()
    if dropped > _watch.dropped_seen:
        m.log_dropped.inc(dropped - _watch.dropped_seen)
    _watch.dropped_seen = dropped


# -- the /metrics answer -----------------------------------------------------------

class _BuildInfo:
    """build_info{version, framework} 1, from the answering worker."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        info = GaugeMetricFamily("multicloud_broker_build_info", "The broker's version "
                                 "and web framework", labels=["version", "framework"])
        info.add_metric([__version__, _framework or "none"], 1)
        yield info


def exposition() -> bytes:
    """Every metric of every worker, in the Prometheus text format 0.0.4."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector
    m = _get()  # made before the first scrape: the metrics exist at 0
    path = os.environ.get(ENV)
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path)
    else:
        registry = m.registry
    registry_with_info = CollectorRegistry()
    registry_with_info.register(_BuildInfo())
    return generate_latest(registry) + generate_latest(registry_with_info)
