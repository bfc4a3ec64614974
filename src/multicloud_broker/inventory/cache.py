"""A per-worker cache of region lookups with a time to live."""

from __future__ import annotations

import time

from multicloud_broker.inventory import CloudRegion, Inventory


class CachedInventory:
    """Remembers found regions for `ttl` seconds; misses are not cached."""

    def __init__(self, inner: Inventory, ttl: float, max_entries: int = 10000):
        self._inner = inner
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[tuple[str, str], tuple[float, CloudRegion]] = {}

    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        key = (owner, region)
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self._inner.get(owner, region, transaction_id)
        if len(self._entries) >= self._max:
            self._entries.clear()  # crude bound; regions are few in practice
        self._entries[key] = (now + self._ttl, found)
        return found
