"""Where cloud regions are looked up: the embedded SQLite file or ONAP A&AI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from multicloud_broker.core.errors import NotFound


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


class Inventory(Protocol):
    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        """The region; RegionNotFound, or ServiceUnavailable if unreachable."""
