"""The Swagger 2.0 document, generated once from the route table."""

from __future__ import annotations

import json

from multicloud_broker import __version__
from multicloud_broker.core.routes import PREFIX, ROUTES

_CAPACITY_V0 = {
    "type": "object", "required": ["VIMs"],
    "properties": {"vCPU": {"type": "integer"}, "Memory": {"type": "number"},
                   "Storage": {"type": "integer"},
                   "VIMs": {"type": "array", "items": {"type": "string"}}},
}
_CAPACITY_V1 = {
    "type": "object", "required": ["VIMs"],
    "properties": {**_CAPACITY_V0["properties"], "VIMs": {
        "type": "array", "items": {"type": "object", "properties": {
            "cloud-owner": {"type": "string"}, "cloud-region-id": {"type": "string"}}}}},
}
_ERROR = {"description": "Error", "schema": {"$ref": "#/definitions/Error"}}


def swagger_document() -> bytes:
    """The whole document, serialised."""
    paths: dict = {}
    for route in ROUTES:
        path = "/" + route.template.replace(":path", "")
        paths[path] = {m.lower(): _operation(route, m) for m in route.methods}
    doc = {
        "swagger": "2.0",
        "info": {"title": "MultiCloud broker API", "version": __version__},
        "basePath": PREFIX.rstrip("/"),
        "schemes": ["http", "https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": {"Error": {"type": "object",
                                  "properties": {"error": {"type": "string"}}}},
    }
    return json.dumps(doc, indent=1).encode()


def _operation(route, method: str) -> dict:
    params = [{"name": name, "in": "path", "required": True, "type": "string"}
              for name in route.params]
    if route.action.startswith("check_capacity"):
        schema = _CAPACITY_V0 if route.action.endswith("v0") else _CAPACITY_V1
        params.append({"name": "body", "in": "body", "required": True, "schema": schema})
    responses = {"200": {"description": "OK"}, "400": _ERROR, "404": _ERROR,
                 "405": _ERROR}
    if route.action == "forward":
        responses = {"default": {"description": "The plugin's answer, unchanged"},
                     "404": _ERROR, "405": _ERROR, "413": _ERROR, "502": _ERROR,
                     "503": _ERROR, "504": _ERROR}
    return {"summary": route.summary, "operationId": f"{method.lower()}_{route.template}",
            "parameters": params, "responses": responses}
