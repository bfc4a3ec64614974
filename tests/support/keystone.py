"""The real OpenStack Keystone as pytest fixtures (multicloud_broker.simulators.keystone).

`keystone`: one started instance for the whole session (per xdist worker),
stopped at the end. `make_keystone(**kwargs)`: instances of a test's own (a
short token_expiration, say), stopped when the test ends.

The first use on a machine builds the cached venv and template (about a
minute); `python -m multicloud_broker.simulators.keystone
--prepare` does that ahead of a test run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from multicloud_broker.simulators.keystone import LocalKeystone

MakeKeystone = Callable[..., LocalKeystone]


# Named with name=: a test module imports keystone_fixture, and its tests'
# `keystone` parameter does not shadow an imported name.
@pytest.fixture(scope="session", name="keystone")
def keystone_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKeystone]:
    """A started Keystone shared by the session's tests (per xdist worker)."""
    instance = LocalKeystone(tmp_path_factory.mktemp("keystone"))
    try:
        yield instance.start()
    finally:
        instance.stop()


@pytest.fixture(name="make_keystone")
def make_keystone_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeKeystone]:
    """A factory of started Keystones (LocalKeystone's keyword arguments),
    each stopped when the test ends."""
    made: list[LocalKeystone] = []

    def make(**kwargs: object) -> LocalKeystone:
        instance = LocalKeystone(tmp_path_factory.mktemp("keystone"), **kwargs)  # type: ignore[arg-type]
        made.append(instance)  # before start: one that fails halfway is stopped too
        return instance.start()

    try:
        yield make
    finally:
        for instance in made:
            instance.stop()


def token_status(instance: LocalKeystone, token: str) -> int:
    """The status of validating `token` as the admin (200 valid, 404 not)."""
    response = instance.admin_session().get(
        f"{instance.url}/auth/tokens", headers={"X-Subject-Token": token}, raise_exc=False)
    return response.status_code
