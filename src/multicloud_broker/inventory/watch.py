"""What a worker knows of a shared inventory (A&AI, or a PostgreSQL the fleet
shares): up, unreachable, refusing the broker's credentials, or failing.

A shared inventory does not decide readiness: when it is down for everyone,
every replica would turn not-ready at once and the load balancer would have
no backend left, while each broker could still serve the regions it has seen
(the cache's stale entries). So its state is told elsewhere: in /healthz's
detail, in the `inventory_up` gauge, and in the log, one line per change.

The state comes from the worker's own lookups (every one that reached the
backend: cache hits teach nothing) and, when none was made for `interval`
seconds, from a probe that /readyz starts in the background and never waits
for: a lookup of a region nobody registers, where "not found" is an answer.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable

from multicloud_broker import metrics
from multicloud_broker.core.errors import NotFound
from multicloud_broker.core.health import PROBE_OWNER, PROBE_REGION
from multicloud_broker.inventory import (CloudRegion, Inventory, InventoryRefused,
                                         InventoryUnreachable)

LOG = logging.getLogger(__name__)

UP, UNREACHABLE, REFUSED, FAILING, UNKNOWN = "up", "unreachable", "refused", "failing", "unknown"
NAMES = {"aai": "A&AI", "postgresql": "PostgreSQL"}
_PHRASES = {UNREACHABLE: "is unreachable", REFUSED: "refuses the broker's credentials",
            FAILING: "is failing"}
# What requests meet meanwhile (the cache rides out only an outage: cache.py).
_EFFECTS = {UNREACHABLE: "regions this worker saw within stale_ttl are served as last "
                         "seen (with cache_ttl > 0), others get 503",
            REFUSED: "lookups get 503 until the credentials are fixed",
            FAILING: "lookups get 503"}


def state_of(exc: BaseException | None) -> str:
    """The inventory's state as one lookup's outcome shows it (None: an answer)."""
    if exc is None or isinstance(exc, NotFound):  # "no such region" is an answer too
        return UP
    if isinstance(exc, InventoryUnreachable):
        return UNREACHABLE
    if isinstance(exc, InventoryRefused):
        return REFUSED
    return FAILING


class InventoryWatch:
    """A shared inventory backend whose lookups tell its state (see the module's note).

    Everything but `get` is the backend's own (check, close, the regions
    API's methods). `backend` names it (aai, postgresql)."""

    def __init__(self, inner: Inventory, backend: str, interval: float,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.inner = inner
        self.backend = backend
        self._name = NAMES.get(backend, backend)
        self._interval = interval
        self._clock = clock
        self._wall = wall
        self._state = UNKNOWN
        self._error = ""
        self._since: float | None = None  # wall clock: shown to people
        self._changed_at = clock()
        self._heard_at: float | None = None  # monotonic: last outcome of any lookup
        self._asked_at = float("-inf")  # when the lookup behind the current view began
        self._probing = False
        # Green threads switch on I/O only, but any WSGI server may host the
        # app (wsgi.py), threads included: a change is logged by one caller.
        self._lock = threading.Lock()

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        started = self._clock()
        try:
            found = self.inner.get(owner, region, transaction_id)
        except Exception as exc:
            self.observe(exc, started)
            raise
        self.observe(None, started)
        return found

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def observe(self, exc: BaseException | None, started: float) -> None:
        """The outcome of a lookup begun at `started`: the gauge follows it; a
        change is logged once."""
        state = state_of(exc)
        with self._lock:
            if started < self._asked_at:
                # Asked before the lookup the current view comes from: older
                # news (a slow answer from before an outage must not flap it).
                return
            self._asked_at = started
            metrics.inventory_up(self.backend, state == UP)
            self._heard_at = self._clock()
            self._error = "" if exc is None else getattr(exc, "message", type(exc).__name__)
            previous = self._state
            if state == previous:
                return
            self._state, self._since = state, self._wall()
            lasted, self._changed_at = self._heard_at - self._changed_at, self._heard_at
        self._log_change(previous, state, lasted)

    def _log_change(self, previous: str, state: str, lasted: float) -> None:
        if state == UP and previous == UNKNOWN:
            LOG.info("inventory (%s) answers", self._name)
        elif state == UP:
            # A warning too: a log kept at WARNING shows both ends of the outage.
            LOG.warning("inventory (%s) answers again, after %.0f s %s",
                        self._name, lasted, previous)
        else:
            LOG.warning("inventory (%s) %s (was %s): %s; %s; /readyz is not affected "
                        "(a shared inventory does not decide readiness)", self._name,
                        _PHRASES[state], previous, self._error, _EFFECTS[state])

    def refresh(self) -> None:
        """Probe in the background if nothing was heard for `interval` s and no
        probe runs; never waits (a probe of a hung inventory takes its timeouts)."""
        with self._lock:
            heard = self._heard_at
            if self._probing or (heard is not None
                                 and self._clock() - heard < self._interval):
                return
            self._probing = True
        try:
            threading.Thread(target=self._probe, name="inventory probe", daemon=True).start()
        except BaseException:
            self._probing = False
            raise

    def _probe(self) -> None:
        try:
            self.get(PROBE_OWNER, PROBE_REGION, f"probe-{uuid.uuid4().hex}")
        except Exception:
            pass  # observed by get(): the outcome is the point, not the region
        finally:
            self._probing = False

    def report(self) -> dict:
        """The state for /healthz: this worker's view, since when, and how old
        (those two once anything was heard)."""
        with self._lock:
            heard, state, error, since = self._heard_at, self._state, self._error, self._since
        report: dict = {"backend": self.backend, "state": state}
        if state not in (UP, UNKNOWN):
            report["error"] = error
        if heard is not None and since is not None:
            report["since"] = _iso(since)
            report["checked_seconds_ago"] = round(self._clock() - heard, 1)
        return report


def _iso(seconds: float) -> str:
    stamp = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return stamp.isoformat(timespec="seconds").replace("+00:00", "Z")
