"""A region's access in A&AI's shape: its esr-system-info and cloud-extra-info.

A&AI keeps how to reach a cloud under its region, in
`esr-system-info-list/esr-system-info`: one entry per external system, the
cloud's Keystone being the one of `system-type` "VIM". Like ONAP's plugins,
the broker reads the first entry. The region's name in Keystone's catalog,
when it is not the cloud-region-id, is `openstack-region-id`: in the region's
`cloud-extra-info` (a JSON text), or in the esr-system-info itself (where
ONAP's registration writes it; that one wins).

`access_from` reads a record (the regions API's PUT body, A&AI's answer) into
a CloudAccess; `with_access` writes one back into a record, never with a
password. Errors name the field, never its value.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from multicloud_broker.inventory import ESR, ESR_LIST, PASSWORD, CloudAccess

EXTRA_INFO = "cloud-extra-info"
REGION_KEY = "openstack-region-id"
SERVICE_URL, USER_NAME = "service-url", "user-name"
DOMAIN, TENANT, CA_CERT, INSECURE = "cloud-domain", "default-tenant", "ssl-cacert", "ssl-insecure"
# Typed wherever they appear (every entry), as the Swagger document says.
STRINGS = ("esr-system-info-id", "system-type", SERVICE_URL, USER_NAME, PASSWORD, DOMAIN,
           TENANT, CA_CERT, REGION_KEY)
PEM_MARK = "-----BEGIN CERTIFICATE-----"
FIRST = f"{ESR_LIST}.{ESR}[0]"


class AccessError(ValueError):
    """A value of the access that cannot be used; `field` is its A&AI name."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field
        self.message = f"{field} {problem}"


def entries(doc: dict) -> list[dict]:
    """The esr-system-info entries of an A&AI record (none: []); AccessError
    if the list or a typed value in any entry is malformed."""
    if ESR_LIST not in doc:
        return []
    container = doc[ESR_LIST]
    if not isinstance(container, dict):
        raise AccessError(ESR_LIST, 'must be an object: {"esr-system-info": [...]}')
    items = container.get(ESR, [])
    if not isinstance(items, list):
        raise AccessError(f"{ESR_LIST}.{ESR}", "must be an array of objects")
    for index, item in enumerate(items):
        where = f"{ESR_LIST}.{ESR}[{index}]"
        if not isinstance(item, dict):
            raise AccessError(where, "must be an object")
        for name in STRINGS:
            if name in item:
                check_text(item[name], f"{where}.{name}")
        if INSECURE in item and not isinstance(item[INSECURE], bool):
            raise AccessError(f"{where}.{INSECURE}", "must be a boolean (true or false)")
        if SERVICE_URL in item:
            check_url(item[SERVICE_URL], f"{where}.{SERVICE_URL}")
        if item.get(PASSWORD) == "":
            raise AccessError(f"{where}.{PASSWORD}", "must not be empty (leave it out "
                              "to keep the stored one)")
    return items


def check_text(value: object, where: str) -> str:
    """`value` if it is a string the stores can hold (UTF-8, no NUL)."""
    if not isinstance(value, str):
        raise AccessError(where, "must be a string")
    if "\x00" in value:
        raise AccessError(where, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AccessError(where, "must be valid Unicode (no lone surrogates)") from None
    return value


def check_url(value: object, where: str) -> str:
    """`value` if it is an http(s) URL with a host and without credentials."""
    text = check_text(value, where)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError when out of range or not a number
    except ValueError:
        raise AccessError(where, "is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise AccessError(where, "must be an http:// or https:// URL with a host")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise AccessError(where, "must not contain spaces or control characters")
    if parts.username is not None or parts.password is not None:
        raise AccessError(where, f"must not carry credentials: give them as {USER_NAME} "
                          f"and {PASSWORD}")
    return text


def check_ca_cert(value: str, where: str) -> str:
    if value and PEM_MARK not in value:
        raise AccessError(where, "must be the CA certificate's PEM text "
                          f"({PEM_MARK} ...), not a file name")
    return value


def check_extra_info(doc: dict) -> None:
    """cloud-extra-info, if given, must be a string (A&AI's type); its content
    is free (JSON expected, anything else read as no openstack-region-id)."""
    if EXTRA_INFO in doc:
        check_text(doc[EXTRA_INFO], EXTRA_INFO)


def openstack_region(doc: dict, entry: dict | None, region_id: str) -> str:
    """openstack-region-id of the esr entry, else of cloud-extra-info's JSON,
    else the cloud-region-id (absent, invalid or not a non-empty string:
    the next source)."""
    value = (entry or {}).get(REGION_KEY)
    if isinstance(value, str) and value.strip():
        return value
    text = doc.get(EXTRA_INFO)
    if isinstance(text, str) and text.strip():
        try:
            info = json.loads(text)
        except ValueError:
            info = None
        value = info.get(REGION_KEY) if isinstance(info, dict) else None
        if isinstance(value, str) and value.strip():
            return value
    return region_id


def access_from(doc: dict, region_id: str) -> CloudAccess | None:
    """The access an A&AI record describes (None: no esr-system-info); its
    password None when the entry has none. AccessError names a field."""
    items = entries(doc)
    if not items:
        return None
    first = items[0]
    for name, what in ((SERVICE_URL, "the cloud's Keystone URL, http(s)://..."),
                       (USER_NAME, "the cloud's user name")):
        if not str(first.get(name, "")).strip():
            raise AccessError(f"{FIRST}.{name}", f"is required: {what}")
    return CloudAccess(
        auth_url=first[SERVICE_URL], username=first[USER_NAME], password=first.get(PASSWORD),
        user_domain=first.get(DOMAIN) or "Default", project=first.get(TENANT, ""),
        ca_cert=check_ca_cert(first.get(CA_CERT, ""), f"{FIRST}.{CA_CERT}"),
        insecure=first.get(INSECURE, False),
        openstack_region=openstack_region(doc, first, region_id))


def with_access(doc: dict, access: CloudAccess | None, region_id: str) -> dict:
    """`doc` (a record's attributes, kept as given) with `access` written over
    its first esr-system-info (one made if there is none): the stored access
    is what a record shows. Never a password, in any entry."""
    if access is None:
        return doc
    try:
        items = [dict(item) for item in entries(doc)]
    except AccessError:
        items = []
    first = items[0] if items else {"system-type": "VIM"}
    first.update({SERVICE_URL: access.auth_url, USER_NAME: access.username,
                  DOMAIN: access.user_domain, INSECURE: access.insecure})
    for name, value in ((TENANT, access.project), (CA_CERT, access.ca_cert)):
        if value or name in first:
            first[name] = value
    items = [{k: v for k, v in item.items() if k != PASSWORD} for item in [first, *items[1:]]]
    container = doc.get(ESR_LIST)
    result = {**doc, ESR_LIST: {**(container if isinstance(container, dict) else {}),
                                ESR: items}}
    if openstack_region(result, items[0], region_id) != access.openstack_region:
        if REGION_KEY in items[0] or EXTRA_INFO in result:
            items[0][REGION_KEY] = access.openstack_region
        else:
            result[EXTRA_INFO] = json.dumps({REGION_KEY: access.openstack_region})
    return result
