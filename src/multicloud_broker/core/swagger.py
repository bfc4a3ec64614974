"""The Swagger 2.0 document, generated once from the route table.

It describes every route of core.routes: the broker's own answers with their
schemas, the forwarded calls as the plugin's answer (`default`) plus the
errors the broker makes itself, every path parameter with its pattern. A
schema-driven fuzzer checks the running broker against it
(tests/contract/test_schema_fuzz.py), so it must say what the broker does,
no more and no less.

The base path is `/` and each path is written in full: most routes are under
`/api/multicloud/`, but not all (health endpoints live at the root).
"""

from __future__ import annotations

import json

from multicloud_broker import __version__
from multicloud_broker.core.routes import PREFIX, ROUTES, Route

DEFAULT_CAPACITY_MAX_VIMS = 100
_REF_ERROR = {"$ref": "#/definitions/Error"}
_TXID = {"X-TransactionID": {
    "type": "string",
    "description": "The request's transaction id: the client's, or one the broker made"}}

# Path parameters, as core/vimid.py and core/routes.py accept them. A vim id
# that spells a name the broker answers itself (v0/vim_types) is routed there,
# and a {rest} that spells a fixed route's name (registry, ...) is routed to
# that route, whose methods differ: both are left out of the patterns.
_OWNER = "[0-9a-zA-Z-]+"
_REGION = "[0-9a-zA-Z_-]+"
_OWN_NAMES = "vim_types|check_vim_capacity"
_FIXED_NAMES = "registry|extensions|infra_workload"
# One path segment; none of `.`/`..` (refused as dot-segments) nor encoded
# characters (an encoded `/` or `\` is refused; others would not match this).
_SEGMENT = "[0-9A-Za-z_~-][0-9A-Za-z._~-]*"
_PARAMETERS = {
    "vimid": {"pattern": f"^(?!({_OWN_NAMES})$){_OWNER}_{_REGION}$",
              "x-example": "CloudOwner_RegionOne",
              "description": "Vim id: {cloud-owner}_{cloud-region-id}; the owner has no `_`"},
    "cloud_owner": {"pattern": f"^{_OWNER}$", "x-example": "CloudOwner",
                    "description": "The cloud region's cloud-owner (no `_`)"},
    "cloud_region_id": {"pattern": f"^{_REGION}$", "x-example": "RegionOne",
                        "description": "The cloud region's cloud-region-id"},
    "rest": {"pattern": f"^(?!({_FIXED_NAMES})$){_SEGMENT}$", "x-example": "tenants",
             "description": "The rest of the path, passed to the plugin as it is. Any "
                            "number of segments is forwarded; documented as one segment."},
}


def _capacity_request(vims_items: dict, example_vims: list, max_vims: int) -> dict:
    return {
        "type": "object", "required": ["VIMs"],
        "properties": {
            # Any JSON number is passed on to the plugins (ONAP sends integers
            # for vCPU and Storage); a missing one is sent as 0.
            "vCPU": {"type": "number", "description": "Virtual CPUs (0 when missing)"},
            "Memory": {"type": "number", "description": "Memory, MB (0 when missing)"},
            "Storage": {"type": "number", "description": "Disk, GB (0 when missing)"},
            "VIMs": {"type": "array", "items": vims_items, "maxItems": max_vims,
                     "description": f"At most {max_vims} VIMs (413 above). Unknown, "
                                    "malformed or unreachable ones are left out of "
                                    "the answer, not refused."},
        },
        "example": {"vCPU": 2, "Memory": 2048, "Storage": 20, "VIMs": example_vims},
    }


def _definitions(max_vims: int) -> dict:
    region = {"type": "object", "required": ["cloud-owner", "cloud-region-id"],
              "properties": {"cloud-owner": {"type": "string"},
                             "cloud-region-id": {"type": "string"}}}
    return {
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string",
                                           "description": "What went wrong"}}},
        "VimTypes": {"type": "array", "items": {
            "type": "object", "required": ["vim_type", "versions"],
            "properties": {"vim_type": {"type": "string"},
                           "versions": {"type": "array", "items": {"type": "string"}}}}},
        "CapacityRequestV0": _capacity_request(
            {"type": "string", "description": "A vim id"}, ["CloudOwner_RegionOne"], max_vims),
        "CapacityRequestV1": _capacity_request(
            region, [{"cloud-owner": "CloudOwner", "cloud-region-id": "RegionOne"}], max_vims),
        "CapacityAnswerV0": {"type": "object", "required": ["VIMs"], "properties": {
            "VIMs": {"type": "array", "items": {"type": "string"},
                     "description": "The listed vim ids whose plugin said yes, in order"}}},
        "CapacityAnswerV1": {"type": "object", "required": ["VIMs"], "properties": {
            "VIMs": {"type": "array", "description": "The listed regions whose plugin "
                     "said yes, in order, each with the plugin's availability zones",
                     "items": {**region, "required": [*region["required"], "AZs"],
                               "properties": {**region["properties"],
                                              "AZs": {"type": "array"}}}}}},
        "Health": {"type": "object", "required": ["status"],
                   "properties": {"status": {"type": "string", "enum": ["ok"]}}},
        "Readiness": {"type": "object", "required": ["status", "checks"], "properties": {
            "status": {"type": "string", "enum": ["ready", "not ready"]},
            "error": {"type": "string", "description": "When not ready: the failing checks"},
            "checks": {"type": "object", "description": "Each check by name: \"ok\" or "
                       "what is wrong", "additionalProperties": {"type": "string"}}}},
        "SwaggerDocument": {"type": "object", "required": ["swagger", "info", "paths"],
                            "properties": {"swagger": {"type": "string", "enum": ["2.0"]}}},
    }


def swagger_document(capacity_max_vims: int = DEFAULT_CAPACITY_MAX_VIMS) -> bytes:
    """The whole document, serialised."""
    paths: dict = {}
    for route in ROUTES:
        path = _full_path(route)
        paths.setdefault(path, {}).update(
            {m.lower(): _operation(route, m) for m in route.methods})
    doc = {
        "swagger": "2.0",
        "info": {"title": "MultiCloud broker API", "version": __version__,
                 "description": "ONAP's MultiCloud broker. A method a path does not "
                                "list is answered 405 with an Allow header; a path "
                                "not listed, 404. Every error the broker makes "
                                "itself is {\"error\": \"...\"}."},
        "basePath": "/",
        "schemes": ["http", "https"],
        "consumes": ["application/json"],
        "paths": paths,
        "definitions": _definitions(capacity_max_vims),
    }
    return json.dumps(doc, indent=1).encode()


def _full_path(route: Route) -> str:
    """The path as a client writes it: the route's root and its template."""
    return getattr(route, "root", PREFIX) + route.template.replace(":path", "")


def _error(description: str, *headers: str) -> dict:
    more = {"Allow": {"type": "string"}} if "Allow" in headers else {}
    return {"description": description, "schema": _REF_ERROR, "headers": {**_TXID, **more}}


def _ok(description: str, ref: str | None = None) -> dict:
    answer = {"description": description, "headers": dict(_TXID)}
    if ref:
        answer["schema"] = {"$ref": f"#/definitions/{ref}"}
    return answer


# Errors any request can meet before its route is answered.
_FRAMING = {"400": _error("Refused request: malformed framing or path"),
            "413": _error("Request body over the configured limit")}

_LOCAL = {
    "vim_types": {"200": _ok("Each cloud type of the catalog with its versions",
                             "VimTypes")},
    "swagger": {"200": _ok("This document", "SwaggerDocument")},
    "healthz": {"200": _ok("The worker answering is serving", "Health")},
    "readyz": {"200": _ok("Ready for traffic", "Readiness"),
               "503": {**_ok("Not ready: catalog not loaded, inventory not answering, "
                             "or draining", "Readiness")}},
    "check_capacity_v0": {"200": _ok("The vim ids that can host the resources",
                                     "CapacityAnswerV0"),
                          "400": _error("Body not JSON or not the documented shape"),
                          "413": _error("Body too large, or more VIMs than allowed")},
    "check_capacity_v1": {"200": _ok("The regions that can host the resources",
                                     "CapacityAnswerV1"),
                          "400": _error("Body not JSON or not the documented shape"),
                          "413": _error("Body too large, or more VIMs than allowed")},
}

_FORWARDED = {
    "default": {"description": "The plugin's answer: status, headers and body "
                               "passed on unchanged", "headers": dict(_TXID)},
    "400": _error("Refused path (dot-segments, encoded `/` or `\\`, control "
                  "characters) or framing; nothing was sent to the plugin"),
    "404": _error("Unknown cloud region, malformed vim id, or a cloud type "
                  "with no plugin"),
    "413": _error("Request body over the configured limit"),
    "502": _error("Plugin unreachable or its answer broken"),
    "503": _error("Inventory unreachable"),
    "504": _error("Plugin too slow"),
}


def _operation(route: Route, method: str) -> dict:
    params: list[dict] = [{"name": name, "in": "path", "required": True, "type": "string",
                           **_PARAMETERS.get(name, {})} for name in route.params]
    if route.action == "forward":
        responses = dict(_FORWARDED)
        if method in ("POST", "PUT", "PATCH"):
            params.append({"name": "body", "in": "body", "required": False,
                           "description": "Passed to the plugin unchanged",
                           "schema": {}})
    else:
        responses = {**_FRAMING, **_LOCAL.get(route.action, {"200": _ok(route.summary)})}
    if route.action.startswith("check_capacity"):
        version = route.action[-2:].upper()
        params.append({"name": "body", "in": "body", "required": True,
                       "schema": {"$ref": f"#/definitions/CapacityRequest{version}"}})
    operation_id = "_".join([method.lower(), *filter(None, _full_path(route).replace(
        "{", "").replace("}", "").replace(".", "_").split("/"))])
    operation = {"summary": route.summary, "operationId": operation_id,
                 "parameters": params, "responses": responses}
    if route.action != "forward":
        # No `produces` on forwarded calls: the plugin chooses its answers'
        # media types, and a 204 has none.
        operation["produces"] = ["application/json"]
    return operation
