"""Fixtures shared by the fleet tests: haproxy's binary and a recording plugin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fleet.haproxy import find_or_install
from tests.support.upstreams import PluginServer


@pytest.fixture(scope="module")
def haproxy_binary() -> str:
    binary, reason = find_or_install()
    if binary is None:
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def plugin() -> Iterator[PluginServer]:
    with PluginServer() as server:
        yield server
