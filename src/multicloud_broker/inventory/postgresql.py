"""A shared inventory: cloud regions in PostgreSQL, for a fleet of brokers.

The driver is pg8000, pure Python on the standard socket module: once the
serving process has monkey-patched sockets (green.py), every wait on the
database is a green wait, so a slow query holds one green thread, never the
worker. The pool is small (databases take tens of connections, not
thousands): requests beyond it wait, green, for a free connection, for at
most `timeout` seconds. Regions are cached per worker (cache.py) like A&AI's.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import pg8000.native as pg

from multicloud_broker.inventory import (ACCESS_COLUMNS, CloudRegion, InventoryConfigError,
                                         InventoryError, InventoryRefused, InventoryUnreachable,
                                         RegionExists, RegionNotFound, access_from_row,
                                         access_row, usable_region)

LOG = logging.getLogger(__name__)
T = TypeVar("T")
PASSWORD_ENV = "MULTICLOUD_BROKER_PG_PASSWORD"
_MIGRATION_LOCK = 0x6D63_6272  # pg_advisory_xact_lock key: one migrator at a time, fleet-wide

# (version, statements): applied in order, each version once, in one transaction.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, ["""CREATE TABLE IF NOT EXISTS cloud_region (
                cloud_owner TEXT NOT NULL,
                cloud_region_id TEXT NOT NULL,
                cloud_type TEXT NOT NULL,
                cloud_region_version TEXT NOT NULL,
                PRIMARY KEY (cloud_owner, cloud_region_id))"""]),
    # Free-form attributes of a region, kept as given (A&AI's record shape).
    (2, ["ALTER TABLE cloud_region ADD COLUMN IF NOT EXISTS"
         " extra JSONB NOT NULL DEFAULT '{}'::jsonb"]),
    # The cloud's access (A&AI's esr-system-info): NULL when none recorded.
    (3, [f"ALTER TABLE cloud_region ADD COLUMN IF NOT EXISTS {name}"
         f" {'BOOLEAN' if name == 'access_insecure' else 'TEXT'}"
         for name in ACCESS_COLUMNS]),
    # What the OpenStack plugin records under a region (inventory/children.py),
    # gone with its region.
    (4, ["""CREATE TABLE IF NOT EXISTS region_child (
                cloud_owner TEXT NOT NULL,
                cloud_region_id TEXT NOT NULL,
                child_key TEXT NOT NULL,
                doc JSONB NOT NULL,
                PRIMARY KEY (cloud_owner, cloud_region_id, child_key),
                FOREIGN KEY (cloud_owner, cloud_region_id)
                    REFERENCES cloud_region ON DELETE CASCADE)"""]),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_COLUMNS = ", ".join(("cloud_owner, cloud_region_id, cloud_type, cloud_region_version, extra",
                      *ACCESS_COLUMNS))
# Named parameters :a0 .. :a7 for ACCESS_COLUMNS.
_ACCESS_MARKS = ", ".join(f":a{i}" for i in range(len(ACCESS_COLUMNS)))
_ACCESS_UPDATE = ", ".join(f"{name} = EXCLUDED.{name}" for name in ACCESS_COLUMNS)


@dataclass(frozen=True)
class PgAddress:
    """Where and as whom to connect; the password never appears in repr()."""

    user: str
    host: str
    port: int
    database: str


def parse_url(url: str) -> PgAddress:
    """postgresql://USER@HOST[:PORT]/DB; InventoryConfigError if it is not that."""
    where = "[inventory] postgresql_url"
    try:
        parts = urlsplit(url.strip())
        port = 5432 if parts.port is None else parts.port
    except ValueError as exc:
        raise InventoryConfigError(f"{where}: {exc}") from None
    if not 0 < port < 65536:
        raise InventoryConfigError(f"{where}: port {port} is out of range (1-65535)")
    if parts.scheme not in ("postgresql", "postgres"):
        raise InventoryConfigError(f"{where} must look like postgresql://USER@HOST:PORT/DB")
    if parts.password is not None:
        raise InventoryConfigError(
            f"{where} must not carry a password: set {PASSWORD_ENV} or "
            "[inventory] postgresql_password_file")
    database = unquote(parts.path.lstrip("/"))
    for name, value in (("user", parts.username), ("host", parts.hostname),
                        ("database", database)):
        if not value:
            raise InventoryConfigError(f"{where} has no {name}: "
                                       "postgresql://USER@HOST:PORT/DB")
    return PgAddress(unquote(parts.username or ""), parts.hostname or "", port, database)


def read_password(password_file: str, environ=os.environ) -> str | None:
    """The password: the environment variable, else the file (first line)."""
    if environ.get(PASSWORD_ENV):
        return environ[PASSWORD_ENV]
    if not password_file:
        return None
    try:
        with open(password_file, encoding="utf-8") as f:
            return f.readline().rstrip("\r\n")
    except OSError as exc:
        raise InventoryConfigError(f"[inventory] postgresql_password_file {password_file}: "
                                   f"{exc.strerror}") from None


class PostgresInventory:
    """Regions in a PostgreSQL database shared by every broker of a fleet."""

    def __init__(self, url: str, password_file: str = "", pool_size: int = 20,
                 timeout: float = 5.0):
        self._timeout = timeout
        self._problem: InventoryConfigError | None = None
        try:
            self.address: PgAddress | None = parse_url(url)
            password = read_password(password_file)
        except InventoryConfigError as exc:
            # Raised by check() at start-up, and as a 503 if ever asked anyway.
            self._problem, self.address, password = exc, None, None
        self._pool = _Pool(lambda: self._connect(password), pool_size, timeout)
        self._schema_pid = 0
        self._schema_lock = threading.Lock()  # green once eventlet has patched threading

    def __repr__(self) -> str:
        return f"PostgresInventory({self.address})"

    # -- set-up ---------------------------------------------------------------
    def _connect(self, password: str | None) -> pg.Connection:
        assert self.address is not None
        a = self.address
        # statement_timeout lets the server cancel a stuck query cleanly (the
        # connection survives); the socket timeout, longer, is the net under
        # it (a server gone silent) and bounds connecting too.
        try:
            return pg.Connection(a.user, host=a.host, port=a.port, database=a.database,
                                 password=password, timeout=self._timeout + 5,
                                 application_name="multicloud-broker",
                                 startup_params={"statement_timeout":
                                                 str(int(self._timeout * 1000))})
        except (AttributeError, TypeError, pg.InterfaceError) as exc:
            # Without a password pg8000 fails on the server's password request
            # (an AttributeError in 1.31): say what is missing instead.
            if password is None and (not isinstance(exc, pg.InterfaceError)
                                     or "password" in str(exc).lower()):
                raise InventoryRefused(
                    "inventory (PostgreSQL) asked for a password and none is set: "
                    f"set {PASSWORD_ENV} or [inventory] postgresql_password_file") from None
            raise

    def check(self) -> None:
        """Connect, then create or upgrade the schema: start-up and reload."""
        if self._problem is not None:
            raise self._problem
        try:
            self._pool.run(self._migrate)
        except InventoryError as exc:
            raise InventoryConfigError(f"[inventory] postgresql {self.address.host}:"
                                       f"{self.address.port}/{self.address.database}: "
                                       f"{exc.message}") from None
        finally:
            self.close()  # the checking process (the bootstrap) serves nothing

    def close(self) -> None:
        """Close this process's idle connections (the pool reopens on demand)."""
        self._pool.close_idle()

    def schema_version(self) -> int:
        """The schema version the database is at (0: none yet)."""
        return self._run(_current_version)

    def _migrate(self, conn: pg.Connection) -> None:
        conn.run("BEGIN")
        try:
            conn.run("SELECT pg_advisory_xact_lock(:k)", k=_MIGRATION_LOCK)
            conn.run("CREATE TABLE IF NOT EXISTS schema_version ("
                     " version INTEGER PRIMARY KEY,"
                     " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            current = _current_version(conn)
            if current > SCHEMA_VERSION:
                raise InventoryConfigError(
                    f"the database's schema is version {current}, newer than this "
                    f"broker's {SCHEMA_VERSION}: upgrade the broker")
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        conn.run(statement)
                    conn.run("INSERT INTO schema_version (version) VALUES (:v)", v=version)
                    LOG.info("inventory schema upgraded to version %d", version)
            conn.run("COMMIT")
        except BaseException:
            _quietly(lambda: conn.run("ROLLBACK"))
            raise
        self._schema_pid = os.getpid()

    def _run(self, work: Callable[[pg.Connection], T]) -> T:
        if self._problem is not None:
            raise InventoryError(f"inventory unavailable: {self._problem.message}")
        if self._schema_pid != os.getpid():
            # Once per process (check() ran in the bootstrap, or not at all
            # under another WSGI server): one green thread looks, the others wait.
            with self._schema_lock:
                if self._schema_pid != os.getpid():
                    self._pool.run(self._ensure_schema)
        return self._pool.run(work)

    def _ensure_schema(self, conn: pg.Connection) -> None:
        """Migrate only if needed: the usual case is one cheap read."""
        if _current_version(conn) == SCHEMA_VERSION:
            self._schema_pid = os.getpid()
        else:
            self._migrate(conn)

    # -- the inventory --------------------------------------------------------
    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        rows = self._run(lambda c: c.run(
            f"SELECT {_COLUMNS} FROM cloud_region"
            " WHERE cloud_owner = :o AND cloud_region_id = :r", o=owner, r=region))
        if not rows:
            raise RegionNotFound(owner, region)
        o, r, cloud_type, version, extra, *access = rows[0]
        return usable_region(o, r, cloud_type, version, extra=extra or {},
                             access=access_from_row(access))

    def list(self) -> list[CloudRegion]:
        rows = self._run(lambda c: c.run(
            f"SELECT {_COLUMNS} FROM cloud_region ORDER BY cloud_owner, cloud_region_id"))
        return [CloudRegion(*row[:4], extra=row[4] or {}, access=access_from_row(row[5:]))
                for row in rows]

    def add(self, region: CloudRegion) -> None:
        def insert(conn: pg.Connection) -> int:
            conn.run(f"INSERT INTO cloud_region ({_COLUMNS})"
                     f" VALUES (:o, :r, :t, :v, CAST(:e AS JSONB), {_ACCESS_MARKS})"
                     " ON CONFLICT DO NOTHING",
                     o=region.cloud_owner, r=region.cloud_region_id, t=region.cloud_type,
                     v=region.cloud_region_version, e=_json(region.extra),
                     **_access_params(region))
            return conn.row_count
        if self._run(insert) == 0:
            raise RegionExists(f"cloud region {region.cloud_owner}/"
                               f"{region.cloud_region_id} already exists")

    def remove(self, owner: str, region: str) -> None:
        def delete(conn: pg.Connection) -> int:
            conn.run("DELETE FROM cloud_region WHERE cloud_owner = :o"
                     " AND cloud_region_id = :r", o=owner, r=region)
            return conn.row_count
        if self._run(delete) == 0:
            raise RegionNotFound(owner, region)

    def put(self, region: CloudRegion) -> bool:
        """Create or replace `region`, extra attributes included; True if created."""
        def upsert(conn: pg.Connection) -> bool:
            # xmax is 0 on a row version this statement inserted, not on an update.
            rows = conn.run(
                f"INSERT INTO cloud_region ({_COLUMNS})"
                f" VALUES (:o, :r, :t, :v, CAST(:e AS JSONB), {_ACCESS_MARKS})"
                " ON CONFLICT (cloud_owner, cloud_region_id) DO UPDATE SET"
                " cloud_type = EXCLUDED.cloud_type,"
                " cloud_region_version = EXCLUDED.cloud_region_version,"
                f" extra = EXCLUDED.extra, {_ACCESS_UPDATE} RETURNING (xmax = 0)",
                o=region.cloud_owner, r=region.cloud_region_id, t=region.cloud_type,
                v=region.cloud_region_version, e=_json(region.extra),
                **_access_params(region))
            return bool(rows[0][0])
        return self._run(upsert)

    def children(self, owner: str, region: str) -> dict[str, dict]:
        """The documents recorded under the region, by key (children.py)."""
        rows = self._run(lambda c: c.run(
            "SELECT child_key, doc FROM region_child WHERE cloud_owner = :o"
            " AND cloud_region_id = :r", o=owner, r=region))
        return {k: doc for k, doc in rows}

    def change_children(self, owner: str, region: str,
                        change: Callable[[dict[str, dict]],
                                         tuple[dict[str, dict], list[str]]]) -> int:
        """`change(current)` gives (documents to write, keys to delete), applied
        in the same transaction as the read (the region's row locked: two
        writers of one region take turns); the number of keys deleted."""
        def apply(conn: pg.Connection) -> int:
            conn.run("BEGIN")
            try:
                conn.run("SELECT 1 FROM cloud_region WHERE cloud_owner = :o"
                         " AND cloud_region_id = :r FOR UPDATE", o=owner, r=region)
                current = {k: doc for k, doc in conn.run(
                    "SELECT child_key, doc FROM region_child WHERE cloud_owner = :o"
                    " AND cloud_region_id = :r", o=owner, r=region)}
                written, deleted = change(current)
                for child_key in deleted:
                    conn.run("DELETE FROM region_child WHERE cloud_owner = :o"
                             " AND cloud_region_id = :r AND child_key = :k",
                             o=owner, r=region, k=child_key)
                for child_key, doc in written.items():
                    conn.run("INSERT INTO region_child VALUES (:o, :r, :k, CAST(:d AS JSONB))"
                             " ON CONFLICT (cloud_owner, cloud_region_id, child_key)"
                             " DO UPDATE SET doc = EXCLUDED.doc",
                             o=owner, r=region, k=child_key, d=json.dumps(doc))
                conn.run("COMMIT")
            except BaseException:
                _quietly(lambda: conn.run("ROLLBACK"))
                raise
            return len(deleted)
        return self._run(apply)


class _Pool:
    """At most `size` connections per process, handed out one request at a time.

    threading's semaphore and queue are green once eventlet has patched them,
    so waiting for a free connection suspends only the waiting green thread.
    """

    def __init__(self, connect: Callable[[], pg.Connection], size: int, wait: float):
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.LifoQueue[pg.Connection] = queue.LifoQueue()
        self._wait = wait
        self._pid = os.getpid()

    def run(self, work: Callable[[pg.Connection], T]) -> T:
        if self._pid != os.getpid():  # forked: the parent's connections are not ours
            self._idle, self._pid = queue.LifoQueue(), os.getpid()
        if not self._slots.acquire(timeout=self._wait):
            raise InventoryUnreachable(
                f"inventory (PostgreSQL) busy: no free connection within {self._wait:g} s")
        try:
            conn = self._take()
            try:
                result = work(conn)
            except (pg.InterfaceError, OSError) as exc:
                _quietly(conn.close)  # the connection is broken: do not reuse it
                raise _fault(exc) from None
            except pg.DatabaseError as exc:
                self._idle.put(conn)  # the server answered: the connection is fine
                raise _fault(exc) from None
            except BaseException:  # e.g. the green thread killed mid-query
                _quietly(conn.close)
                raise
            self._idle.put(conn)
            return result
        finally:
            self._slots.release()

    def close_idle(self) -> None:
        if self._pid != os.getpid():
            return  # the parent's connections: not ours to close
        while True:
            try:
                _quietly(self._idle.get_nowait().close)
            except queue.Empty:
                return

    def _take(self) -> pg.Connection:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            return self._connect()
        except (pg.InterfaceError, pg.DatabaseError, OSError) as exc:
            raise _fault(exc) from None


def _fault(exc: Exception) -> InventoryError:
    """The broker's error for a driver error: outage, refusal, or other."""
    fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    code, message = fields.get("C", ""), fields.get("M") or _reason(exc)
    if code.startswith("28"):  # invalid_authorization_specification, invalid_password
        return InventoryRefused("inventory (PostgreSQL) refused the broker's credentials: "
                                f"{message}")
    if code == "3D000" or code.startswith("42"):  # no such database; schema or privilege
        return InventoryConfigError(f"inventory (PostgreSQL): {message}")
    if not fields or code.startswith(("08", "53", "57")):  # connection, resources, cancel
        return InventoryUnreachable(f"inventory (PostgreSQL) unreachable: {message}")
    return InventoryError(f"inventory (PostgreSQL) failed: {message}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    cause = exc.__cause__ or exc.__context__
    text = str(exc) or type(exc).__name__
    return f"{text} ({cause})" if cause is not None and str(cause) not in text else text


def _current_version(conn: pg.Connection) -> int:
    exists = conn.run("SELECT to_regclass('schema_version') IS NOT NULL")[0][0]
    if not exists:
        return 0
    return conn.run("SELECT COALESCE(max(version), 0) FROM schema_version")[0][0]


def _json(value: Any) -> str:
    return json.dumps(value or {})


def _access_params(region: CloudRegion) -> dict[str, Any]:
    # Bound as parameters, never formatted into the statement (nor logged).
    return {f"a{i}": value for i, value in enumerate(access_row(region.access))}


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:  # cleaning up after a fault: the fault is what matters
        pass


def postgres_inventory(conf) -> PostgresInventory:
    """The PostgreSQL inventory of a configuration's [inventory] section."""
    inv = conf.inventory
    return PostgresInventory(inv.postgresql_url, inv.postgresql_password_file,
                             inv.postgresql_pool_size, inv.postgresql_timeout)
