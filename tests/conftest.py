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


# The longest modules (most minutes first, as measured on a 2-core machine),
# handed out first under `--dist loadfile --no-loadscope-reorder`, so that no
# worker starts one of them while the others are finishing: the run's length
# is then close to its total time over the workers.
LONGEST_FIRST = (
    "contract/test_schema_fuzz.py", "openstack_plugin/test_volte_demo.py",
    "contract/test_integrity.py", "openstack_plugin/test_plugin_faults.py",
    "contract/test_region_api.py", "server/test_connections.py", "server/test_reload.py",
    "contract/test_health.py", "openstack_plugin/test_plugin_fuzz.py",
    "contract/test_errors.py", "simulators/test_openstack_sim.py",
    "openstack_plugin/test_keystone_fixture.py", "cli/test_make_run.py",
    "contract/test_forwarding.py", "server/test_processes.py", "server/test_prometheus.py",
)


def _rank(item: pytest.Item) -> int:
    module = item.nodeid.split("::", 1)[0].removeprefix("tests/")
    return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) the paired kinds' runs under the other two pairs;
    the longest modules first (a stable sort: each module's order is kept)."""
    kept, dropped = [], []
    for item in items:
        pair = _pair(item)
        (dropped if pair is not None and pair not in PAIRS else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = sorted(kept, key=_rank)
