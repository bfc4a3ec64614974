"""Cloud regions over HTTP, on A&AI's cloud-region paths and in its JSON shape.

Tools and plugins that register regions in A&AI can register them with the
broker's own inventory (sqlite or PostgreSQL) the same way:

    GET    /aai/{schema}/cloud-infrastructure/cloud-regions
    GET    /aai/{schema}/cloud-infrastructure/cloud-regions/cloud-region/{owner}/{id}
    PUT    (same path)  create or replace
    DELETE (same path)

`{schema}` is `[aai] schema_version`. The API is off unless `[region_api]`
has credentials: then its paths do not exist (404, and they are left out of
the Swagger document), so a broker nobody configured for it offers nothing
to guess a password for. With an A&AI inventory the broker owns no regions:
405, register them in A&AI.

A record is the four fields `region add` takes plus any other attributes,
kept as given, and a `resource-version` the broker sets on every write. As in
A&AI, a client may send the `resource-version` it read (in a PUT's body, a
DELETE's query) and gets 412 if the record changed since; the check and the
write are two statements, not a lock (last writer wins in a race).

The cloud's access is A&AI's too (inventory/esr.py): the first entry of
`esr-system-info-list` and `openstack-region-id` (in it, or in the JSON text
`cloud-extra-info`). It is stored as the region's CloudAccess and shown from
it, WITHOUT the password: an answer never holds one. A PUT without a password
keeps the stored one when service-url and user-name are unchanged (so a
GET-modify-PUT round trip does not wipe it); with either changed it must
carry the password (400 otherwise: a stored password is never sent to
another Keystone or for another user).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from multicloud_broker.core.errors import ApiError, BadRequest, NotFound
from multicloud_broker.core.http import Request, Response
from multicloud_broker.core.vimid import make_vim_id
from multicloud_broker.inventory import (ESR, ESR_LIST, CloudRegion, RegionNotFound,
                                         RegionStore)
from multicloud_broker.inventory.children import nest, prune, walk
from multicloud_broker.inventory.esr import (EXTRA_INFO, FIRST, PASSWORD, REGION_KEY,
                                             AccessError, access_from, check_extra_info,
                                             with_access)

BODY_LIMIT = 1 << 20  # a region record is a few hundred bytes; A&AI's with relations, more
RESOURCE_VERSION = "resource-version"
KEYS = ("cloud-owner", "cloud-region-id")
REQUIRED = ("cloud-type", "cloud-region-version")
CHALLENGE = 'Basic realm="multicloud-broker regions", charset="UTF-8"'
LIST_TEMPLATE = "aai/{schema}/cloud-infrastructure/cloud-regions"
ONE_TEMPLATE = LIST_TEMPLATE + "/cloud-region/{cloud_owner}/{cloud_region_id}"
CHILD_TEMPLATE = ONE_TEMPLATE + "/{rest}"


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str):
        super().__init__(message, headers=[("WWW-Authenticate", CHALLENGE)])


class NotOwned(ApiError):
    """The inventory is A&AI: the broker owns no regions to manage."""

    status = 405

    def __init__(self) -> None:
        # An empty Allow: no method of this resource is served here.
        super().__init__("the inventory is A&AI ([inventory] backend = aai): "
                         "manage cloud regions in A&AI itself", headers=[("Allow", "")])


class PreconditionFailed(ApiError):
    status = 412


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)  # never in a log line or a traceback

    def accept(self, authorization: str | None) -> None:
        """Return if `authorization` is Basic with these credentials; else 401."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "basic":
            raise Unauthorized("credentials required (HTTP basic auth)")
        try:
            user, sep, password = base64.b64decode(token.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            raise Unauthorized("malformed basic credentials") from None
        # Both compared in constant time, and both always: the answer's timing
        # tells neither which part was wrong nor how much of it was right.
        user_ok = hmac.compare_digest(user, self.username.encode())
        password_ok = hmac.compare_digest(password, self.password.encode())
        if not (sep and user_ok and password_ok):
            raise Unauthorized("wrong username or password")


class RegionApi:
    """Answers the regions API from a RegionStore (None: the inventory is A&AI)."""

    def __init__(self, schema: str, credentials: Credentials | None,
                 store: RegionStore | None, clock: Callable[[], int] = time.time_ns):
        self.schema = schema
        self.credentials = credentials
        self._store = store
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return self.credentials is not None

    def serves(self, params: dict[str, str]) -> bool:
        """Whether a matched region route exists here: on, and the schema is ours."""
        return self.enabled and params.get("schema") == self.schema

    # -- actions ------------------------------------------------------------
    def list(self, request: Request) -> Response:
        store = self._admit(request)
        return Response.json(200, {"cloud-region": [record(r) for r in store.list()]})

    def one(self, request: Request, owner: str, region_id: str) -> Response:
        store = self._admit(request)
        if request.method == "PUT":
            return self._put(store, request, owner, region_id)
        current = self._current(store, owner, region_id)
        if request.method == "DELETE":
            _check_version(current, _query_version(request.query))
            store.remove(owner, region_id)
            return Response(204, [])
        levels = _depth(request.query)
        if not levels:
            return Response.json(200, record(current))
        # With ?depth=, what the OpenStack plugin recorded under it, as A&AI nests it.
        tree = nest(store.children(owner, region_id), record(current))
        return Response.json(200, prune(tree, levels))

    def child(self, request: Request, owner: str, region_id: str, rest: str) -> Response:
        """GET of what the OpenStack plugin recorded under a region, at A&AI's
        path below it (`flavors`, `flavors/flavor/{id}`, `tenants/tenant/{t}/
        vservers/vserver/{v}`...): a container is `{"flavor": [...]}`."""
        store = self._admit(request)
        self._current(store, owner, region_id)
        path = rest.strip("/").split("/")
        found = walk(nest(store.children(owner, region_id)), path)
        if found is None:
            raise NotFound(f"cloud region {owner}/{region_id} has nothing recorded at {rest}")
        levels = _depth(request.query) or 0
        if len(path) % 3 == 1:  # a container: its objects, each at that depth
            return Response.json(200, {kind: [prune(item, levels) for item in items]
                                       for kind, items in found.items()})
        return Response.json(200, prune(found, levels))

    # -- steps --------------------------------------------------------------
    def _admit(self, request: Request) -> RegionStore:
        assert self.credentials is not None  # routes are not served when off
        self.credentials.accept(request.headers.get("authorization"))
        if self._store is None:
            raise NotOwned()
        return self._store

    def _current(self, store: RegionStore, owner: str, region_id: str) -> CloudRegion:
        try:
            make_vim_id(owner, region_id)
        except NotFound:
            raise RegionNotFound(owner, region_id) from None  # never stored
        return store.get(owner, region_id)

    def _put(self, store: RegionStore, request: Request, owner: str,
             region_id: str) -> Response:
        given = parse_record(request.read_json(BODY_LIMIT), owner, region_id)
        expected = given.extra.pop(RESOURCE_VERSION, None)
        current = None
        if expected is not None or (given.access is not None and not given.access.has_password):
            try:
                current = store.get(owner, region_id)
            except RegionNotFound:
                if expected is not None:
                    raise PreconditionFailed(
                        f"cloud region {owner}/{region_id} does not exist: a new record "
                        f"has no {RESOURCE_VERSION} to match") from None
        if expected is not None:
            assert current is not None
            _check_version(current, expected)
        given = _keep_password(given, current)
        given.extra[RESOURCE_VERSION] = str(self._clock())
        created = store.put(given)
        return Response.json(201 if created else 200, record(given))


def parse_record(body: object, owner: str, region_id: str) -> CloudRegion:
    """The region a PUT body describes; BadRequest naming the field at fault."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object: an A&AI cloud-region record")
    for name, in_path in zip(KEYS, (owner, region_id)):
        if name in body and body[name] != in_path:
            raise BadRequest(f"{name} {ascii(body[name])[:100]} in the body differs "
                             f"from {in_path!r} in the path")
    try:
        make_vim_id(owner, "x")
    except NotFound:
        raise BadRequest(f"cloud-owner {owner!r} in the path: letters, digits and '-' "
                         "only (no '_': vim ids are {cloud-owner}_{cloud-region-id})") from None
    try:
        make_vim_id("x", region_id)
    except NotFound:
        raise BadRequest(f"cloud-region-id {region_id!r} in the path: letters, digits, "
                         "'-' and '_' only") from None
    values = []
    for name in REQUIRED:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"{name} is required: a non-empty string")
        values.append(value)
    if RESOURCE_VERSION in body and not isinstance(body[RESOURCE_VERSION], str):
        raise BadRequest(f"{RESOURCE_VERSION} must be a string")
    try:
        check_extra_info(body)
        access = access_from(body, region_id)
    except AccessError as exc:
        raise BadRequest(exc.message) from None  # names the field, never its value
    # Kept as given, but for the passwords (CloudRegion drops them from extra).
    extra = {k: v for k, v in body.items() if k not in KEYS + REQUIRED}
    return CloudRegion(owner, region_id, values[0], values[1], extra=extra, access=access)


def _keep_password(given: CloudRegion, current: CloudRegion | None) -> CloudRegion:
    """`given`, with the stored password if it sent none for the same
    service-url and user-name; BadRequest if it changed either without one."""
    access = given.access
    if access is None or access.has_password or current is None:
        return given
    stored = current.access
    if stored is None or not stored.has_password:
        return given
    if (stored.auth_url, stored.username) != (access.auth_url, access.username):
        raise BadRequest(f"{FIRST}.{PASSWORD} is required: service-url or user-name "
                         "changed, and the stored password is only kept for the same ones")
    return replace(given, access=replace(access, password=stored.password))


def record(region: CloudRegion) -> dict:
    """A&AI's JSON shape of a region: its extra attributes, its access (never
    the password), then its fields."""
    return {**with_access(region.extra or {}, region.access, region.cloud_region_id),
            "cloud-owner": region.cloud_owner,
            "cloud-region-id": region.cloud_region_id, "cloud-type": region.cloud_type,
            "cloud-region-version": region.cloud_region_version}


def _depth(query: str) -> float | None:
    """A&AI's ?depth= (levels of children shown): None when not asked."""
    values = parse_qs(query, keep_blank_values=True).get("depth")
    if not values:
        return None
    if values[-1] == "all":
        return float("inf")
    if not values[-1].isascii() or not values[-1].isdigit():
        raise BadRequest("depth must be a number of levels or \"all\"")
    return int(values[-1])


def _query_version(query: str) -> str | None:
    # An empty value is a value: it matches no record's, so it is a 412.
    values = parse_qs(query, keep_blank_values=True).get(RESOURCE_VERSION)
    return values[-1] if values else None


def _check_version(current: CloudRegion, expected: str | None) -> None:
    have = (current.extra or {}).get(RESOURCE_VERSION)
    if expected is not None and expected != have:
        raise PreconditionFailed(
            f"{RESOURCE_VERSION} {expected!r} does not match the record's {have!r}: "
            "it changed since it was read")


def document(swagger: bytes, api: RegionApi) -> bytes:
    """The Swagger document with the region paths as this broker serves them:
    left out when the API is off, fully described (at the configured schema
    version) when on."""
    doc = json.loads(swagger)
    templates = {"/" + LIST_TEMPLATE: _list_operations, "/" + ONE_TEMPLATE: _one_operations,
                 "/" + CHILD_TEMPLATE: _child_operations}
    for path in templates:
        doc["paths"].pop(path, None)
    if api.enabled:
        for path, operations in templates.items():
            doc["paths"][path.replace("{schema}", api.schema)] = operations()
        doc["securityDefinitions"] = {"regionApi": {
            "type": "basic", "description": "[region_api] username and password"}}
        doc.setdefault("definitions", {}).update(_DEFINITIONS)
    return json.dumps(doc).encode()


# -- the Swagger description --------------------------------------------------
_TXID_HEADER = {"X-TransactionID": {"type": "string",
                                    "description": "The request's transaction id"}}
_OWNER_PARAM = {"name": "cloud_owner", "in": "path", "required": True, "type": "string",
                "pattern": "^[0-9a-zA-Z-]+$", "x-example": "CloudOwner"}
_REGION_PARAM = {"name": "cloud_region_id", "in": "path", "required": True,
                 "type": "string", "pattern": "^[0-9a-zA-Z_-]+$", "x-example": "RegionOne"}
_RECORD = {
    "type": "object", "required": list(REQUIRED),
    "description": "A&AI's cloud-region: these fields plus any others, kept as given",
    "properties": {
        "cloud-owner": {"type": "string", "description": "Must match the path if given"},
        "cloud-region-id": {"type": "string",
                            "description": "Must match the path if given"},
        "cloud-type": {"type": "string", "minLength": 1},
        "cloud-region-version": {"type": "string", "minLength": 1},
        RESOURCE_VERSION: {"type": "string", "description":
                           "Set by the broker on every write; sent back on a PUT, "
                           "it must match (else 412)"},
        EXTRA_INFO: {"type": "string", "description":
                     f"A JSON text, kept as given; its `{REGION_KEY}` names the region "
                     "in Keystone's catalog (absent or unreadable: the cloud-region-id)"},
        ESR_LIST: {"$ref": "#/definitions/EsrSystemInfoList"}},
    "additionalProperties": True}
_TEXT = {"type": "string"}
_ESR = {
    "type": "object",
    "description": "An external system's access, as in A&AI. The first entry is the "
                   "cloud's (its Keystone): service-url and user-name are required in "
                   "it. The password is write-only: answers never hold it. A PUT "
                   "without one keeps the stored password if service-url and user-name "
                   "are unchanged",
    "properties": {
        "esr-system-info-id": _TEXT,
        "system-type": {"type": "string", "description": '"VIM" for a cloud'},
        "service-url": {"type": "string", "pattern": "^[hH][tT][tT][pP][sS]?://[^\\s]+$",
                        "description": "Keystone's URL, http(s)://, without credentials"},
        "user-name": _TEXT,
        PASSWORD: {"type": "string", "minLength": 1, "description":
                   "Write-only: never in an answer (nor in logs or errors)"},
        "cloud-domain": {"type": "string", "description":
                         'The user\'s Keystone domain (default "Default")'},
        "default-tenant": {"type": "string", "description": "The project to scope to"},
        "ssl-cacert": {"type": "string", "description":
                       "PEM text of the CA certificate(s) that signed Keystone's"},
        "ssl-insecure": {"type": "boolean", "description":
                         "Do not verify Keystone's certificate (default false)"},
        REGION_KEY: {"type": "string", "description":
                     "The region's name in Keystone's catalog (wins over cloud-extra-info's)"},
    },
    "additionalProperties": True}
_DEFINITIONS = {
    "EsrSystemInfo": _ESR,
    "EsrSystemInfoList": {"type": "object", "properties": {
        ESR: {"type": "array", "items": {"$ref": "#/definitions/EsrSystemInfo"}}},
        "additionalProperties": True},
    # What a PUT sends (owner and id may come from the path alone)...
    "CloudRegionInput": _RECORD,
    # ...and what the broker answers: these fields always (a resource-version
    # too, but for regions added with `multicloud-broker region add`).
    "CloudRegion": {**_RECORD, "required": [*KEYS, *REQUIRED]},
    "CloudRegionList": {"type": "object", "required": ["cloud-region"], "properties": {
        "cloud-region": {"type": "array", "items": {"$ref": "#/definitions/CloudRegion"}}}},
}


def _answer(description: str, schema: str | None = "Error") -> dict:
    answer: dict = {"description": description, "headers": dict(_TXID_HEADER)}
    if schema:
        answer["schema"] = {"$ref": f"#/definitions/{schema}"}
    return answer


_COMMON = {
    "400": _answer("Malformed request or body (the error names the field)"),
    "401": _answer("No or wrong credentials (HTTP basic auth)"),
    "405": _answer("The inventory is A&AI: manage regions there"),
    "503": _answer("Inventory unavailable"),
}


def _operation(summary: str, op_id: str, params: list, answers: dict,
               produces: bool = True) -> dict:
    operation = {"summary": summary, "operationId": op_id, "security": [{"regionApi": []}],
                 "parameters": params, "responses": {**_COMMON, **answers}}
    if produces:  # not on DELETE: its success, a 204, has no body and no media type
        operation["produces"] = ["application/json"]
    return operation


def _list_operations() -> dict:
    return {"get": _operation("List the cloud regions of the broker's inventory",
                              "get_region_api_cloud_regions", [],
                              {"200": _answer("Every region", "CloudRegionList")})}


_DEPTH_PARAM = {"name": "depth", "in": "query", "required": False, "type": "string",
                "pattern": "^([0-9]+|all)$",
                "description": "Levels of what the OpenStack plugin recorded under the "
                               "region to show (A&AI's depth): a number or all"}


def _child_operations() -> dict:
    rest = {"name": "rest", "in": "path", "required": True, "type": "string",
            "pattern": "^[0-9a-zA-Z._-]+$",
            "description": "A&AI's path below the region: flavors, flavors/flavor/{id}, "
                           "tenants/tenant/{id}/vservers, ...", "x-example": "flavors"}
    return {"get": _operation(
        "What the OpenStack plugin recorded under a cloud region (registry, heatbridge)",
        "get_region_api_cloud_region_child", [_OWNER_PARAM, _REGION_PARAM, rest,
                                              _DEPTH_PARAM],
        {"200": _answer("The object, or a container {kind: [...]}", None), **{
            "404": _answer("No such region, or nothing recorded there")}})}


def _one_operations() -> dict:
    params = [_OWNER_PARAM, _REGION_PARAM]
    body = {"name": "body", "in": "body", "required": True,
            "schema": {"$ref": "#/definitions/CloudRegionInput"}}
    version = {"name": RESOURCE_VERSION, "in": "query", "required": False, "type": "string",
               "description": "If given, must match the record's (else 412)"}
    missing = {"404": _answer("No such region")}
    return {
        "get": _operation("Show one cloud region", "get_region_api_cloud_region",
                          [*params, _DEPTH_PARAM],
                          {"200": _answer("The region (with ?depth=, what is recorded "
                                          "under it)", "CloudRegion"), **missing}),
        "put": _operation("Create or replace a cloud region", "put_region_api_cloud_region",
                          [*params, body],
                          {"200": _answer("Replaced", "CloudRegion"),
                           "201": _answer("Created", "CloudRegion"),
                           "412": _answer("resource-version does not match"),
                           "413": _answer("Body over 1 MiB")}),
        "delete": _operation("Delete a cloud region", "delete_region_api_cloud_region",
                             [*params, version],
                             {"204": _answer("Deleted", None), **missing,
                              "412": _answer("resource-version does not match")},
                             produces=False),
    }
