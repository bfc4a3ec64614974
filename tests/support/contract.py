"""Assertions shared by the HTTP contract tests."""

from __future__ import annotations

import json
from typing import Any

from tests.support.client import Reply, request

HOP_BY_HOP = ("connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "te", "trailers", "trailer", "transfer-encoding", "upgrade")


def call(base_url: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | list[tuple[str, str]] | None = None,
         json_body: Any = None, **kwargs: Any) -> Reply:
    """One request to the broker; every answer is checked to carry no stack trace."""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        items.append(("Content-Type", "application/json"))
        headers = items
    reply = request(base_url, method, path, body=body, headers=headers, **kwargs)
    assert_no_traceback(reply)
    return reply


def assert_no_traceback(reply: Reply) -> None:
    assert b"Traceback" not in reply.body, reply
    assert b"File \"/" not in reply.body, reply


def assert_json_error(reply: Reply, status: int | tuple[int, ...]) -> str:
    """The reply is the broker's own error: status, JSON {"error": str}; returns the text."""
    statuses = (status,) if isinstance(status, int) else status
    assert reply.status in statuses, reply
    assert reply.content_type == "application/json", reply
    payload = reply.json()
    assert isinstance(payload, dict) and "error" in payload, reply
    assert isinstance(payload["error"], str) and payload["error"], reply
    assert_no_traceback(reply)
    return payload["error"]


def assert_method_not_allowed(reply: Reply, allowed: set[str], method: str) -> None:
    """405, JSON error, Allow naming exactly the allowed methods."""
    assert reply.status == 405, reply
    assert reply.allow() == allowed, reply
    if method != "HEAD":
        assert_json_error(reply, 405)
