"""A per-worker cache of region lookups with a time to live.

Under load a worker has hundreds of requests in flight. Without care, the
moment an entry expires every one of them would ask the inventory (A&AI) at
once for the same region. So there is at most one lookup per region in
flight: while it runs, requests that find an expired entry are answered
from it (the region changed at most a lookup's duration ago), and requests
that find none wait for the lookup and share its result or its error.
"""

from __future__ import annotations

import threading
import time

from multicloud_broker.inventory import CloudRegion, Inventory

Key = tuple[str, str]


class _Lookup:
    """One lookup in flight, and what it found (or the error it raised)."""

    def __init__(self) -> None:
        self.done = threading.Event()  # a green event once eventlet has patched threading
        self.region: CloudRegion | None = None
        self.error: BaseException | None = None

    def outcome(self) -> CloudRegion:
        self.done.wait()
        if self.error is not None:
            raise self.error
        assert self.region is not None
        return self.region


class CachedInventory:
    """Remembers found regions for `ttl` seconds; misses are not cached."""

    def __init__(self, inner: Inventory, ttl: float, max_entries: int = 10000):
        self._inner = inner
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[Key, tuple[float, CloudRegion]] = {}
        self._in_flight: dict[Key, _Lookup] = {}
        # Green threads switch only on I/O, but any WSGI server may host the
        # app (wsgi.py), threads included: claiming a lookup must be atomic.
        self._claim = threading.Lock()

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        key = (owner, region)
        hit = self._entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        with self._claim:
            running = self._in_flight.get(key)
            if running is None:
                lookup = self._in_flight[key] = _Lookup()
        if running is not None:
            return hit[1] if hit is not None else running.outcome()
        return self._look_up(key, lookup, transaction_id)

    def _look_up(self, key: Key, lookup: _Lookup, transaction_id: str) -> CloudRegion:
        try:
            lookup.region = self._inner.get(key[0], key[1], transaction_id)
        except BaseException as exc:  # shared with the waiters, then raised here too
            lookup.error = exc
            self._entries.pop(key, None)  # gone or unreachable: stop serving the old entry
            raise
        else:
            self._store(key, lookup.region)
            return lookup.region
        finally:
            del self._in_flight[key]
            lookup.done.set()

    def _store(self, key: Key, found: CloudRegion) -> None:
        if len(self._entries) >= self._max:
            self._entries.clear()  # crude bound; regions are few in practice
        self._entries[key] = (time.monotonic() + self._ttl, found)
