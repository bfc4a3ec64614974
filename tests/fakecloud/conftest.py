"""Fixtures: one fakecloud process for the session, a fresh region per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakecloud_support import FakeCloud, Region


@pytest.fixture(scope="session")
def fakecloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeCloud]:
    cloud = FakeCloud(tmp_path_factory.mktemp("fakecloud") / "state.sqlite")
    yield cloud
    cloud.stop()


@pytest.fixture
def region(fakecloud: FakeCloud) -> Region:
    """A fresh region with a token and a tenant."""
    return Region(fakecloud).login()
