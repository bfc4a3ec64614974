"""check_vim_capacity: ask every listed VIM's plugin at once, keep the yeses."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from multicloud_broker.core.errors import ApiError, BadRequest

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


class CapacityFanOut:
    """Runs one check per VIM concurrently, bounded by an overall timeout."""

    def __init__(self, timeout: float, max_parallel: int = 64):
        self.timeout = timeout
        self._max_parallel = max_parallel
        self._pool: ThreadPoolExecutor | None = None

    def run(self, checks: list[Callable[[], Any]]) -> list[Any]:
        """Each check's result, or None where it failed or ran out of time."""
        if not checks:
            return []
        # Created on first use, so that each forked worker has its own threads
        # (green threads once eventlet has patched `threading`).
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._max_parallel, "capacity")
        # Each check runs in a copy of this request's context (its log lines
        # carry the request's transaction id).
        futures = [self._pool.submit(contextvars.copy_context().run, check)
                   for check in checks]
        wait(futures, timeout=self.timeout)
        results = []
        for future in futures:
            if future.done() and future.exception() is None:
                results.append(future.result())
            else:
                if future.done():
                    _log_failure(future.exception())
                future.cancel()
                results.append(None)
        return results


def _log_failure(exc: BaseException | None) -> None:
    if isinstance(exc, ApiError):
        LOG.info("capacity check skipped a VIM: %s", exc.message)
    else:
        LOG.info("capacity check failed for a VIM: %r", exc)


def answer_of(status: int, data: bytes) -> dict | None:
    """The plugin's JSON answer when it is 200 with "result": true."""
    if status != 200:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("result") is True else None
