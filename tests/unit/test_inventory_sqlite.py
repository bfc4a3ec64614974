"""SqliteInventory.check() at start-up, and database faults at request time (503)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

import pytest

import multicloud_broker

from multicloud_broker.inventory import (CloudRegion, InventoryConfigError, InventoryError,
                                         RegionExists)
from multicloud_broker.inventory.sqlite import SqliteInventory

REGION = CloudRegion("o", "r", "openstack", "ocata")


def test_check_creates_the_file_and_its_schema(tmp_path):
    path = tmp_path / "new" / "dir" / "inventory.sqlite"
    SqliteInventory(str(path)).check()
    assert path.exists()
    inventory = SqliteInventory(str(path))
    inventory.add(REGION)
    assert inventory.get("o", "r") == REGION
    with pytest.raises(RegionExists):
        inventory.add(REGION)


def test_check_refuses_a_directory(tmp_path):
    with pytest.raises(InventoryConfigError, match="is a directory"):
        SqliteInventory(str(tmp_path)).check()


def test_check_refuses_a_path_below_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InventoryConfigError, match="cannot create"):
        SqliteInventory(str(tmp_path / "file" / "inventory.sqlite")).check()


def test_check_refuses_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "inventory.sqlite"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(InventoryConfigError, match="not a database"):
        SqliteInventory(str(path)).check()


def test_check_refuses_a_table_of_another_shape(tmp_path):
    path = tmp_path / "inventory.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE cloud_region (name TEXT)")
    with pytest.raises(InventoryConfigError, match="unusable schema"):
        SqliteInventory(str(path)).check()


def test_check_refuses_a_directory_it_cannot_write():
    """As an unprivileged user (root may write anywhere): the system's Python,
    a copy of the inventory package, a directory under /tmp it may not write."""
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    runuser = shutil.which("runuser")
    if os.geteuid() == 0 and not (runuser and system_python):
        pytest.skip("root without runuser or a system python3: no unprivileged user to test as")
    prefix = [runuser, "-u", "nobody", "--"] if os.geteuid() == 0 else []
    python = system_python if os.geteuid() == 0 else sys.executable
    work = tempfile.mkdtemp(prefix="inv-nobody-")
    try:
        os.chmod(work, 0o755)
        package = os.path.dirname(os.path.dirname(multicloud_broker.__file__))
        shutil.copytree(os.path.join(package, "multicloud_broker", "inventory"),
                        os.path.join(work, "src", "multicloud_broker", "inventory"))
        shutil.copytree(os.path.join(package, "multicloud_broker", "core"),
                        os.path.join(work, "src", "multicloud_broker", "core"))
        open(os.path.join(work, "src", "multicloud_broker", "__init__.py"), "w").close()
        readonly = os.path.join(work, "readonly")
        os.mkdir(readonly, 0o555)
        script = ("import sys; from multicloud_broker.inventory.sqlite import SqliteInventory\n"
                  "from multicloud_broker.inventory import InventoryConfigError\n"
                  "try:\n    SqliteInventory(sys.argv[1]).check()\n"
                  "except InventoryConfigError as exc:\n    print(exc.message); sys.exit(3)\n")
        done = subprocess.run([*prefix, python, "-c", script,
                               os.path.join(readonly, "inventory.sqlite")],
                              capture_output=True, text=True, timeout=30, cwd=work,
                              env={"PYTHONPATH": os.path.join(work, "src"),
                                   "PATH": os.environ["PATH"]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert done.returncode == 3, done
    assert "not writable" in done.stdout


def test_a_database_broken_after_start_is_a_503_not_a_crash(tmp_path):
    path = tmp_path / "inventory.sqlite"
    SqliteInventory(str(path)).check()
    path.write_bytes(b"overwritten by accident\n" * 500)
    inventory = SqliteInventory(str(path))
    with pytest.raises(InventoryError, match="inventory unavailable") as caught:
        inventory.get("o", "r")
    assert caught.value.status == 503
    path.unlink()
    SqliteInventory(str(path)).check()  # fixed: the next request reopens
    assert inventory.list() == []
