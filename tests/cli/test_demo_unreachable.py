"""`multicloud-broker demo volte` with no broker where it is told to look:
one clear line and status 1, no traceback (the flow on the real chain is
tests/openstack_plugin/test_volte_demo.py)."""

from __future__ import annotations

from tests.support.broker import run_cli
from tests.support.upstreams import ClosedPort


def test_the_demo_says_it_cannot_reach_the_broker() -> None:
    with ClosedPort() as closed:
        done = run_cli(["demo", "volte", "--broker", closed.url],
                       env={"OS_PASSWORD": "secret"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot reach the broker at {closed.url}" in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
