"""What a region has, what is allocated, and what is left.

A region's totals are the operator's (--total-vcpus, ...); servers, volumes
and workloads allocate from them.  capacity_check, limits, hosts and the
create calls all read the same numbers, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from multicloud_broker.fakecloud.store import Doc
from multicloud_broker.fakecloud.web import Ctx, HTTPError

COMPUTE_HOST = "compute-0"
AZ = "nova"


@dataclass(frozen=True)
class Amount:
    # Stored amounts are whole numbers; a capacity request may ask for 1.5 GB.
    vcpus: float = 0
    memory_mb: float = 0
    storage_gb: float = 0

    def __add__(self, other: "Amount") -> "Amount":
        return Amount(self.vcpus + other.vcpus, self.memory_mb + other.memory_mb,
                      self.storage_gb + other.storage_gb)

    def __sub__(self, other: "Amount") -> "Amount":
        return Amount(self.vcpus - other.vcpus, self.memory_mb - other.memory_mb,
                      self.storage_gb - other.storage_gb)

    def fits_in(self, other: "Amount") -> bool:
        return (self.vcpus <= other.vcpus and self.memory_mb <= other.memory_mb
                and self.storage_gb <= other.storage_gb)


def from_alloc(alloc: Doc) -> Amount:
    return Amount(alloc["vcpus"], alloc["memory_mb"], alloc["storage_gb"])


def total(ctx: Ctx) -> Amount:
    s = ctx.settings
    return Amount(s.total_vcpus, s.total_memory_mb, s.total_storage_gb)


def allocated(ctx: Ctx, tenant: str | None = None) -> Amount:
    """Allocated in the region (or by one tenant): servers, volumes, workloads."""
    used = Amount()
    for server in ctx.store.find(ctx.region, "servers", tenant):
        used += from_alloc(server["_alloc"])
    for volume in ctx.store.find(ctx.region, "volumes", tenant):
        used += Amount(storage_gb=volume["volumeSize"])
    for workload in ctx.store.find(ctx.region, "workloads", tenant):
        if not workload.get("_failed"):
            used += from_alloc(workload["_alloc"])
    return used


def available(ctx: Ctx) -> Amount:
    return total(ctx) - allocated(ctx)


def require(ctx: Ctx, wanted: Amount) -> None:
    """403 as Nova's quota check answers when `wanted` does not fit."""
    free = available(ctx)
    for label, need, left in (("cores", wanted.vcpus, free.vcpus),
                              ("ram", wanted.memory_mb, free.memory_mb),
                              ("disk", wanted.storage_gb, free.storage_gb)):
        if need > left:
            raise HTTPError(403, f"Quota exceeded for {label}: requested {need}, "
                                 f"available {left}")


def az_info(ctx: Ctx) -> Doc:
    """The AZinfo of the capacity-check specification (memory in GB)."""
    tot, free = total(ctx), available(ctx)
    return {
        "availability-zone-name": AZ,
        "vCPUTotal": tot.vcpus, "MemoryTotal": tot.memory_mb / 1024,
        "StorageTotal": tot.storage_gb,
        "vCPUAvail": free.vcpus, "MemoryAvail": free.memory_mb / 1024,
        "StorageAvail": free.storage_gb,
    }
