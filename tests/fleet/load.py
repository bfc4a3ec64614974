"""A bounded client for the fleet test: N threads, each on its own kept-alive
connection, each request with an id of its own, every outcome recorded."""

from __future__ import annotations

import http.client
import itertools
import json
import threading
from dataclasses import dataclass, field

from tests.support.upstreams import LOCALHOST


@dataclass
class Outcome:
    request_id: str
    path: str
    status: int | None = None
    error: str = ""
    echoed_path: str = ""


@dataclass
class FleetLoad:
    """`connections` threads POSTing to `counted_path(id)` (a plugin that records
    every request it gets) and, every `side_every`-th request, GETting
    `side_path` (another upstream), until stopped."""

    port: int
    counted_path: str  # a format string with {id}
    side_path: str
    connections: int = 100
    side_every: int = 10
    timeout: float = 20.0
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ids = itertools.count()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True)
                         for n in range(self.connections)]

    @property
    def answered(self) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.status is not None)

    def failures(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.status != 200 or o.error]

    def _client(self, number: int) -> None:
        conn = http.client.HTTPConnection(LOCALHOST, self.port, timeout=self.timeout)
        try:
            while not self._stop.is_set():
                n = next(self._ids)
                side = n % self.side_every == 0
                outcome = self._one(conn, n, side)
                with self._lock:
                    self.outcomes.append(outcome)
                if outcome.error:  # a broken connection is not reused
                    conn.close()
                    conn = http.client.HTTPConnection(LOCALHOST, self.port,
                                                      timeout=self.timeout)
        finally:
            conn.close()

    def _one(self, conn: http.client.HTTPConnection, n: int, side: bool) -> Outcome:
        request_id = f"fleet-{n}"
        path = self.side_path if side else self.counted_path.format(id=request_id)
        outcome = Outcome(request_id, path)
        try:
            if side:
                conn.request("GET", path, headers={"X-TransactionID": request_id})
            else:
                conn.request("POST", path, body=json.dumps({"id": request_id}).encode(),
                             headers={"X-TransactionID": request_id,
                                      "Content-Type": "application/json"})
            reply = conn.getresponse()
            body = reply.read()
            outcome.status = reply.status
            if reply.status != 200:
                outcome.error = body[:300].decode(errors="replace")
            elif not side:
                # The plugin echoes what it received: this answer is this request's.
                outcome.echoed_path = json.loads(body)["path"]
        except (OSError, http.client.HTTPException, ValueError) as exc:
            outcome.error = repr(exc)
        return outcome

    def __enter__(self) -> "FleetLoad":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
