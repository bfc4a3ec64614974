"""check_vim_capacity: ask every listed VIM's plugin at once, keep the yeses."""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from multicloud_broker import metrics
from multicloud_broker.core.errors import ApiError, BadRequest, PayloadTooLarge

LOG = logging.getLogger(__name__)
RESOURCES = ("vCPU", "Memory", "Storage")
_NUMBER = (int, float)


def parse_v0(body: Any) -> tuple[dict, list[str]]:
    """(resources, vim ids) of a v0 request body; BadRequest if misshapen."""
    resources = _resources(body)
    vims = body.get("VIMs")
    if not isinstance(vims, list) or not all(isinstance(v, str) for v in vims):
        raise BadRequest('"VIMs" must be a list of vim ids (strings)')
    return resources, vims


def parse_v1(body: Any) -> tuple[dict, list[dict]]:
    """(resources, region objects) of a v1 request body; BadRequest if misshapen."""
    resources = _resources(body)
    vims = body.get("VIMs")
    if not isinstance(vims, list) or not all(_is_region(v) for v in vims):
        raise BadRequest('"VIMs" must be a list of {"cloud-owner", "cloud-region-id"} objects')
    return resources, vims


def _is_region(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("cloud-owner"), str)
            and isinstance(value.get("cloud-region-id"), str))


def _resources(body: Any) -> dict:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    resources = {}
    for name in RESOURCES:
        value = body.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            raise BadRequest(f'"{name}" must be a number')
        resources[name] = value
    return resources


class CheckFailed(Exception):
    """A plugin's capacity answer that is neither yes nor no."""


class CapacityFanOut:
    """Runs one check per VIM, at most `concurrency` at once per request,
    all bounded by an overall timeout.

    Each request gets its own workers (green threads once eventlet has
    patched `threading`): a request listing many VIMs waits for its own
    checks and cannot starve other requests' checks.
    """

    def __init__(self, timeout: float, concurrency: int = 16, max_vims: int = 100):
        self.timeout = timeout
        self.concurrency = concurrency
        self.max_vims = max_vims

    def check_count(self, count: int) -> None:
        """PayloadTooLarge if a request lists more VIMs than allowed."""
        if count > self.max_vims:
            raise PayloadTooLarge(f"check_vim_capacity lists {count} VIMs; "
                                  f"at most {self.max_vims} per request")

    def run(self, checks: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Each named check's result, or None where it failed or ran out of
        time (logged with its reason: a VIM left out of the answer)."""
        names = list(checks)
        metrics.capacity_fan_out(len(names))
        results: dict[str, Any] = dict.fromkeys(names)
        done: set[str] = set()
        todo = iter(names)
        deadline = time.monotonic() + self.timeout

        def worker() -> None:
            for name in todo:  # shared iterator: each name taken once
                if time.monotonic() >= deadline:
                    return
                try:
                    results[name] = checks[name]()
                    metrics.capacity_check("no" if results[name] is None else "yes")
                except Exception as exc:  # noqa: BLE001 - logged, VIM left out
                    _log_failure(name, exc)
                    metrics.capacity_check("failed")
                done.add(name)

        # Each worker runs in a copy of this request's context (its log lines
        # carry the request's transaction id).
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(worker,),
                                    name="capacity", daemon=True)
                   for _ in range(min(self.concurrency, len(names)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for name in names:
            if name not in done:
                LOG.warning("capacity check of %s left out: no answer within "
                            "capacity_timeout (%ss)", name, self.timeout)
                metrics.capacity_check("timeout")
                results[name] = None
        return results


def _log_failure(name: str, exc: BaseException) -> None:
    reason = exc.message if isinstance(exc, ApiError) else f"{type(exc).__name__}: {exc}"
    LOG.warning("capacity check of %s left out: %s", name, reason)


def answer_of(status: int, data: bytes) -> dict | None:
    """The plugin's JSON answer if "result" is true, None if false;
    CheckFailed if the plugin did not answer yes or no."""
    if status != 200:
        raise CheckFailed(f"plugin answered {status}")
    try:
        doc = json.loads(data)
    except ValueError:
        raise CheckFailed("plugin answer is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("result"), bool):
        raise CheckFailed('plugin answer has no boolean "result"')
    return doc if doc["result"] else None
