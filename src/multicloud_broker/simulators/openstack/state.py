"""The simulated cloud's state: every service's records in memory under one
lock, the clock, and the transitions due later (a server going ACTIVE, a
volume going available, a deleted stack going away).

Transitions are scheduled events run in time order by `tick()`, which each
request calls under the lock before it reads or writes anything, so every
answer sees every transition due by then; a clock greenlet ticks too
(Cloud.tick_forever), so chains of transitions move on between requests.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

LOG = logging.getLogger(__name__)


@dataclass
class SimConfig:
    """What the simulated cloud looks like; the command line sets it."""

    region: str = "RegionOne"
    build_seconds: float = 0.5     # BUILD -> ACTIVE, creating -> available, stacks
    delete_seconds: float = 0.2    # how long deleting things stay visible
    hypervisors: int = 2
    hypervisor_vcpus: int = 64
    hypervisor_memory_mb: int = 262144
    hypervisor_disk_gb: int = 4096
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.5
    disk_allocation_ratio: float = 1.0
    availability_zones: tuple[str, ...] = ("nova",)
    # Nova's, Cinder's and Neutron's own defaults.
    compute_quota: dict[str, int] = field(default_factory=lambda: {
        "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128,
        "key_pairs": 100, "server_groups": 10, "server_group_members": 10,
        "injected_files": 5, "injected_file_content_bytes": 10240,
        "injected_file_path_bytes": 255})
    volume_quota: dict[str, int] = field(default_factory=lambda: {
        "volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10,
        "backup_gigabytes": 1000, "per_volume_gigabytes": -1, "groups": 10})
    network_quota: dict[str, int] = field(default_factory=lambda: {
        "network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
        "security_group": 10, "security_group_rule": 100, "subnetpool": -1,
        "rbac_policy": 10})
    image_dir: str | None = None  # where uploaded image data goes (None: a temporary one)


class Store:
    """All records, one lock. Services keep their own tables in `tables`."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time):
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self._seq = itertools.count(1)
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self.tables: dict[str, dict] = {}
        self._tick_hooks: list[Callable[[], None]] = []

    def table(self, name: str) -> dict:
        return self.tables.setdefault(name, {})

    def seq(self) -> int:
        """A number growing with each call: creation order, tie-breaker."""
        return next(self._seq)

    def now(self) -> float:
        return self.clock()

    def later(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` (under the lock) at the first tick `delay` seconds from now."""
        heapq.heappush(self._events, (self.clock() + max(delay, 0.0), self.seq(), action))

    def on_tick(self, hook: Callable[[], None]) -> None:
        """Run `hook` at every tick, after the due events (derived states)."""
        self._tick_hooks.append(hook)

    def tick(self) -> None:
        """Run every event due by now, in time order. Call with the lock held."""
        now = self.clock()
        while self._events and self._events[0][0] <= now:
            _, _, action = heapq.heappop(self._events)
            try:
                action()
            except Exception:  # one broken transition must not fail every request
                LOG.exception("a scheduled transition failed")
        for hook in self._tick_hooks:
            hook()

    def clear(self) -> None:
        """Forget everything (the caller seeds again)."""
        self.tables.clear()
        self._events.clear()
        self._tick_hooks.clear()


def iso(ts: float, micro: bool = False, zulu: bool = True) -> str:
    """ISO 8601 in UTC the way the services write it: Nova/Neutron/Glance/Heat
    "2025-01-02T03:04:05Z", Cinder "2025-01-02T03:04:05.000000"."""
    moment = datetime.fromtimestamp(ts, timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f" if micro else "%Y-%m-%dT%H:%M:%S")
    return text + ("Z" if zulu else "")
