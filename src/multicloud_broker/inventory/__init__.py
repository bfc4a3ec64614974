"""Where cloud regions are looked up: SQLite, PostgreSQL or ONAP A&AI.

The errors below are how an inventory tells the broker what went wrong; each
carries its HTTP status (core.errors), so an error that reaches a request is
answered as JSON, never as a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from multicloud_broker.core.errors import NotFound, ServiceUnavailable

LOG_INTERVAL = 60.0  # seconds between two log lines about the same fault


# A&AI's names (inventory/esr.py reads and writes the whole shape).
ESR_LIST = "esr-system-info-list"
ESR = "esr-system-info"
PASSWORD = "password"


@dataclass(frozen=True, repr=False)
class CloudAccess:
    """How to reach the cloud's own API (Keystone): A&AI's esr-system-info of the
    region (`service-url`, `user-name`, `password`, `cloud-domain`,
    `default-tenant`, `ssl-cacert`, `ssl-insecure`) and `openstack-region-id`.

    The password never shows in repr() or str() (so in no log line, error or
    traceback that formats the object); it is None when not set.
    """

    auth_url: str  # Keystone's URL, http(s)://... (service-url)
    username: str  # user-name
    password: str | None = None  # password; None: not set
    user_domain: str = "Default"  # cloud-domain: the user's (and project's) domain
    project: str = ""  # default-tenant, a project name; "": none
    # ssl-cacert: the CA certificate(s) as PEM *text*, as A&AI holds it (not a
    # path: a plugin writes it to a file if its client wants one); "": the
    # system's CAs.
    ca_cert: str = ""
    insecure: bool = False  # ssl-insecure: do not verify Keystone's certificate
    # The region's name in Keystone's catalog; "" is filled in by CloudRegion
    # with its cloud-region-id (the usual case: the two are the same).
    openstack_region: str = ""

    def __repr__(self) -> str:
        ca_cert = f"<{len(self.ca_cert)} chars>" if self.ca_cert else ""
        return (f"CloudAccess(auth_url={self.auth_url!r}, username={self.username!r}, "
                f"password={'<set>' if self.password is not None else None}, "
                f"user_domain={self.user_domain!r}, project={self.project!r}, "
                f"ca_cert={ca_cert!r}, insecure={self.insecure!r}, "
                f"openstack_region={self.openstack_region!r})")

    __str__ = __repr__

    @property
    def has_password(self) -> bool:
        return self.password is not None


@dataclass(frozen=True)
class CloudRegion:
    """One VIM as the inventory records it."""

    cloud_owner: str
    cloud_region_id: str
    cloud_type: str
    cloud_region_version: str
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    access: CloudAccess | None = None  # the cloud's access; None: not recorded

    def __post_init__(self) -> None:
        # Invariants every store and parser relies on: an access always names
        # its OpenStack region; extra never holds a password (it is shown).
        if self.access is not None and not self.access.openstack_region:
            object.__setattr__(self, "access",
                               replace(self.access, openstack_region=self.cloud_region_id))
        if self.extra and ESR_LIST in self.extra:
            object.__setattr__(self, "extra", without_passwords(self.extra))

    def as_dict(self) -> dict:
        return {"cloud-owner": self.cloud_owner,
                "cloud-region-id": self.cloud_region_id,
                "cloud-type": self.cloud_type,
                "cloud-region-version": self.cloud_region_version}

    def require_access(self) -> CloudAccess:
        """The access; IncompleteRegion (404) if the inventory has none."""
        if self.access is None:
            raise IncompleteRegion(self.cloud_owner, self.cloud_region_id,
                                   f"{ESR_LIST} (the cloud's access)")
        return self.access


def without_passwords(doc: dict) -> dict:
    """`doc` without a password in any of its esr-system-info entries (a copy
    if there was one to drop); an esr-system-info-list not of A&AI's shape is
    dropped whole: what cannot be read cannot be cleaned."""
    container = doc.get(ESR_LIST)
    if container is None:
        return doc
    items = container.get(ESR, []) if isinstance(container, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return {k: v for k, v in doc.items() if k != ESR_LIST}
    if not any(PASSWORD in item for item in items):
        return doc
    cleaned = [{k: v for k, v in item.items() if k != PASSWORD} for item in items]
    return {**doc, ESR_LIST: {**container, ESR: cleaned}}


# The access as the broker's own stores keep it (sqlite.py, postgresql.py):
# one nullable column per field; no access when access_auth_url is NULL.
ACCESS_COLUMNS = ("access_auth_url", "access_username", "access_password",
                  "access_user_domain", "access_project", "access_ca_cert",
                  "access_insecure", "access_openstack_region")


def access_row(access: CloudAccess | None) -> tuple:
    """The values of ACCESS_COLUMNS for `access` (all NULL for none)."""
    if access is None:
        return (None,) * len(ACCESS_COLUMNS)
    return (access.auth_url, access.username, access.password, access.user_domain,
            access.project, access.ca_cert, bool(access.insecure), access.openstack_region)


def access_from_row(values) -> CloudAccess | None:
    """The CloudAccess of ACCESS_COLUMNS' values, as access_row wrote them."""
    auth_url, username, password, domain, project, ca_cert, insecure, region = values
    if auth_url is None:
        return None
    return CloudAccess(auth_url, username or "", password, domain or "Default",
                       project or "", ca_cert or "", bool(insecure), region or "")


class RegionNotFound(NotFound):
    def __init__(self, owner: str, region: str):
        super().__init__(f"cloud region {owner}/{region} not found in the inventory")


class IncompleteRegion(NotFound):
    """The inventory has the region but not a usable value of `field_name`.

    404-class: the record must be fixed in the inventory; no plugin is at fault.
    """

    def __init__(self, owner: str, region: str, field_name: str):
        super().__init__(f"cloud region {owner}/{region} has no usable {field_name} "
                         "in the inventory")
        self.field_name = field_name


class RegionExists(Exception):
    """Adding a region that is already there."""


class InventoryError(ServiceUnavailable):
    """The inventory cannot answer (503): every inventory failure derives from it."""


class InventoryUnreachable(InventoryError):
    """A transient fault (down, 5xx, timeout, unreadable answer): regions seen
    before may be served from the cache while it lasts."""


class InventoryRefused(InventoryError):
    """The inventory refused the broker's credentials (401/403): a configuration
    error, not an outage."""


class InventoryConfigError(InventoryError):
    """The configured inventory cannot work at all (bad file, address, schema)."""


class Inventory(Protocol):
    def get(self, owner: str, region: str, transaction_id: str = "") -> CloudRegion:
        """The region; RegionNotFound, or an InventoryError if it cannot say."""

    def check(self) -> None:
        """Raise InventoryConfigError if this inventory cannot work as configured."""


class RegionStore(Inventory, Protocol):
    """An inventory the broker owns and manages itself (sqlite, postgresql)."""

    def list(self) -> list[CloudRegion]: ...

    def add(self, region: CloudRegion) -> None: ...

    def remove(self, owner: str, region: str) -> None: ...

    def put(self, region: CloudRegion) -> bool:
        """Create or replace the region (extra included); True if it was created."""

    def children(self, owner: str, region: str) -> dict[str, dict]:
        """What is recorded under the region (children.py), by key."""

    def change_children(self, owner: str, region: str, change) -> int:
        """Apply `change(current) -> (written, deleted keys)` in one transaction."""


def usable_region(owner: str, region: str, cloud_type: object, version: object,
                  extra: dict | None = None, access: CloudAccess | None = None) -> CloudRegion:
    """A CloudRegion from raw field values; IncompleteRegion names a field that
    is missing, empty or not a scalar (a plugin cannot be chosen without it)."""
    values = {}
    for name, value in (("cloud-type", cloud_type), ("cloud-region-version", version)):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise IncompleteRegion(owner, region, name)
        text = str(value).strip()
        if not text:
            raise IncompleteRegion(owner, region, name)
        values[name] = text
    return CloudRegion(owner, region, values["cloud-type"], values["cloud-region-version"],
                       extra=extra or {}, access=access)


class LogThrottle:
    """Says yes once per `interval` per key: log lines, not log floods."""

    def __init__(self, interval: float = LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._next: dict[object, float] = {}

    def allow(self, key: object) -> bool:
        now = self._clock()
        if self._next.get(key, 0.0) > now:
            return False
        if len(self._next) > 10000:
            self._next.clear()  # bounded: keys may be region ids
        self._next[key] = now + self._interval
        return True
