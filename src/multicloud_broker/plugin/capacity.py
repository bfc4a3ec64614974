"""capacity_check: whether the region can host `{"vCPU", "Memory", "Storage"}`,
answered from the cloud itself.

vCPUs and memory: what the project's Nova limits leave (`/limits`), bounded
by what the hypervisors leave (`/os-hypervisors/detail`, summed: the same
numbers as the statistics call, which Nova 2.88 removed, plus the per-host
ones the AZs need). Storage: what the project's Cinder limits leave; Cinder's
volumes come from its backends, not the hypervisors' local disks, so those
do not bound it. Memory and Storage are asked in GB, as the broker and ONAP's
capacity API ask them; Nova counts memory in MB.

The answer is `{"result": bool, "AZs": [...]}`, each AZ with its hypervisors'
totals and what is free (`availability-zone-name`, `vCPUAvail`, `vCPUTotal`,
`MemoryAvail`, `MemoryTotal` in GB, `StorageAvail`, `StorageTotal` in GB).
A user who may not read hypervisors (Nova's 403) gets the quota's answer and
no AZs, as ONAP's plugin does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multicloud_broker.core.errors import BadGateway, BadRequest
from multicloud_broker.core.http import Request, Response
from multicloud_broker.plugin.openstack.sessions import RegionSession
from multicloud_broker.plugin.resources import CloudRefused

RESOURCES = ("vCPU", "Memory", "Storage")
BODY_LIMIT = 64 * 1024
UNLIMITED = float("inf")
# Block storage under the names catalogs use for it, newest first.
VOLUME_SERVICES = ("block-storage", "volumev3", "volumev2")


@dataclass(frozen=True)
class Room:
    """vCPUs, memory (MB) and storage (GB)."""

    vcpus: float
    memory_mb: float
    storage_gb: float


def check(session: RegionSession, request: Request) -> Response:
    """200 `{"result": ..., "AZs": [...]}` for the request's demand."""
    wanted = demand(request.read_json(BODY_LIMIT))
    hosts = _hypervisors(session)
    quota = _nova_room(session)
    storage = _cinder_room(session)
    vcpus, memory_mb = quota.vcpus, quota.memory_mb
    if hosts is not None:
        vcpus = min(vcpus, sum(h["vcpus"] - h["vcpus_used"] for h in hosts))
        memory_mb = min(memory_mb, sum(_free_ram(h) for h in hosts))
    fits = (wanted.vcpus <= vcpus and wanted.memory_mb <= memory_mb
            and wanted.storage_gb <= storage)
    zones = _zones(session, hosts) if hosts is not None else []
    return Response.json(200, {"result": fits, "AZs": zones})


def demand(body: Any) -> Room:
    """The demand of a request body; BadRequest naming a field that is not a
    number of at least 0 (a missing one asks for none)."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    values = {}
    for name in RESOURCES:
        value = body.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise BadRequest(f"{name}: must be a number of at least 0")
        values[name] = value
    return Room(values["vCPU"], values["Memory"] * 1024, values["Storage"])


def _nova_room(session: RegionSession) -> Room:
    absolute = _limits(session, "compute")
    return Room(_left(absolute, "maxTotalCores", "totalCoresUsed"),
                _left(absolute, "maxTotalRAMSize", "totalRAMUsed"), UNLIMITED)


def _cinder_room(session: RegionSession) -> float:
    service = _volume_service(session)
    return _left(_limits(session, service), "maxTotalVolumeGigabytes", "totalGigabytesUsed")


def _volume_service(session: RegionSession) -> str:
    for service in VOLUME_SERVICES:
        try:
            session.endpoint(service)
            return service
        except BadGateway:  # not in this catalog: try its older name
            continue
    raise BadGateway(f"cloud region {session.name}: its catalog has no block storage")


def _limits(session: RegionSession, service: str) -> dict:
    answer = session.call(service, "GET", "/limits")
    _refused(session, service, answer)
    absolute = (answer.json_object().get("limits") or {}).get("absolute")
    if not isinstance(absolute, dict):
        raise BadGateway(f"cloud region {session.name}: {service}'s limits have no "
                         "absolute limits")
    return absolute


def _left(absolute: dict, limit: str, used: str) -> float:
    """What a limit leaves; a negative limit (or none) is unlimited."""
    most, taken = absolute.get(limit), absolute.get(used) or 0
    if not isinstance(most, (int, float)) or most < 0:
        return UNLIMITED
    return most - taken


def _hypervisors(session: RegionSession) -> list[dict] | None:
    """The hypervisors with their numbers; None if the user may not see them."""
    answer = session.call("compute", "GET", "/os-hypervisors/detail")
    if answer.status_code == 403:
        return None
    _refused(session, "compute", answer)
    found = answer.json_object().get("hypervisors") or []
    return [h for h in found if isinstance(h, dict) and isinstance(h.get("vcpus"), int)
            and h.get("status", "enabled") == "enabled"]


def _zones(session: RegionSession, hosts: list[dict]) -> list[dict]:
    """Each availability zone with the totals of its hypervisors."""
    answer = session.call("compute", "GET", "/os-availability-zone/detail")
    if answer.status_code == 403:
        return []
    _refused(session, "compute", answer)
    zones = []
    for zone in answer.json_object().get("availabilityZoneInfo") or []:
        names = set((zone.get("hosts") or {}) if isinstance(zone, dict) else ())
        mine = [h for h in hosts if _host_of(h) in names]
        if mine:
            zones.append(_zone_doc(zone["zoneName"], mine))
    return zones


def _zone_doc(name: str, hosts: list[dict]) -> dict:
    def total(key: str) -> int:
        return sum(h.get(key) or 0 for h in hosts)
    return {"availability-zone-name": name,
            "vCPUTotal": total("vcpus"), "vCPUAvail": total("vcpus") - total("vcpus_used"),
            "MemoryTotal": total("memory_mb") / 1024,
            "MemoryAvail": sum(_free_ram(h) for h in hosts) / 1024,
            "StorageTotal": total("local_gb"),
            "StorageAvail": sum(_free_disk(h) for h in hosts)}


def _host_of(hypervisor: dict) -> str | None:
    service = hypervisor.get("service")
    host = service.get("host") if isinstance(service, dict) else None
    return host or hypervisor.get("hypervisor_hostname")


def _free_ram(h: dict) -> int:
    return h.get("free_ram_mb", h.get("memory_mb", 0) - h.get("memory_mb_used", 0))


def _free_disk(h: dict) -> int:
    return h.get("free_disk_gb", h.get("local_gb", 0) - h.get("local_gb_used", 0))


def _refused(session: RegionSession, service: str, answer: Any) -> None:
    if answer.status_code >= 400:
        raise CloudRefused(answer.status_code, f"cloud region {session.name}: {service} "
                           f"answered {answer.status_code} to a capacity query")
