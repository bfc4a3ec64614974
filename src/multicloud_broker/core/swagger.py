"""The Swagger 2.0 document, generated once from the route table.

It describes every route of core.routes: the broker's own answers with their
schemas, the forwarded calls as the plugin's answer (`default`) plus the
errors the broker makes itself, every path parameter with its pattern. A
schema-driven fuzzer checks the running broker against it
(tests/contract/test_schema_fuzz.py), so it must say what the broker does,
no more and no less.

The base path is `/` and each path is written in full: most routes are under
`/api/multicloud/`, but not all (health endpoints live at the root).
Parameters and answers shared by many operations are written once, in the
document's `parameters` and `responses`, and referred to.
"""

from __future__ import annotations

import json

from multicloud_broker import __version__
from multicloud_broker.core.routes import PREFIX, ROUTES, Route

DEFAULT_CAPACITY_MAX_VIMS = 100

# Path parameters, as core/vimid.py and core/routes.py accept them. A vim id
# that spells a name the broker answers itself (v0/vim_types) is routed there,
# and a {rest} that spells a fixed route's name (registry, ...) is routed to
# that route, whose methods differ: both are left out of the patterns.
_OWNER = "[0-9a-zA-Z-]+"
_REGION = "[0-9a-zA-Z_-]+"
_OWN_NAMES = "vim_types|check_vim_capacity"
_FIXED_NAMES = "registry|extensions|infra_workload"
# One path segment as its client means it (before percent-encoding), as
# core/target.py forwards it: any characters but `/`, `\` and control
# characters; not `.` or `..` (dot-segments); and no percent-escape that
# decodes, once or more, into one of those (e.g. a literal `%2F`), nor one
# nested deeper than target.py decodes. The plugin decides whether the name
# exists.
_ESCAPED = "%(?:25)*"  # a `%`, itself encoded any number of times
_SEGMENT = (rf"(?!(?:\.|{_ESCAPED}2[eE]){{1,2}}$)"
            rf"(?!.*{_ESCAPED}(?:2[fF]|5[cC]|[01][0-9a-fA-F]|7[fF]))"
            r"(?!.*%(?:25){3}[0-9a-fA-F]{2})"
            r"[^/\\\x00-\x1f\x7f]+")
_TXID_TOKEN = "[A-Za-z0-9._:-]{1,128}"


def _path_param(name: str, pattern: str, example: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "type": "string",
            "pattern": pattern, "x-example": example, "description": description}


_PARAMETERS = {
    "vimid": _path_param("vimid", f"^(?!({_OWN_NAMES})$){_OWNER}_{_REGION}$",
                         "CloudOwner_RegionOne",
                         "Vim id: {cloud-owner}_{cloud-region-id}; the owner has no `_`"),
    "cloud_owner": _path_param("cloud_owner", f"^{_OWNER}$", "CloudOwner",
                               "The cloud region's cloud-owner (no `_`)"),
    "cloud_region_id": _path_param("cloud_region_id", f"^{_REGION}$", "RegionOne",
                                   "The cloud region's cloud-region-id"),
    "rest": _path_param("rest", f"^(?!({_FIXED_NAMES})$){_SEGMENT}$", "tenants",
                        "The rest of the path, passed to the plugin as it is. Any "
                        "number of segments is forwarded; documented as one."),
    "transaction_id": {
        "name": "X-TransactionID", "in": "header", "required": False, "type": "string",
        "description": f"Kept if a token of {_TXID_TOKEN}, else replaced by a generated "
                       "one (logged); sent to the plugin and returned on the answer"},
}

_TXID_ANY = {"X-TransactionID": {
    "type": "string", "x-required": True,
    "description": "The request's transaction id: the client's, or one the broker "
                   "made (on a forwarded call the plugin may have set its own)"}}
_TXID = {"X-TransactionID": {**_TXID_ANY["X-TransactionID"], "pattern": f"^{_TXID_TOKEN}$"}}


def _answer(description: str, schema: str | None = None, headers: dict = _TXID) -> dict:
    answer = {"description": description, "headers": dict(headers)}
    if schema:
        answer["schema"] = {"$ref": f"#/definitions/{schema}"}
    return answer


def _error(description: str, headers: dict = _TXID) -> dict:
    return _answer(description, "Error", headers)


_RESPONSES = {
    # Any request can meet these before its route is answered.
    "BadFraming": _error("Refused request: malformed framing or path"),
    "TooLarge": _error("Request body over the configured limit"),
    "VimTypes": _answer("Each cloud type of the catalog with its versions", "VimTypes"),
    "Swagger": _answer("This document", "SwaggerDocument"),
    "Healthy": _answer("The worker answering is serving (with a shared inventory: "
                       "its state, whatever it is)", "Health"),
    "Ready": _answer("Ready for traffic", "Readiness"),
    "Metrics": _answer("Prometheus metrics summed over every worker process, in the "
                       "text exposition format 0.0.4"),
    "NotReady": _answer("Not ready: catalog not loaded, the local (SQLite) inventory "
                        "unusable, or draining", "Readiness"),
    "CapacityV0": _answer("The vim ids that can host the resources", "CapacityAnswerV0"),
    "CapacityV1": _answer("The regions that can host the resources", "CapacityAnswerV1"),
    "BadCapacityRequest": _error("Body not JSON or not the documented shape"),
    "CapacityTooLarge": _error("Body too large, or more VIMs than allowed"),
    "Done": _answer("Done"),  # a route this module has no schema for yet
    # A forwarded call: the plugin's answer, or an error of the broker's own.
    # (A plugin's answer with one of these statuses passes unchanged too; ONAP's
    # MultiCloud plugins answer errors in the same shape.)
    "PluginAnswer": _answer("The plugin's answer: status, headers and body passed "
                            "on unchanged", headers=_TXID_ANY),
    "RefusedPath": _error("Refused path (dot-segments, encoded `/` or `\\`, control "
                          "characters) or framing; nothing was sent to the plugin",
                          _TXID_ANY),
    "UnknownRegion": _error("Unknown cloud region, malformed vim id, or a cloud type "
                            "with no plugin", _TXID_ANY),
    "ForwardTooLarge": _error("Request body over the configured limit", _TXID_ANY),
    "PluginUnreachable": _error("Plugin unreachable or its answer broken", _TXID_ANY),
    "InventoryUnreachable": _error("Inventory unreachable", _TXID_ANY),
    "PluginTimeout": _error("Plugin too slow", _TXID_ANY),
}

_FRAMING = {"400": "BadFraming", "413": "TooLarge"}
# Each action the broker answers itself: status -> response name.
_LOCAL = {
    "vim_types": {**_FRAMING, "200": "VimTypes"},
    "swagger": {**_FRAMING, "200": "Swagger"},
    "healthz": {**_FRAMING, "200": "Healthy"},
    "readyz": {**_FRAMING, "200": "Ready", "503": "NotReady"},
    "metrics": {**_FRAMING, "200": "Metrics"},
    "check_capacity_v0": {"200": "CapacityV0", "400": "BadCapacityRequest",
                          "413": "CapacityTooLarge"},
    "check_capacity_v1": {"200": "CapacityV1", "400": "BadCapacityRequest",
                          "413": "CapacityTooLarge"},
}
# Actions whose answer is not JSON.
_PRODUCES = {"metrics": ["text/plain; version=0.0.4; charset=utf-8"]}
_FORWARDED = {"default": "PluginAnswer", "400": "RefusedPath", "404": "UnknownRegion",
              "413": "ForwardTooLarge", "502": "PluginUnreachable",
              "503": "InventoryUnreachable", "504": "PluginTimeout"}


def _capacity_request(vims_items: dict, example_vims: list, max_vims: int) -> dict:
    return {
        "type": "object", "required": ["VIMs"],
        "properties": {
            # Any JSON number is passed on to the plugins (ONAP sends integers
            # for vCPU and Storage); a missing one is sent as 0.
            "vCPU": {"type": "number", "description": "Virtual CPUs (0 when missing)"},
            "Memory": {"type": "number", "description": "Memory (0 when missing)"},
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
        "Health": {"type": "object", "required": ["status"], "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "inventory": {
                "type": "object", "required": ["backend", "state"],
                "description": "A shared inventory (A&AI, PostgreSQL) as this worker "
                "knows it from its lookups and background probes; not a readiness "
                "check. Absent for the embedded SQLite, which /readyz checks",
                "properties": {
                    "backend": {"type": "string", "enum": ["aai", "postgresql"]},
                    "state": {"type": "string", "enum": ["unknown", "up", "unreachable",
                                                         "refused", "failing"]},
                    "error": {"type": "string", "description": "When not up: why"},
                    "since": {"type": "string", "format": "date-time",
                              "description": "When the state began (UTC)"},
                    "checked_seconds_ago": {"type": "number", "description":
                                            "Age of the last outcome heard"}}}}},
        "Readiness": {"type": "object", "required": ["status", "checks"], "properties": {
            "status": {"type": "string", "enum": ["ready", "not ready"]},
            "error": {"type": "string", "description": "When not ready: the failing checks"},
            "checks": {"type": "object", "description": "Each check by name: \"ok\" or "
                       "what is wrong", "additionalProperties": {"type": "string"}}}},
        "SwaggerDocument": {"type": "object", "required": ["swagger", "info", "paths"],
                            "properties": {"swagger": {"type": "string", "enum": ["2.0"]}}},
    }


def swagger_document(capacity_max_vims: int = DEFAULT_CAPACITY_MAX_VIMS) -> bytes:
    """The whole document, serialised; `capacity_max_vims` is the configured
    bound on the VIMs of one check_vim_capacity."""
    paths: dict = {}
    for route in ROUTES:
        paths.setdefault(_full_path(route), {}).update(
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
        "parameters": _PARAMETERS,
        "responses": _RESPONSES,
        "definitions": _definitions(capacity_max_vims),
    }
    return json.dumps(doc).encode()


def _full_path(route: Route) -> str:
    """The path as a client writes it: the route's root and its template."""
    return getattr(route, "root", PREFIX) + route.template.replace(":path", "")


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/{kind}/{name}"}


def _operation(route: Route, method: str) -> dict:
    # A parameter this module does not know (a route added elsewhere) is
    # written out as a plain string, so no reference dangles.
    params = [_ref("parameters", name) if name in _PARAMETERS else
              {"name": name, "in": "path", "required": True, "type": "string"}
              for name in route.params]
    params.append(_ref("parameters", "transaction_id"))
    forwarded = route.action == "forward"
    if forwarded and method in ("POST", "PUT", "PATCH"):
        params.append({"name": "body", "in": "body", "required": False,
                       "description": "Passed to the plugin unchanged", "schema": {}})
    if route.action.startswith("check_capacity"):
        version = route.action[-2:].upper()
        params.append({"name": "body", "in": "body", "required": True,
                       "schema": {"$ref": f"#/definitions/CapacityRequest{version}"}})
    statuses = _FORWARDED if forwarded else _LOCAL.get(route.action,
                                                         {**_FRAMING, "200": "Done"})
    operation_id = "_".join([method.lower(), *filter(None, _full_path(route).replace(
        "{", "").replace("}", "").replace(".", "_").split("/"))])
    operation = {"summary": route.summary, "operationId": operation_id,
                 "parameters": params,
                 "responses": {status: _ref("responses", name)
                               for status, name in statuses.items()}}
    if not forwarded:
        # Forwarded calls have none: the plugin chooses its answers' media
        # types, and a 204 has none.
        operation["produces"] = _PRODUCES.get(route.action, ["application/json"])
    return operation
