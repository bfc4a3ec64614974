"""The simulator's token cache (keystonemiddleware's rules) against a
stand-in for Keystone's validation call: how long an answer is kept, that
the cache is bounded, and that Keystone being away is not "invalid"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from multicloud_broker.simulators.openstack.auth import (
    EXPIRY_MARGIN_SECONDS, KeystoneUnavailable, TokenValidator)


class Answer:
    def __init__(self, status: int, doc: dict | None = None):
        self.status_code = status
        self._doc = doc or {}
        self.text = ""

    def json(self) -> dict:
        return self._doc


class FakeIdentity:
    """Answers GET /v3/auth/tokens as Keystone does, for tokens it knows."""

    def __init__(self, clock: "Clock"):
        self.clock = clock
        self.tokens: dict[str, float] = {}  # token -> expiry (Unix time)
        self.asked: list[str] = []
        self.down = False

    def get(self, url: str, headers: dict, authenticated: bool, raise_exc: bool,
            **retries: float) -> Answer:
        assert url == "http://keystone.test/v3/auth/tokens?nocatalog" and authenticated
        token = headers["X-Subject-Token"]
        self.asked.append(token)
        if self.down:
            raise ConnectionError("connection refused")
        if token not in self.tokens or self.tokens[token] <= self.clock.now:
            return Answer(404)
        expires = datetime.fromtimestamp(self.tokens[token], UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
        return Answer(200, {"token": {
            "expires_at": expires, "user": {"id": "u1", "name": "alice"},
            "project": {"id": "p1", "name": "demo"},
            "roles": [{"id": "r1", "name": "member"}]}})


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def identity(clock: Clock) -> FakeIdentity:
    return FakeIdentity(clock)


def test_a_valid_token_is_cached_until_the_cache_time_passes(clock, identity) -> None:
    validator = TokenValidator(identity, "http://keystone.test/v3", cache_seconds=300,
                               clock=clock)
    identity.tokens["t"] = clock.now + 3600
    context = validator.validate("t")
    assert (context.project_id, context.user_name, context.roles) == ("p1", "alice",
                                                                      ("member",))
    clock.now += 299
    assert validator.validate("t") == context and identity.asked == ["t"]
    clock.now += 2
    validator.validate("t")
    assert identity.asked == ["t", "t"] and validator.validations == 2


def test_a_token_is_not_trusted_from_the_cache_close_to_its_expiry(clock, identity) -> None:
    validator = TokenValidator(identity, "http://keystone.test", cache_seconds=300,
                               clock=clock)
    identity.tokens["short"] = clock.now + 100
    assert validator.validate("short") is not None
    clock.now += 100 - EXPIRY_MARGIN_SECONDS + 1
    assert validator.validate("short") is not None  # asked again: still valid
    assert identity.asked == ["short", "short"]
    clock.now += EXPIRY_MARGIN_SECONDS
    assert validator.validate("short") is None


def test_the_cache_is_bounded(clock, identity) -> None:
    validator = TokenValidator(identity, "http://keystone.test/v3", cache_size=3, clock=clock)
    for name in "abcd":
        identity.tokens[name] = clock.now + 3600
        validator.validate(name)
    validator.validate("a")  # the oldest went out
    validator.validate("d")  # the newest is still in
    assert identity.asked == ["a", "b", "c", "d", "a"]


def test_an_invalid_token_is_remembered_briefly_and_keystone_away_is_no_answer(
        clock, identity) -> None:
    validator = TokenValidator(identity, "http://keystone.test/v3", clock=clock)
    assert validator.validate("bad") is None
    assert validator.validate("bad") is None and identity.asked == ["bad"]
    identity.down = True
    with pytest.raises(KeystoneUnavailable):
        validator.validate("other")
    identity.down = False
    identity.tokens["other"] = clock.now + 3600
    assert validator.validate("other") is not None  # the failure was not cached
