"""Faults that tests inject through `POST /_sim/faults` (see the package docstring).

Transport faults hit the requests of one service:

- ``status``: answer `status` (default 500) in the service's error shape,
  before the request is handled (nothing changes);
- ``garbage``: answer `status` (default 200) with a body that is not JSON
  (Content-Type says JSON);
- ``hang``: never answer; the connection is closed when the fault is cleared
  (or `seconds` pass, default 3600);
- ``reset``: reset the connection (TCP RST) without answering;
- ``truncate``: handle the request, then send its answer's head with the real
  Content-Length and only part of the body (`bytes`, default half), then close;
- ``trickle``: handle the request, then send its answer `chunk` bytes (default
  1) every `interval` seconds (default 0.2).

Behaviour faults change what the next create does:

- ``server_error``: the next server created goes BUILD then ERROR (fault
  message `message`);
- ``stack_failed``: the next stack goes CREATE_IN_PROGRESS then CREATE_FAILED
  with `reason`;
- ``quota_exceeded``: the next server create is refused with `status` 403
  (Nova's `forbidden`, the default) or 413 (`overLimit`), or with
  `service` "volume" the next volume create with Cinder's 413;
- ``image_stuck``: the next image uploaded stays `saving`, never `active`;
- ``volume_error``: the next volume created goes creating then `error`;
- ``delete_stuck``: the next delete is accepted but never done: a server
  stays ``task_state`` deleting (service "compute", the default), a volume
  ``deleting`` ("volume"), a stack DELETE_IN_PROGRESS ("orchestration"),
  until a delete asked again while no such fault is in force.

Every fault applies `count` times (default 1; null: until cleared).
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from multicloud_broker.simulators.openstack.web import ApiError

SERVICES = ("compute", "network", "image", "volume", "orchestration")
ALIASES = {"nova": "compute", "neutron": "network", "glance": "image", "cinder": "volume",
           "block-storage": "volume", "volumev3": "volume", "heat": "orchestration"}
TRANSPORT = ("status", "garbage", "hang", "reset", "truncate", "trickle")
# behaviour -> the service it belongs to by default
BEHAVIOUR = {"server_error": "compute", "stack_failed": "orchestration",
             "quota_exceeded": "compute", "image_stuck": "image", "volume_error": "volume",
             "delete_stuck": "compute"}


@dataclass
class Fault:
    id: int
    kind: str
    service: str
    remaining: int | None
    status: int = 500
    message: str | None = None
    method: str | None = None
    path: re.Pattern | None = None
    seconds: float = 3600.0
    interval: float = 0.2
    chunk: int = 1
    cut_bytes: int | None = None
    hits: int = 0
    spec: dict = field(default_factory=dict)

    def matches(self, service: str, method: str, path: str) -> bool:
        return (self.service == service
                and (self.method is None or self.method == method)
                and (self.path is None or self.path.search(path) is not None))

    def describe(self) -> dict:
        return {"id": self.id, "kind": self.kind, "service": self.service,
                "remaining": self.remaining, "hits": self.hits, **self.spec}


def service_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ApiError(400, "service must be a string")
    name = ALIASES.get(name, name)
    if name not in SERVICES:
        raise ApiError(400, f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    return name


class Faults:
    """The faults in force; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        # Bumped by clear(): hung requests watch it to let go.
        self.generation = 0

    def add(self, spec: dict) -> Fault:
        kind = spec.get("kind")
        if kind not in TRANSPORT and kind not in BEHAVIOUR:
            raise ApiError(400, f"unknown fault kind {kind!r}; one of "
                                f"{', '.join(TRANSPORT + tuple(BEHAVIOUR))}")
        if kind in TRANSPORT:
            if "service" not in spec:
                raise ApiError(400, f"a {kind} fault needs a service")
            service = service_name(spec["service"])
        else:
            service = service_name(spec.get("service", BEHAVIOUR[kind]))
        count = spec.get("count", 1)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)
                                  or count < 1):
            raise ApiError(400, "count must be a positive integer or null")
        status = spec.get("status", {"quota_exceeded": 403, "garbage": 200}.get(kind, 500))
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ApiError(400, "status must be an HTTP status code")
        if kind == "quota_exceeded" and status not in (403, 413):
            raise ApiError(400, "a quota_exceeded fault answers 403 or 413")
        path = spec.get("path")
        try:
            pattern = re.compile(path) if path else None
        except (re.error, TypeError):
            raise ApiError(400, "path must be a regular expression") from None
        method = spec.get("method")
        message = spec.get("message", spec.get("reason"))
        fault = Fault(
            id=next(self._ids), kind=kind, service=service, remaining=count, status=status,
            message=str(message) if message is not None else None,
            method=method.upper() if isinstance(method, str) else None, path=pattern,
            seconds=_number(spec, "seconds", 3600.0), interval=_number(spec, "interval", 0.2),
            chunk=max(1, int(_number(spec, "chunk", 1))),
            cut_bytes=int(_number(spec, "bytes", -1)) if "bytes" in spec else None,
            spec={k: v for k, v in spec.items() if k not in ("kind", "service", "count")})
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, kinds: tuple[str, ...] | dict, service: str, method: str = "",
             path: str = "") -> Fault | None:
        """The first fault of one of `kinds` matching, used once."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(service, method or fault.method or "",
                                                         path):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def take_transport(self, service: str, method: str, path: str) -> Fault | None:
        return self.take(TRANSPORT, service, method, path)

    def take_behaviour(self, kind: str, service: str | None = None) -> Fault | None:
        return self.take((kind,), service or BEHAVIOUR[kind])

    def clear(self, fault_id: int | None = None) -> bool:
        with self._lock:
            before = len(self._faults)
            if fault_id is None:
                self._faults.clear()
            else:
                self._faults = [f for f in self._faults if f.id != fault_id]
            self.generation += 1
            return len(self._faults) != before

    def listing(self) -> list[dict]:
        with self._lock:
            return [fault.describe() for fault in self._faults]


def _number(spec: dict, name: str, default: float) -> float:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ApiError(400, f"{name} must be a non-negative number")
    return float(value)
