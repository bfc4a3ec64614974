"""State survives a restart; the command line reports what is wrong."""

import os
import subprocess
import sys

from fakecloud_support import SRC, FakeCloud, Region


def test_state_survives_a_restart(tmp_path):
    state = tmp_path / "cloud.sqlite"
    cloud = FakeCloud(state)
    try:
        region = Region(cloud).login()
        net = region.post(region.t("/networks"), {"name": "kept", "shared": False}).json()
    finally:
        cloud.stop()
    cloud = FakeCloud(state)
    try:
        region.cloud = cloud
        # The token and the network are both still there.
        got = region.get(region.t(f"/networks/{net['id']}"))
        assert got.status == 200
        assert got.json()["name"] == "kept"
    finally:
        cloud.stop()


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "multicloud_broker.fakecloud", *args],
                          capture_output=True, text=True, env=env, timeout=30)


def test_busy_port_is_a_clear_error(fakecloud, tmp_path):
    result = run_cli("--bind-port", str(fakecloud.port),
                     "--state-file", str(tmp_path / "s.sqlite"))
    assert result.returncode == 1
    assert "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_state_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "not.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    result = run_cli("--bind-port", "0", "--state-file", str(bad))
    assert result.returncode == 1
    assert "cannot open state file" in result.stderr


def test_bad_arguments_are_usage_errors():
    result = run_cli("--total-vcpus", "-1")
    assert result.returncode == 2
    assert "--total-vcpus" in result.stderr
