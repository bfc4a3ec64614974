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


# A server behaviour (workers, reloads, limits, logs, metrics) is the server
# layer's, which serves any WSGI app; and the schema fuzzers explore the
# application, which the framework shapes and the backend below it does not.
# So these run under two (backend, framework) pairs that cover both backends
# and both frameworks, the default pair among them, not under all four; the
# contract tests still run all four.
PAIRS = {("eventlet", "django"), ("gevent", "pecan")}


def _pair(item: pytest.Item) -> tuple[str, str] | None:
    """The item's (backend, framework) when it is one of the paired kinds."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    if item.nodeid.startswith("tests/server/"):
        # whatever the parameter's name (framework, setup, broker...)
        framework = next((v for v in params.values() if v in ("django", "pecan")), None)
    elif item.nodeid.startswith("tests/contract/") and item.name.startswith("test_schemathesis"):
        framework = params.get("fuzzed_broker") or params.get("web_framework")
    else:
        return None
    backend = params.get("server_backend")
    return (backend, framework) if backend and framework else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the paired kinds' runs under the other two pairs."""
    kept, dropped = [], []
    for item in items:
        pair = _pair(item)
        (dropped if pair is not None and pair not in PAIRS else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
