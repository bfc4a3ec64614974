"""Warnings in the test processes: the broker's own filters for known
third-party deprecations (multicloud_broker.warnings_log, one list for both),
and any warning raised by the broker's own code is an error."""

from __future__ import annotations

import pytest

from multicloud_broker.warnings_log import filterwarnings_lines


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "error:::multicloud_broker")
    # openstacksdk's announcements of its own future removals, where the
    # tests use it directly as OpenStack's client.
    config.addinivalue_line("filterwarnings", "ignore:::openstack")
    for line in filterwarnings_lines():
        config.addinivalue_line("filterwarnings", line)
