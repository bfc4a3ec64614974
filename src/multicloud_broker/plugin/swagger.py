"""The Swagger 2.0 document of a plugin's declared resource API.

Every declared resource gets its paths for both API versions:

- v0: ``/api/{plugin}/v0/{vimid}/{tenantid}/{resource}[/{id}]``
- v1: ``/api/{plugin}/v1/{cloud_owner}/{cloud_region_id}/{tenantid}/{resource}[/{id}]``

(without ``{tenantid}`` for a region-scoped resource such as tenants).

The base path is ``/`` and each path is written in full, as the broker's own
document does (``core/swagger.py``): the two documents then name the same
URL the same way and can be compared or merged, a reader sees the URL a
client calls, and the plugin name is a fixed part of the URL, not a path
parameter a fuzzer would have to guess.

Request schemas hold the fields a create (update) may give, the required
ones listed; answers hold the fields answered, with the MultiCloud envelope
(``vimId``, ``vimName``, ``tenantId``) and, for a create, ``returnCode``
(0: an existing resource of that name, 1: created). Errors are
``{"error": "..."}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from multicloud_broker import __version__
from multicloud_broker.plugin.declarations import MISSING, Field, Resource

_PLUGIN = re.compile(r"[A-Za-z0-9._-]+")
VERSIONS = ("v0", "v1")

_PARAMETERS: dict[str, dict] = {
    "vimid": {"name": "vimid", "in": "path", "required": True, "type": "string",
              "pattern": "^[^_/]+_[^/]+$", "x-example": "CloudOwner_RegionOne",
              "description": "Vim id: {cloud-owner}_{cloud-region-id}"},
    "cloud_owner": {"name": "cloud_owner", "in": "path", "required": True, "type": "string",
                    "pattern": "^[^_/]+$", "x-example": "CloudOwner",
                    "description": "The cloud region's cloud-owner (no `_`)"},
    "cloud_region_id": {"name": "cloud_region_id", "in": "path", "required": True,
                        "type": "string", "pattern": "^[^/]+$", "x-example": "RegionOne",
                        "description": "The cloud region's cloud-region-id"},
    "tenantid": {"name": "tenantid", "in": "path", "required": True, "type": "string",
                 "pattern": "^[^/]+$", "description": "Tenant (project) id"},
    "name": {"name": "name", "in": "query", "required": False, "type": "string",
             "description": "Only the items of this name"},
}

_RESPONSES: dict[str, dict] = {
    "BadRequest": {"description": "The request body does not fit the resource's fields",
                   "schema": {"$ref": "#/definitions/Error"}},
    "NotFound": {"description": "Unknown cloud region, tenant or resource",
                 "schema": {"$ref": "#/definitions/Error"}},
    "Failure": {"description": "Any other failure, the cloud's refusals included",
                "schema": {"$ref": "#/definitions/Error"}},
}


def swagger_document(resources: Mapping[str, Resource], plugin: str) -> dict:
    """The Swagger 2.0 document of ``resources`` served by ``plugin`` (the
    plugin's name in ``/api/{plugin}/``)."""
    if not _PLUGIN.fullmatch(plugin):
        raise ValueError(f"plugin name {plugin!r} is not one path segment")
    paths: dict[str, dict] = {}
    definitions: dict[str, dict] = {
        "Error": {"type": "object", "required": ["error"],
                  "properties": {"error": {"type": "string",
                                           "description": "What went wrong"}}}}
    parameters = dict(_PARAMETERS)
    tags = []
    for name in sorted(resources):
        resource = resources[name]
        tags.append({"name": resource.name,
                     "description": resource.description or f"MultiCloud {resource.name}"})
        definitions.update(_definitions(resource))
        for key in resource.cloud.list_query:
            parameters.setdefault(f"query_{key}", {
                "name": key, "in": "query", "required": False, "type": "string",
                "description": "Passed on to the cloud's list"})
        for version in VERSIONS:
            for path, item in _paths(resource, plugin, version).items():
                paths.setdefault(path, {}).update(item)
    paths.update(_operation_paths(plugin))
    definitions.update(_OPERATION_DEFINITIONS)
    tags += [{"name": "infra_workload", "description": "Heat workloads (SO)"},
             {"name": "capacity_check", "description": "Room for a demand (OOF, broker)"},
             {"name": "registry", "description": "The region's resources, recorded in the "
                                                 "inventory (ESR, OOF)"}]
    return {
        "swagger": "2.0",
        "info": {"title": f"{plugin} resource API", "version": __version__,
                 "description": "The MultiCloud resources this plugin serves, as "
                                "declared. Errors are {\"error\": \"...\"}."},
        "basePath": "/",
        "consumes": ["application/json"],
        "tags": tags,
        "paths": paths,
        "parameters": parameters,
        "responses": dict(_RESPONSES),
        "definitions": definitions,
    }


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/{kind}/{name}"}


def _paths(resource: Resource, plugin: str, version: str) -> dict[str, dict]:
    if version == "v0":
        prefix, scope = f"/api/{plugin}/v0/{{vimid}}", ["vimid"]
    else:
        prefix = f"/api/{plugin}/v1/{{cloud_owner}}/{{cloud_region_id}}"
        scope = ["cloud_owner", "cloud_region_id"]
    if resource.scope == "tenant":
        prefix += "/{tenantid}"
        scope.append("tenantid")
    collection = f"{prefix}/{resource.name}"
    id_param = re.sub(r"[^A-Za-z0-9]", "", f"{resource.singular}{resource.id_field}")
    item = f"{collection}/{{{id_param}}}"
    c = _camel(resource.name)
    common = [_ref("parameters", p) for p in scope]
    item_params = [*common, {"name": id_param, "in": "path", "required": True,
                             "type": "string", "pattern": "^[^/]+$",
                             "description": f"The {resource.singular}'s {resource.id_field}"}]
    out: dict[str, dict] = {}

    def op(verb: str, summary: str, responses: dict, extra: list | None = None) -> dict:
        operation: dict[str, Any] = {
            "tags": [resource.name], "summary": summary,
            "operationId": f"{verb}_{resource.name}_{version}",
            "responses": {**responses, "404": _ref("responses", "NotFound"),
                          "default": _ref("responses", "Failure")}}
        if extra:
            operation["parameters"] = extra
        # Per operation, not for the document: a delete's 204 has no body, so
        # no media type (Swagger 2.0 cannot say so per answer).
        if verb != "delete":
            operation["produces"] = ["application/json"]
        return operation

    coll_ops: dict[str, dict] = {}
    item_ops: dict[str, dict] = {}
    if resource.singleton:
        coll_ops["get"] = op("get", f"The tenant's {resource.name}",
                             {"200": {"description": "The document",
                                      "schema": _ref("definitions", f"{c}Answer")}})
    if "list" in resource.operations:
        query = []
        name_field = resource.field("name")
        if name_field is not None and name_field.source is not None:
            query.append(_ref("parameters", "name"))
        query += [_ref("parameters", f"query_{key}") for key in resource.cloud.list_query]
        coll_ops["get"] = op("list", f"List {resource.name}",
                             {"200": {"description": f"The {resource.name}",
                                      "schema": _ref("definitions", f"{c}List")}}, query)
    if "create" in resource.operations:
        created = _ref("definitions", f"{c}Created")
        body = {"name": "body", "in": "body", "required": True,
                "schema": _ref("definitions", f"{c}CreateRequest")}
        coll_ops["post"] = op("create", f"Create a {resource.singular}", {
            "200": {"description": "An existing one of that name (returnCode 0)",
                    "schema": created},
            "202": {"description": "Created, or being created (returnCode 1)",
                    "schema": created},
            "400": _ref("responses", "BadRequest")}, [body])
    if "get" in resource.operations and not resource.singleton:
        item_ops["get"] = op("get", f"One {resource.singular}",
                             {"200": {"description": f"The {resource.singular}",
                                      "schema": _ref("definitions", f"{c}Answer")}})
    if "update" in resource.operations:
        body = {"name": "body", "in": "body", "required": True,
                "schema": _ref("definitions", f"{c}UpdateRequest")}
        item_ops["put"] = op("update", f"Change a {resource.singular}", {
            "200": {"description": f"The {resource.singular}, changed",
                    "schema": _ref("definitions", f"{c}Answer")},
            "400": _ref("responses", "BadRequest")}, [body])
    if "delete" in resource.operations:
        item_ops["delete"] = op("delete", f"Delete a {resource.singular}",
                                {"204": {"description": "Deleted"}})
    if coll_ops:
        out[collection] = {"parameters": common, **coll_ops}
    if item_ops:
        out[item] = {"parameters": item_params, **item_ops}
    return out


def _envelope(resource: Resource) -> tuple[dict, list[str]]:
    props: dict[str, dict] = {
        "vimId": {"type": "string", "description": "{cloud-owner}_{cloud-region-id}"},
        "vimName": {"type": "string"},
        "cloud-owner": {"type": "string", "description": "v1 answers"},
        "cloud-region-id": {"type": "string", "description": "v1 answers"},
    }
    required = ["vimId"]
    if resource.scope == "tenant":
        props["tenantId"] = {"type": "string", "description": "Tenant (project) id"}
        required.append("tenantId")
    return props, required


def _definitions(resource: Resource) -> dict[str, dict]:
    c = _camel(resource.name)
    answered = {f.name: _schema(f, request=False) for f in resource.fields if f.answered}
    envelope, env_required = _envelope(resource)
    defs: dict[str, dict] = {}
    # The envelope's tenantId wins over no field: a field of that name
    # (the item's own tenant) keeps its description.
    answer_props = {**envelope, **answered}
    defs[f"{c}Answer"] = {"type": "object", "required": env_required,
                          "properties": answer_props}
    if resource.singleton:
        return defs
    defs[f"{c}Item"] = {"type": "object", "properties": answered}
    if "list" in resource.operations:
        defs[f"{c}List"] = {
            "type": "object", "required": [*env_required, resource.list_key],
            "properties": {**envelope, resource.list_key: {
                "type": "array", "items": _ref("definitions", f"{c}Item")}}}
    if "create" in resource.operations:
        defs[f"{c}Created"] = {
            "type": "object", "required": [*env_required, "returnCode"],
            "properties": {**answer_props, "returnCode": {
                "type": "integer", "enum": [0, 1],
                "description": "0: an existing resource of that name, 1: created"}}}
        defs[f"{c}CreateRequest"] = _request(resource, partial=False)
    if "update" in resource.operations:
        defs[f"{c}UpdateRequest"] = _request(resource, partial=True)
    return defs


def _request(resource: Resource, partial: bool) -> dict:
    props: dict[str, dict] = {}
    required = []
    for f in resource.fields:
        if not f.accepted:
            continue
        props[f.name] = _schema(f, request=True)
        for alias in f.aliases:
            props[alias] = {**_schema(f, request=True), "description": f"Same as {f.name}"}
            props[alias].pop("default", None)
        if f.required and not partial:
            required.append(f.name)
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def _schema(f: Field, request: bool) -> dict:
    schema: dict[str, Any] = {}
    if f.pairs is not None:
        schema["type"] = "array"
        schema["items"] = {"type": "object", "required": [f.pairs.key], "properties": {
            f.pairs.key: {"type": "string", "minLength": 1}, f.pairs.value: {}}}
    else:
        if f.type is not None:
            schema["type"] = f.type
        if request and f.required and f.type == "string":
            schema["minLength"] = 1  # "" counts as missing
        # Bounds hold for what we accept; an answer is the cloud's value, of
        # the declared type (convert.from_cloud sees to it), or null.
        if request and f.enum is not None:
            schema["enum"] = list(f.enum)
        if request and f.minimum is not None:
            schema["minimum"] = f.minimum
        if request and f.maximum is not None:
            schema["maximum"] = f.maximum
        if not request:
            schema["x-nullable"] = True
        if f.fields is not None:
            subs = [s for s in f.fields if (s.accepted if request else s.answered)]
            schema["properties"] = {s.name: _schema(s, request) for s in subs}
            required = [s.name for s in subs if request and s.required]
            if required:
                schema["required"] = required
        if f.type == "array":
            schema["items"] = _schema(f.items, request) if f.items is not None else {}
    if f.description:
        schema["description"] = f.description
    if request and f.default is not MISSING and f.default is not None:
        schema["default"] = f.default
    return schema


# infra_workload and capacity_check (plugin/workloads.py, plugin/capacity.py) -------

_OBJECT = {"type": "object"}
_OPERATION_DEFINITIONS: dict[str, dict] = {
    "WorkloadRequest": {
        "type": "object", "required": ["template_type", "template_data"],
        "description": "SO's request; also accepted as multipart/form-data (template_data "
                       "as JSON text; template, environment, stack_name as parts)",
        "properties": {
            "template_type": {"type": "string", "pattern": "^[Hh][Ee][Aa][Tt]$"},
            "template_data": {
                "type": "object", "required": ["stack_name", "template"],
                "properties": {
                    "stack_name": {"type": "string", "minLength": 1},
                    "template": {"description": "A Heat template: an object or its text"},
                    "parameters": _OBJECT, "files": _OBJECT,
                    "environment": {"description": "An object or its YAML text"}}},
            "oof_directives": {**_OBJECT, "description": "OOF's directives: a flavor "
                               "directive sets the template parameter it names"}}},
    "Workload": {
        "type": "object", "required": ["workload_id", "workload_status"],
        "properties": {
            "template_type": {"type": "string"},
            "workload_id": {"type": "string", "description": "Heat's stack id"},
            "workload_status": {"type": "string", "description": "Heat's stack_status"},
            "workload_status_reason": {
                "description": "Heat's stack: stack_status_reason, outputs..."},
            "heatbridge": {"$ref": "#/definitions/Heatbridge"}}},
    "Heatbridge": {
        "type": "object", "required": ["status"],
        "description": "Whether the completed stack's servers and ports are recorded in "
                       "the inventory (vservers, l-interfaces), or removed on delete",
        "properties": {
            "status": {"type": "string", "enum": ["UPDATE_COMPLETE", "UPDATE_FAILED",
                                                  "DELETE_COMPLETE", "DELETE_FAILED"]},
            "reason": {"type": "string", "description": "Why it failed"}}},
    "Registry": {
        "type": "object", "required": ["cloud-owner", "cloud-region-id"],
        "description": "What is recorded under the region, in A&AI's shape",
        "properties": {
            "status": {"type": "array", "description": "[0, message], as ONAP's plugin"},
            "vimId": {"type": "string"}, "cloud-owner": {"type": "string"},
            "cloud-region-id": {"type": "string"},
            **{name: {"type": "object", "properties": {kind: {
                "type": "array", "items": _OBJECT}}} for name, kind in (
                ("tenants", "tenant"), ("flavors", "flavor"), ("images", "image"),
                ("availability-zones", "availability-zone"), ("pservers", "pserver"))}}},
    "WorkloadList": {"type": "object", "required": ["workloads"], "properties": {
        "workloads": {"type": "array", "items": _ref("definitions", "Workload")}}},
    "CapacityRequest": {"type": "object", "properties": {
        "vCPU": {"type": "number", "minimum": 0},
        "Memory": {"type": "number", "minimum": 0, "description": "GB"},
        "Storage": {"type": "number", "minimum": 0, "description": "GB"}}},
    "CapacityAnswer": {"type": "object", "required": ["result", "AZs"], "properties": {
        "result": {"type": "boolean"},
        "AZs": {"type": "array", "items": {"type": "object", "properties": {
            "availability-zone-name": {"type": "string"},
            **{f"{kind}{part}": {"type": "number"} for kind in ("vCPU", "Memory", "Storage")
               for part in ("Avail", "Total")}}}}}},
}


def _operation_paths(plugin: str) -> dict[str, dict]:
    """The paths of infra_workload and capacity_check, in both API versions."""
    paths: dict[str, dict] = {}
    for version in VERSIONS:
        if version == "v0":
            prefix, scope = f"/api/{plugin}/v0/{{vimid}}", ["vimid"]
        else:
            prefix = f"/api/{plugin}/v1/{{cloud_owner}}/{{cloud_region_id}}"
            scope = ["cloud_owner", "cloud_region_id"]
        common = [_ref("parameters", p) for p in scope]

        def op(name: str, summary: str, responses: dict, params: list | None = None) -> dict:
            tag = ("capacity_check" if "capacity" in name else
                   "registry" if "regist" in name else "infra_workload")
            return {"tags": [tag],
                    "summary": summary, "operationId": f"{name}_{version}",
                    "produces": ["application/json"], "parameters": params or [],
                    "responses": {**responses, "404": _ref("responses", "NotFound"),
                                  "default": _ref("responses", "Failure")}}

        def body(definition: str) -> list:
            return [{"name": "body", "in": "body", "required": True,
                     "schema": _ref("definitions", definition)}]

        workload = {"description": "The workload", "schema": _ref("definitions", "Workload")}
        bad = _ref("responses", "BadRequest")
        query = [{"name": key, "in": "query", "required": False, "type": "string",
                  "description": f"The workload of this stack {key}"} for key in ("name", "id")]
        paths[f"{prefix}/infra_workload"] = {"parameters": common, "get": op(
            "list_workloads", "The workload of ?name= (or ?id=); without: all of them",
            {"200": {"description": "The workload, or {workloads: [...]}", "schema": _OBJECT},
             "400": bad}, query), "post": op(
            "create_workload", "Create a Heat stack",
            {"201": {"description": "Created: CREATE_IN_PROGRESS", "schema":
                     _ref("definitions", "Workload")}, "400": bad, "409": bad},
            body("WorkloadRequest"))}
        item = [*common, {"name": "workload_id", "in": "path", "required": True,
                          "type": "string", "pattern": "^[^/]+$",
                          "description": "Stack id or name"}]
        paths[f"{prefix}/infra_workload/{{workload_id}}"] = {"parameters": item, "get": op(
            "get_workload", "A workload's status, Heat's reason and outputs",
            {"200": workload}), "delete": op(
            "delete_workload", "Delete the stack",
            {"202": {"description": "DELETE_IN_PROGRESS; GET answers 404 once gone",
                     "schema": _ref("definitions", "Workload")}}), "post": op(
            "update_workload", "Record the completed stack's servers in the inventory",
            {"202": {"description": "UPDATE_COMPLETE", "schema":
                     _ref("definitions", "Workload")},
             "409": {"description": "The stack is not CREATE_COMPLETE",
                     "schema": _ref("definitions", "Error")}})}
        registry = {"description": "What is recorded",
                    "schema": _ref("definitions", "Registry")}
        paths[f"{prefix}/registry"] = {"parameters": common, "post": op(
            "registry", "Discover the region's tenants, flavors (HPA), images, zones and "
            "hypervisors and record them in the inventory", {"202": registry}), "get": op(
            "get_registry", "What is recorded under the region", {"200": registry})}
        paths[prefix] = {"parameters": common, "delete": {
            **op("unregister", "Remove what is recorded under the region", {}),
            "produces": [], "responses": {"204": {"description": "Removed"},
                                          "404": _ref("responses", "NotFound"),
                                          "default": _ref("responses", "Failure")}}}
        paths[f"{prefix}/capacity_check"] = {"parameters": common, "post": op(
            "capacity_check", "Whether the region can host the demand",
            {"200": {"description": "The answer, and the AZs' capacity",
                     "schema": _ref("definitions", "CapacityAnswer")}, "400": bad},
            body("CapacityRequest"))}
    return paths
