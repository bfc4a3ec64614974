"""The PostgreSQL inventory keeps the cloud's access (schema version 3), against
a real PostgreSQL server (tests/support/postgres.py): a hostile password
round-trips; a database of version 2, made as the previous broker made it,
is migrated in place keeping its regions."""

from __future__ import annotations

from pathlib import Path

import pytest

from multicloud_broker.inventory import CloudAccess, CloudRegion
from multicloud_broker.inventory.postgresql import SCHEMA_VERSION, PostgresInventory
from tests.support.postgres import BROKER_PASSWORD, postgres_server  # noqa: F401

HOSTILE = ("p%s%%(x)s:o :a2 $1 ?'\"\\\n\r\t--; DROP TABLE cloud_region;-- "
           "ÿ wörd 中文 \U0001f511 end")
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
ACCESS = CloudAccess("https://keystone.example:5000/v3", "admin ö", HOSTILE,
                     user_domain="Dom'ain", project="proj\n\"x\"", ca_cert=PEM, insecure=True,
                     openstack_region="Région-2")


@pytest.fixture
def password_file(tmp_path: Path) -> str:
    path = tmp_path / "pg-password"
    path.write_text(BROKER_PASSWORD + "\n")
    return str(path)


def test_the_access_round_trips_with_a_hostile_password(postgres_server, password_file):
    pg = postgres_server
    url = pg.url(pg.database())
    inventory = PostgresInventory(url, password_file, pool_size=2)
    inventory.check()
    region = CloudRegion("o", "r", "openstack", "ocata", extra={"a": [1]}, access=ACCESS)
    inventory.add(region)
    fresh = PostgresInventory(url, password_file, pool_size=2)
    assert fresh.get("o", "r") == region and fresh.get("o", "r").access.password == HOSTILE
    assert fresh.list() == [region]
    unset = CloudRegion("o", "r", "openstack", "ocata",
                        access=CloudAccess("http://k/v3", "u", None))
    assert fresh.put(unset) is False
    assert fresh.get("o", "r").access == CloudAccess("http://k/v3", "u", None, "Default", "",
                                                     "", False, "r")
    assert fresh.put(CloudRegion("o", "r", "openstack", "ocata")) is False
    assert fresh.get("o", "r").access is None
    assert fresh.put(CloudRegion("o", "r2", "openstack", "ocata", access=ACCESS)) is True
    assert fresh.get("o", "r2").access.password == HOSTILE
    inventory.close()
    fresh.close()


def test_a_version_2_database_is_migrated_in_place(postgres_server, password_file):
    pg = postgres_server
    name = pg.database()
    conn = pg.admin(name)
    # As the previous broker left it: migrations 1 and 2 applied.
    conn.run("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
             " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
    conn.run("INSERT INTO schema_version (version) VALUES (1), (2)")
    conn.run("CREATE TABLE cloud_region (cloud_owner TEXT NOT NULL, cloud_region_id TEXT"
             " NOT NULL, cloud_type TEXT NOT NULL, cloud_region_version TEXT NOT NULL,"
             " PRIMARY KEY (cloud_owner, cloud_region_id))")
    conn.run("ALTER TABLE cloud_region ADD COLUMN extra JSONB NOT NULL DEFAULT '{}'::jsonb")
    conn.run("INSERT INTO cloud_region VALUES ('o', 'old', 'openstack', 'ocata',"
             " '{\"a\": 1}'::jsonb)")
    conn.run("ALTER TABLE schema_version OWNER TO broker")
    conn.run("ALTER TABLE cloud_region OWNER TO broker")
    oid = conn.run("SELECT 'cloud_region'::regclass::oid")[0][0]
    conn.close()
    inventory = PostgresInventory(pg.url(name), password_file, pool_size=2)
    inventory.check()
    assert inventory.schema_version() == SCHEMA_VERSION == 4
    old = inventory.get("o", "old")
    assert (old.extra, old.access) == ({"a": 1}, None)
    inventory.add(CloudRegion("o", "new", "openstack", "pike", access=ACCESS))
    assert inventory.get("o", "new").access == ACCESS
    conn = pg.admin(name)
    columns = [r[0] for r in conn.run(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_name = 'cloud_region' ORDER BY ordinal_position")]
    assert columns[4:] == ["extra", "access_auth_url", "access_username", "access_password",
                           "access_user_domain", "access_project", "access_ca_cert",
                           "access_insecure", "access_openstack_region"]
    assert conn.run("SELECT 'cloud_region'::regclass::oid")[0][0] == oid  # altered in place
    assert [r[0] for r in conn.run("SELECT version FROM schema_version ORDER BY 1")] == \
        [1, 2, 3, 4]
    conn.close()
    inventory.close()
