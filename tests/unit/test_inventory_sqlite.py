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


# -- the cloud's access (schema version 3) ---------------------------------------------

HOSTILE = ("p%s%%(x)s:o ?'\"\\\n\r\t--; DROP TABLE cloud_region;-- "
           "ÿ wörd 中文 \U0001f511 end")
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
ACCESS_COLUMNS = ["access_auth_url", "access_username", "access_password",
                  "access_user_domain", "access_project", "access_ca_cert", "access_insecure",
                  "access_openstack_region"]
# The schemas as the previous versions of the broker created them.
V1_SCHEMA = ("CREATE TABLE cloud_region (cloud_owner TEXT NOT NULL,"
             " cloud_region_id TEXT NOT NULL, cloud_type TEXT NOT NULL,"
             " cloud_region_version TEXT NOT NULL,"
             " PRIMARY KEY (cloud_owner, cloud_region_id))")
V2_SCHEMA = ("CREATE TABLE IF NOT EXISTS cloud_region (cloud_owner TEXT NOT NULL,"
             " cloud_region_id TEXT NOT NULL, cloud_type TEXT NOT NULL,"
             " cloud_region_version TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}',"
             " PRIMARY KEY (cloud_owner, cloud_region_id))")


def _full_access(password=HOSTILE):
    from multicloud_broker.inventory import CloudAccess
    return CloudAccess("https://keystone.example:5000/v3", "admin " + HOSTILE[-6:], password,
                       user_domain="Dom'ain", project="proj\n\"x\"", ca_cert=PEM,
                       insecure=True, openstack_region="Région-2")


def _schema(path):
    conn = sqlite3.connect(path)
    try:
        return (conn.execute("PRAGMA user_version").fetchone()[0],
                [row[1] for row in conn.execute("PRAGMA table_info(cloud_region)")])
    finally:
        conn.close()


def test_the_access_round_trips_with_a_hostile_password(tmp_path):
    path = str(tmp_path / "inventory.sqlite")
    region = CloudRegion("o", "r", "openstack", "ocata", access=_full_access())
    SqliteInventory(path).add(region)
    fresh = SqliteInventory(path)  # another process's view: from the file
    assert fresh.get("o", "r") == region and fresh.get("o", "r").access.password == HOSTILE
    assert fresh.list() == [region]
    unset = CloudRegion("o", "r", "openstack", "ocata", access=_full_access(None))
    assert fresh.put(unset) is False
    assert SqliteInventory(path).get("o", "r").access.password is None
    assert fresh.put(CloudRegion("o", "r", "openstack", "ocata")) is False
    assert SqliteInventory(path).get("o", "r").access is None


def test_defaults_round_trip_as_defaults(tmp_path):
    from multicloud_broker.inventory import CloudAccess
    inventory = SqliteInventory(str(tmp_path / "inventory.sqlite"))
    inventory.add(CloudRegion("o", "RegionOne", "openstack", "ocata",
                              access=CloudAccess("http://k/v3", "u")))
    assert inventory.get("o", "RegionOne").access == CloudAccess(
        "http://k/v3", "u", None, "Default", "", "", False, "RegionOne")


@pytest.mark.parametrize("old_schema, user_version", [(V1_SCHEMA, 0), (V2_SCHEMA, 2)],
                         ids=["version-1", "version-2"])
def test_a_file_of_an_older_version_is_migrated_in_place(tmp_path, old_schema, user_version):
    path = tmp_path / "inventory.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(old_schema)
    conn.execute("INSERT INTO cloud_region (cloud_owner, cloud_region_id, cloud_type,"
                 " cloud_region_version) VALUES ('o', 'old', 'openstack', 'ocata')")
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.commit()
    conn.close()
    inode = path.stat().st_ino
    SqliteInventory(str(path)).check()
    version, columns = _schema(path)
    assert version == 3 and columns[5:] == ACCESS_COLUMNS and columns[4] == "extra"
    assert path.stat().st_ino == inode  # altered, not rebuilt
    inventory = SqliteInventory(str(path))
    old = inventory.get("o", "old")
    assert (old.cloud_type, old.extra, old.access) == ("openstack", {}, None)
    region = CloudRegion("o", "new", "openstack", "pike", access=_full_access())
    inventory.add(region)
    assert SqliteInventory(str(path)).get("o", "new") == region
    SqliteInventory(str(path)).check()  # once migrated, nothing more to do
    assert _schema(path) == (3, columns)


def test_a_file_opened_first_by_a_request_is_migrated_too(tmp_path):
    path = tmp_path / "inventory.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(V2_SCHEMA)
    conn.execute("INSERT INTO cloud_region VALUES ('o', 'r', 'openstack', 'ocata', '{\"a\": 1}')")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    region = SqliteInventory(str(path)).get("o", "r")  # no check() first (e.g. the CLI)
    assert (region.extra, region.access) == ({"a": 1}, None)
    assert _schema(path)[0] == 3
