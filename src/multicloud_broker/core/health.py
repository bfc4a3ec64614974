"""Liveness and readiness, as Kubernetes and load balancers ask for them.

Liveness (`/healthz`) only says that the worker answering is serving: it
costs nothing and waits for no one. Readiness (`/readyz`) says whether this
replica should be sent traffic, from what is its own: its plugin catalog is
loaded, it is not draining, and a local inventory (a SQLite file) can be
read. A shared inventory (A&AI, a fleet's PostgreSQL) is left out on
purpose: down for everyone, it would take every replica out of the load
balancer at once, while each could still serve the regions it has seen.
Its state is in /healthz's detail instead (inventory/watch.py).

Probes arrive every few seconds from every kubelet and load balancer, so a
local inventory is asked at most once per interval per worker, and only one
probe is in flight at a time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from multicloud_broker.core.errors import ApiError, NotFound

LOG = logging.getLogger(__name__)

# A region nobody registers: looking it up exercises the inventory's whole
# path (connection, authentication, query) and costs one 404 in A&AI.
PROBE_OWNER = "multicloud-broker-readiness"
PROBE_REGION = "probe"

_draining = threading.Event()


def set_draining(active: bool) -> None:
    """The server calls this with True when this worker starts draining
    (SIGTERM): from then on /readyz answers 503, so load balancers stop
    sending; with False when it serves again (a restart in place)."""
    if active:
        _draining.set()
    else:
        _draining.clear()


def draining() -> bool:
    return _draining.is_set()


class SharedInventory(Protocol):
    """A shared inventory's state, as /healthz tells it (inventory/watch.py)."""

    def refresh(self) -> None:
        """Check the inventory in the background if it is due; never waits."""

    def report(self) -> dict:
        """This worker's view of the inventory's state, for /healthz."""


def inventory_probe(lookup: Callable[[str, str, str], object]) -> Callable[[], None]:
    """A probe through an inventory's `get`: a 'not found' is an answer, so
    it passes; ServiceUnavailable, BadGateway or any other error fails it."""
    def probe() -> None:
        try:
            lookup(PROBE_OWNER, PROBE_REGION, f"readiness-{uuid.uuid4().hex}")
        except NotFound:
            pass
    return probe


class Readiness:
    """The last outcome of the local inventory's probe, renewed at most every
    `interval` s."""

    def __init__(self, probe: Callable[[], None], interval: float,
                 clock: Callable[[], float] = time.monotonic):
        self._probe = probe
        self._interval = interval
        self._clock = clock
        self._checked_at: float | None = None
        self._problem: str | None = None
        # Green threads switch on I/O; any WSGI server may host the app (wsgi.py),
        # threads included: one probe at a time either way.
        self._probing = threading.Lock()

    def inventory_problem(self) -> str | None:
        """None if the inventory answered within the interval, else why not.

        While a probe runs, other callers get the previous outcome; before
        the first outcome they wait for it.
        """
        if self._fresh():
            return self._problem
        if self._probing.acquire(blocking=self._checked_at is None):
            try:
                if not self._fresh():  # another caller may have probed meanwhile
                    self._problem = self._run_probe()
                    self._checked_at = self._clock()
            finally:
                self._probing.release()
        return self._problem

    def _fresh(self) -> bool:
        return (self._checked_at is not None
                and self._clock() - self._checked_at < self._interval)

    def _run_probe(self) -> str | None:
        try:
            self._probe()
        except ApiError as exc:
            return exc.message
        except Exception as exc:  # a bug or a driver error: not ready, say which
            LOG.exception("inventory readiness probe failed")
            return f"inventory probe failed: {type(exc).__name__}"
        return None


def readiness_report(catalog_loaded: bool,
                     readiness: Readiness | None) -> tuple[bool, dict]:
    """(ready, JSON body) for /readyz: every check by name, and an `error`
    naming those that fail, in the broker's error shape. `readiness`: the
    local inventory's probe; None when the inventory is shared (no check)."""
    problems = {}
    local = readiness is not None
    names = ("catalog", "inventory", "server") if local else ("catalog", "server")
    if not catalog_loaded:
        problems["catalog"] = "plugin catalog not loaded"
    inventory = readiness.inventory_problem() if local else None
    if inventory is not None:
        problems["inventory"] = inventory
    # Checked last: a drain that began while the inventory was probed counts.
    if draining():
        problems["server"] = "draining: shutting down, not taking new requests"
    checks = {name: problems.get(name, "ok") for name in names}
    if not problems:
        return True, {"status": "ready", "checks": checks}
    error = "not ready: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
    return False, {"status": "not ready", "error": error, "checks": checks}
