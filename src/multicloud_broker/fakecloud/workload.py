"""API v1 infra_workload: a Heat stack that builds for a while, then completes.

The template's servers (and volumes) allocate from the region's capacity; a
stack that does not fit goes to CREATE_FAILED, as Heat's would.
"""

from __future__ import annotations

import json
import time
from typing import Any

from multicloud_broker.fakecloud import fields as f
from multicloud_broker.fakecloud import uploads, usage
from multicloud_broker.fakecloud.store import Doc, new_id
from multicloud_broker.fakecloud.web import Ctx, HTTPError, Reply, bad_request, not_found

try:  # Heat templates are usually YAML; JSON ones need no parser.
    import yaml
except ImportError:  # pragma: no cover - PyYAML comes with oslo.config
    yaml = None


def create_workload(ctx: Ctx) -> Reply:
    boundary = uploads.multipart.boundary_of(ctx.req.header("Content-Type"))
    if boundary:
        body = uploads.workload_form(ctx.req, boundary)
    else:
        body = ctx.req.json(ctx.settings.max_json_body)
    template_type = f.required_str(body, "template_type")
    data = f.required(body, "template_data")
    if not isinstance(data, dict):
        raise bad_request("template_data must be an object")
    stack_name = f.required_str(data, "stack_name")
    template = _template(f.required(data, "template"))
    tenant = ctx.project_id or ""
    with ctx.store.transaction():
        if ctx.store.find(ctx.region, "workloads", name=stack_name):
            raise HTTPError(409, f"a workload named {stack_name} already exists")
        counts, alloc = _resources(ctx, template, data.get("parameters") or {})
        doc: Doc = {
            "id": new_id(), "name": stack_name, "template_type": template_type,
            "tenantId": tenant, "resources": counts,
            "_alloc": {"vcpus": alloc.vcpus, "memory_mb": alloc.memory_mb,
                       "storage_gb": alloc.storage_gb},
            "_failed": _fit_problem(ctx, alloc),
            "_ready_at": time.time() + ctx.settings.build_seconds,
        }
        for key in ("generic-vnf-id", "vf-module-id"):
            if isinstance(body.get(key), str):
                doc[key] = body[key]
        ctx.store.insert(ctx.region, "workloads", tenant, doc)
    return 201, view(ctx, doc)


def get_workload(ctx: Ctx) -> Reply:
    return 200, view(ctx, _find(ctx, ctx.params["workload"]))


def list_workloads(ctx: Ctx) -> Reply:
    """`?name=` answers that one workload, as the ONAP plugins do; without it,
    all of the region's workloads."""
    name = ctx.req.query.get("name")
    if name is not None:
        return 200, view(ctx, _find(ctx, name))
    docs = ctx.store.find(ctx.region, "workloads")
    return 200, {**ctx.base(), "workloads": [view(ctx, d) for d in docs]}


def delete_workload(ctx: Ctx) -> Reply:
    with ctx.store.transaction():
        doc = _find(ctx, ctx.params["workload"])
        ctx.store.delete(ctx.region, "workloads", doc["id"])
    return 204, None


def status(doc: Doc) -> str:
    if doc["_failed"]:
        return "CREATE_FAILED"
    return "CREATE_IN_PROGRESS" if time.time() < doc["_ready_at"] else "CREATE_COMPLETE"


def view(ctx: Ctx, doc: Doc) -> Doc:
    state = status(doc)
    links = [{"href": ctx.url(f"/infra_workload/{doc['id']}"), "rel": "self"}]
    reason = doc["_failed"] or {
        "CREATE_IN_PROGRESS": "Stack CREATE started",
        "CREATE_COMPLETE": "Stack CREATE completed successfully"}[state]
    return {
        "template_type": doc["template_type"], "workload_id": doc["id"],
        "workload_status": state,
        "workload_status_reason": {
            "id": doc["id"], "stack_name": doc["name"], "stack_status": state,
            "stack_status_reason": reason, "links": links, "resources": doc["resources"]},
        "template_response": {"stack": {"id": doc["id"], "links": links}},
    }


def _find(ctx: Ctx, key: str) -> Doc:
    doc = ctx.store.get(ctx.region, "workloads", key)
    if doc is None:  # the ONAP plugins also take the stack name
        found = ctx.store.find(ctx.region, "workloads", name=key)
        doc = found[0] if found else None
    if doc is None:
        raise not_found("workload", key)
    return doc


def _template(raw: Any) -> Doc:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            if yaml is None:
                raise bad_request("template is not JSON (YAML is not supported here)") from None
            try:
                raw = yaml.safe_load(raw)
            except yaml.YAMLError:
                raise bad_request("template is neither JSON nor YAML") from None
    if not isinstance(raw, dict):
        raise bad_request("template must be a Heat template (an object)")
    if not isinstance(raw.get("resources", {}), dict):
        raise bad_request("template resources must be an object")
    return raw


def _resources(ctx: Ctx, template: Doc, params: Doc) -> tuple[Doc, usage.Amount]:
    """Resource counts by type, and what the servers and volumes allocate."""
    if not isinstance(params, dict):
        raise bad_request("template_data.parameters must be an object")
    defaults = {k: v.get("default") for k, v in (template.get("parameters") or {}).items()
                if isinstance(v, dict)}
    counts: Doc = {}
    alloc = usage.Amount()
    for name, res in template.get("resources", {}).items():
        if not isinstance(res, dict) or not isinstance(res.get("type"), str):
            raise bad_request(f"template resource {name} has no type")
        counts[res["type"]] = counts.get(res["type"], 0) + 1
        props = res.get("properties") or {}
        if res["type"] == "OS::Nova::Server":
            alloc += _server_alloc(ctx, name, props, params, defaults)
        elif res["type"] == "OS::Cinder::Volume":
            size = _value(props.get("size"), params, defaults)
            alloc += usage.Amount(storage_gb=f.as_int(size or 0, f"{name}.size", 0))
    return counts, alloc


def _server_alloc(ctx: Ctx, name: str, props: Doc, params: Doc, defaults: Doc) -> usage.Amount:
    flavor_ref = _value(props.get("flavor"), params, defaults)
    if not isinstance(flavor_ref, str):
        raise bad_request(f"server {name} has no flavor")
    flavor = ctx.store.get(ctx.region, "flavors", flavor_ref)
    if flavor is None:
        found = ctx.store.find(ctx.region, "flavors", name=flavor_ref)
        if not found:
            raise bad_request(f"server {name}: flavor {flavor_ref} not found")
        flavor = found[0]
    return usage.Amount(flavor["vcpu"], flavor["memory"], flavor["disk"] + flavor["ephemeral"])


def _value(value: Any, params: Doc, defaults: Doc) -> Any:
    """A property, with `get_param` resolved from the parameters or defaults."""
    if isinstance(value, dict) and "get_param" in value:
        key = value["get_param"]
        if not isinstance(key, str):
            return None
        if key not in params and defaults.get(key) is None:
            raise bad_request(f"the parameter {key} was not provided")
        return params.get(key, defaults.get(key))
    return value


def _fit_problem(ctx: Ctx, alloc: usage.Amount) -> str | None:
    try:
        usage.require(ctx, alloc)
    except HTTPError as exc:
        return f"Resource CREATE failed: {exc.message}"
    return None
