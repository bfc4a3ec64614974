"""A per-worker cache of region lookups with a time to live.

Under load a worker has hundreds of requests in flight. Without care, the
moment an entry expires every one of them would ask the inventory at once
for the same region. So there is at most one lookup per region in flight:
while it runs, requests that find an expired entry are answered from it (the
region changed at most a lookup's duration ago), and requests that find none
wait for the lookup and share its result or its error.

Outages are ridden out: when a refresh fails because the inventory is
unreachable (down, 5xx, timeout), a region confirmed within the last
`stale_ttl` seconds keeps being served, and the next refresh is tried one
`ttl` later rather than on every request. Regions the inventory does not know
are remembered as unknown for `negative_ttl` seconds, so a flood of unknown
ids costs one lookup each per period, not one per request.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from multicloud_broker import metrics
from multicloud_broker.core.errors import NotFound
from multicloud_broker.inventory import (LOG_INTERVAL, CloudRegion, Inventory,
                                         InventoryRefused, InventoryUnreachable, LogThrottle)

LOG = logging.getLogger(__name__)
Key = tuple[str, str]

# Where this request's last region lookup was answered from: "cache", "stale"
# (inventory unreachable, served as last seen), "shared" (another request's
# lookup), or the backend asked ("aai", "sqlite", "postgresql"). Logged with
# the routing decision; set on every answer of CachedInventory.get.
SOURCE: contextvars.ContextVar[str] = contextvars.ContextVar("inventory_source", default="")


def backend_name(inventory: object) -> str:
    """aai, sqlite or postgresql: the module the backend's class lives in
    (or the `backend` a wrapper names)."""
    return getattr(inventory, "backend", None) or type(inventory).__module__.rsplit(".", 1)[-1]


def inventory_source(inventory: object) -> str:
    """Where `inventory` answered this request's last lookup from."""
    if isinstance(inventory, CachedInventory):
        return SOURCE.get() or "cache"
    return backend_name(inventory)


def _answered(source: str, result: str) -> None:
    SOURCE.set(source)
    metrics.cache_lookup(result)


@dataclass
class _Entry:
    region: CloudRegion
    fresh_until: float  # served without asking until then
    stale_until: float  # served while the inventory is unreachable until then


class _Lookup:
    """One lookup in flight, and what it found (or the error it raised)."""

    def __init__(self) -> None:
        self.done = threading.Event()  # a green event once eventlet has patched threading
        self.region: CloudRegion | None = None
        self.error: BaseException | None = None
        self.waiters = 0

    def outcome(self) -> CloudRegion:
        self.waiters += 1
        self.done.wait()
        if self.error is not None:
            raise _fresh(self.error)
        assert self.region is not None
        return self.region


class CachedInventory:
    """Remembers found regions for `ttl` seconds (see the module's note)."""

    def __init__(self, inner: Inventory, ttl: float, stale_ttl: float = 0.0,
                 negative_ttl: float = 0.0, max_entries: int = 10000,
                 clock: Callable[[], float] = time.monotonic,
                 log_interval: float = LOG_INTERVAL):
        self._inner = inner
        self._ttl = ttl
        self._stale_ttl = max(ttl, stale_ttl)
        self._negative_ttl = negative_ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[Key, _Entry] = {}
        self._unknown: dict[Key, tuple[float, NotFound]] = {}
        self._in_flight: dict[Key, _Lookup] = {}
        self._log = LogThrottle(log_interval, clock)
        # Green threads switch only on I/O, but any WSGI server may host the
        # app (wsgi.py), threads included: claiming a lookup must be atomic.
        self._claim = threading.Lock()

    def check(self) -> None:
        self._inner.check()

    def close(self) -> None:
        """Release the inner inventory's connections, if it holds any."""
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()

    def waiters(self, owner: str, region: str) -> int:
        """Requests waiting for the lookup of this region now (observability)."""
        lookup = self._in_flight.get((owner, region))
        return lookup.waiters if lookup is not None else 0

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        key = (owner, region)
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit.fresh_until > now:
            _answered("cache", "hit")
            return hit.region
        unknown = self._unknown.get(key)
        if unknown is not None and unknown[0] > now:
            _answered("cache", "negative")
            raise _fresh(unknown[1])
        with self._claim:
            running = self._in_flight.get(key)
            if running is None:
                lookup = self._in_flight[key] = _Lookup()
        if running is not None:
            # Held entries are served while their refresh runs (one lookup's
            # duration); an outage past stale_until drops them (_ride_out).
            _answered(*(("cache", "hit") if hit is not None else ("shared", "shared")))
            return hit.region if hit is not None else running.outcome()
        _answered(backend_name(self._inner), "miss")
        return self._look_up(key, lookup, transaction_id)

    def _look_up(self, key: Key, lookup: _Lookup, transaction_id: str) -> CloudRegion:
        try:
            lookup.region = self._refresh(key, transaction_id)
            return lookup.region
        except Exception as exc:  # shared with the waiters, then raised here too
            lookup.error = exc
            raise
        except BaseException:  # this green thread was killed (client gone): not theirs
            lookup.error = InventoryUnreachable("inventory lookup interrupted; try again")
            raise
        finally:
            del self._in_flight[key]
            lookup.done.set()

    def _refresh(self, key: Key, transaction_id: str) -> CloudRegion:
        try:
            found = self._inner.get(key[0], key[1], transaction_id)
        except InventoryUnreachable as exc:
            return self._ride_out(key, exc)
        except InventoryRefused as exc:
            if self._log.allow("refused"):
                LOG.error("configuration error: %s", exc.message)
            raise
        except NotFound as exc:  # unknown or unusable: gone from the cache too
            self._entries.pop(key, None)
            if self._negative_ttl > 0:
                self._bound(self._unknown)
                self._unknown[key] = (self._clock() + self._negative_ttl, exc)
            raise
        except Exception:
            self._entries.pop(key, None)
            raise
        now = self._clock()
        self._unknown.pop(key, None)
        self._bound(self._entries)
        self._entries[key] = _Entry(found, now + self._ttl, now + self._stale_ttl)
        return found

    def _ride_out(self, key: Key, exc: InventoryUnreachable) -> CloudRegion:
        """The region as last seen, if seen recently enough; else the outage's 503."""
        now = self._clock()
        hit = self._entries.get(key)
        if hit is None or hit.stale_until <= now:
            self._entries.pop(key, None)
            if self._log.allow(("unseen", key)):
                LOG.warning("%s; region %s/%s not seen in the last %g s: answering 503",
                            exc.message, key[0], key[1], self._stale_ttl)
            raise InventoryUnreachable(f"{exc.message}; cloud region {key[0]}/{key[1]} "
                                       "not seen recently by this broker") from None
        # Ask again one ttl later, not on every request, while the outage lasts.
        hit.fresh_until = min(now + self._ttl, hit.stale_until)
        _answered("stale", "stale")
        if self._log.allow(("stale", key)):
            LOG.warning("%s; serving cloud region %s/%s as last seen %.0f s ago "
                        "(for at most %g s)", exc.message, key[0], key[1],
                        now - (hit.stale_until - self._stale_ttl), self._stale_ttl)
        return hit.region

    def _bound(self, table: dict) -> None:
        if len(table) >= self._max:
            table.clear()  # crude bound; regions are few in practice


def _fresh(exc: BaseException) -> BaseException:
    # The same exception object is raised to many requests: drop the traceback
    # it collected last time, or it would grow with every raise.
    return exc.with_traceback(None)
