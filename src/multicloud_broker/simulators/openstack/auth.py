"""Token validation against the real Keystone, as keystonemiddleware does it.

Each token is checked with `GET /v3/auth/tokens` (`X-Subject-Token`),
authenticated by the simulator's own admin session, and the answer is cached
(bounded, least recently used out first) until `cache_seconds` have passed or
shortly before the token expires, whichever comes first. An invalid token is
remembered for a short while too, so a client retrying with a bad token does not
hammer Keystone. Like keystonemiddleware's cache, a token revoked after it was
cached keeps working until its entry goes: `flush()` (the `/_sim/tokens` reset)
empties the cache.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LOG = logging.getLogger(__name__)

# Keep a validation no closer than this to the token's expiry.
EXPIRY_MARGIN_SECONDS = 30.0
# How long an invalid token is remembered.
NEGATIVE_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class AuthContext:
    """Who a valid token speaks for."""

    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    expires_at: float  # Unix time

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class KeystoneUnavailable(Exception):
    """Keystone could not say whether a token is valid."""


class TokenValidator:
    """Validates tokens with Keystone through `session` (a keystoneauth1
    Session carrying the simulator's admin credentials)."""

    def __init__(self, session: Any, keystone_url: str, cache_size: int = 10000,
                 cache_seconds: float = 300.0, clock=time.time):
        base = keystone_url.rstrip("/")
        if not base.endswith("/v3"):
            base += "/v3"
        self.url = base + "/auth/tokens?nocatalog"
        self.session = session
        self.cache_size = cache_size
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.validations = 0  # requests sent to Keystone
        self._cache: OrderedDict[str, tuple[AuthContext | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    def validate(self, token: str) -> AuthContext | None:
        """The token's context, or None when Keystone says it is not valid."""
        key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
        now = self.clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                context, until = cached
                if now < until:
                    self._cache.move_to_end(key)
                    if context is not None and now >= context.expires_at:
                        return None
                    return context
                del self._cache[key]
        context = self._ask_keystone(token)
        now = self.clock()
        if context is None:
            until = now + NEGATIVE_CACHE_SECONDS
        else:
            until = min(now + self.cache_seconds, context.expires_at - EXPIRY_MARGIN_SECONDS)
        if until > now:
            with self._lock:
                self._cache[key] = (context, until)
                self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return context

    def flush(self) -> None:
        with self._lock:
            self._cache.clear()

    def _ask_keystone(self, token: str) -> AuthContext | None:
        self.validations += 1
        try:
            # Retried: a pooled connection the server closed as it went idle
            # fails at once, and the GET is safe to send again.
            resp = self.session.get(self.url, headers={"X-Subject-Token": token,
                                                       "Accept": "application/json"},
                                    authenticated=True, raise_exc=False,
                                    connect_retries=2, connect_retry_delay=0.05)
        except Exception as exc:  # keystoneauth's connection and auth failures
            LOG.warning("cannot validate a token with Keystone: %s", exc)
            raise KeystoneUnavailable(str(exc)) from exc
        if resp.status_code in (401, 403, 404):
            if resp.status_code != 404:
                LOG.warning("Keystone refused to validate a token: %s %s",
                            resp.status_code, resp.text[:200])
            return None
        if resp.status_code != 200:
            raise KeystoneUnavailable(f"Keystone answered {resp.status_code}")
        try:
            return context_from(resp.json()["token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise KeystoneUnavailable(f"Keystone's token document is unusable: {exc}") from exc


def context_from(token: dict) -> AuthContext | None:
    """An AuthContext from Keystone's token document; None for a token that is
    not scoped to a project (the simulated services all need one)."""
    project = token.get("project")
    if not project:
        return None
    user = token.get("user") or {}
    return AuthContext(
        user_id=user.get("id", ""), user_name=user.get("name", ""),
        project_id=project["id"], project_name=project.get("name", ""),
        roles=tuple(role.get("name", "") for role in token.get("roles") or ()),
        expires_at=parse_time(token["expires_at"]))


def parse_time(text: str) -> float:
    """Unix time of an ISO 8601 timestamp as Keystone writes them."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
