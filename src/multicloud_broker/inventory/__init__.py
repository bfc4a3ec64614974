"""Where cloud regions are looked up: SQLite, PostgreSQL or ONAP A&AI.

The errors below are how an inventory tells the broker what went wrong; each
carries its HTTP status (core.errors), so an error that reaches a request is
answered as JSON, never as a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from multicloud_broker.core.errors import NotFound, ServiceUnavailable

LOG_INTERVAL = 60.0  # seconds between two log lines about the same fault


@dataclass(frozen=True)
class CloudRegion:
    """One VIM as the inventory records it."""

    cloud_owner: str
    cloud_region_id: str
    cloud_type: str
    cloud_region_version: str
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def as_dict(self) -> dict:
        return {"cloud-owner": self.cloud_owner,
                "cloud-region-id": self.cloud_region_id,
                "cloud-type": self.cloud_type,
                "cloud-region-version": self.cloud_region_version}


class RegionNotFound(NotFound):
    def __init__(self, owner: str, region: str):
        super().__init__(f"cloud region {owner}/{region} not found in the inventory")


class IncompleteRegion(NotFound):
    """The inventory has the region but not a usable value of `field_name`.

    404-class: the record must be fixed in the inventory; no plugin is at fault.
    """

    def __init__(self, owner: str, region: str, field_name: str):
        super().__init__(f"cloud region {owner}/{region} has no usable {field_name} "
                         "in the inventory")
        self.field_name = field_name


class RegionExists(Exception):
    """Adding a region that is already there."""


class InventoryError(ServiceUnavailable):
    """The inventory cannot answer (503): every inventory failure derives from it."""


class InventoryUnreachable(InventoryError):
    """A transient fault (down, 5xx, timeout, unreadable answer): regions seen
    before may be served from the cache while it lasts."""


class InventoryRefused(InventoryError):
    """The inventory refused the broker's credentials (401/403): a configuration
    error, not an outage."""


class InventoryConfigError(InventoryError):
    """The configured inventory cannot work at all (bad file, address, schema)."""


class Inventory(Protocol):
    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        """The region; RegionNotFound, or an InventoryError if it cannot say."""

    def check(self) -> None:
        """Raise InventoryConfigError if this inventory cannot work as configured."""


class RegionStore(Inventory, Protocol):
    """An inventory the broker owns and manages itself (sqlite, postgresql)."""

    def list(self) -> list[CloudRegion]: ...

    def add(self, region: CloudRegion) -> None: ...

    def remove(self, owner: str, region: str) -> None: ...

    def put(self, region: CloudRegion) -> bool:
        """Create or replace the region (extra included); True if it was created."""


def usable_region(owner: str, region: str, cloud_type: object, version: object,
                  extra: dict | None = None) -> CloudRegion:
    """A CloudRegion from raw field values; IncompleteRegion names a field that
    is missing, empty or not a scalar (a plugin cannot be chosen without it)."""
    values = {}
    for name, value in (("cloud-type", cloud_type), ("cloud-region-version", version)):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise IncompleteRegion(owner, region, name)
        text = str(value).strip()
        if not text:
            raise IncompleteRegion(owner, region, name)
        values[name] = text
    return CloudRegion(owner, region, values["cloud-type"], values["cloud-region-version"],
                       extra=extra or {})


class LogThrottle:
    """Says yes once per `interval` per key: log lines, not log floods."""

    def __init__(self, interval: float = LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._next: dict[object, float] = {}

    def allow(self, key: object) -> bool:
        now = self._clock()
        if self._next.get(key, 0.0) > now:
            return False
        if len(self._next) > 10000:
            self._next.clear()  # bounded: keys may be region ids
        self._next[key] = now + self._interval
        return True
