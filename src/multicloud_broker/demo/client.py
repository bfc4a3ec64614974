"""What a demo needs to talk to the broker: JSON calls that turn every fault
into one readable line (Failure), and numbered steps printed as they finish."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import urllib3


class Failure(Exception):
    """A step did not do what it should; the message says what and why."""


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any


class Api:
    """JSON calls to `{broker}/api/{prefix}/...`; transport faults are Failures."""

    def __init__(self, broker: str, prefix: str, timeout: float) -> None:
        self.broker = broker.rstrip("/")
        self.prefix = prefix
        self.token: str | None = None
        # The token's catalog: service type -> its public URL (through the broker).
        self.endpoints: dict[str, str] = {}
        self.http = urllib3.PoolManager(
            retries=False, timeout=urllib3.Timeout(connect=5.0, read=timeout))
        # Calls made and seconds spent waiting on their answers (the rest of a
        # run is the demo's own waiting: polls while servers build).
        self.calls, self.waited = 0, 0.0

    def call(self, method: str, path: str, body: Any = None,
             expect: tuple[int, ...] = (200,)) -> Answer:
        return self.call_url(method, f"{self.broker}/api/{self.prefix}/{path}", body, expect)

    def call_url(self, method: str, url: str, body: Any = None,
                 expect: tuple[int, ...] = (200,)) -> Answer:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        began = time.monotonic()
        try:
            resp = self.http.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise Failure(f"cannot reach the broker at {self.broker}: {_reason(exc)}") from None
        finally:
            self.calls += 1
            self.waited += time.monotonic() - began
        answer = Answer(resp.status, _json(resp.data), resp.headers)
        if resp.status not in expect:
            raise Failure(f"{method} {url} answered HTTP {resp.status}: {message(answer.body)}")
        return answer


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "refused" in text.lower():
        return "connection refused (is it running?)"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "no answer in time"
    return text.split(": ", 1)[-1] if "object at 0x" in text else text


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode("utf-8", "replace")[:200]


def message(body: Any) -> str:
    """The error of an answer's body, or the body itself, shortened."""
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return json.dumps(body)[:300] if body is not None else "(no body)"


def field(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise Failure(f"the answer has no {key}: {json.dumps(body)[:200]}")
    return body[key]


def items(body: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise Failure(f"the answer has no {key} list: {json.dumps(body)[:200]}")
    return body[key]


class Steps:
    """Numbered steps printed as they finish."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.count = out, 0

    def run(self, title: str, action: Callable[[], Any],
            outcome: Callable[[Any], str] = lambda _: "ok") -> Any:
        self.count += 1
        try:
            result = action()
        except Failure as exc:
            self.say(f"[{self.count:2d}] {title}: FAILED - {exc}")
            raise
        self.say(f"[{self.count:2d}] {title}: {outcome(result)}")
        return result

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)
