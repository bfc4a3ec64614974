"""infra_workload: SO's Heat deployments, as Heat stacks of the region.

`POST .../infra_workload` takes SO's body (`template_type` heat and
`template_data` with `stack_name`, `template`, `parameters`, `files`,
`environment`), as JSON or as the `multipart/form-data` the broker forwards
unchanged, and creates the stack; `GET .../infra_workload/{id or name}` (or
`?name=`) answers the stack's status, with Heat's stack document (its
`stack_status_reason` and `outputs`) as `workload_status_reason`; `DELETE`
starts Heat's delete. Once CREATE_COMPLETE, the stack's servers are
recorded in the inventory (plugin/heatbridge.py) and removed on DELETE;
`POST .../infra_workload/{id}` records them on demand, as ONAP's plugin
updates A&AI. Heat's refusals reach the caller with Heat's words;
Heat's 5xx and faults are the session's 502/503/504.
"""

from __future__ import annotations

import json
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl, quote

from multicloud_broker.core.errors import (ApiError, BadGateway, BadRequest, NotFound,
                                           PayloadTooLarge)
from multicloud_broker.core.http import Request, Response
from multicloud_broker.plugin.heatbridge import Heatbridge
from multicloud_broker.plugin.openstack.sessions import RegionSession
from multicloud_broker.plugin.resources import CloudRefused

SERVICE = "orchestration"
# What of template_data Heat's stack create takes; anything else SO sends
# (e.g. heatbridge hints) is ours to ignore, not Heat's to refuse.
STACK_FIELDS = ("stack_name", "template", "parameters", "files", "environment",
                "timeout_mins", "disable_rollback", "tags")
OBJECT_FIELDS = ("parameters", "files")
# A directive of these types sets a template parameter (OOF's homing results).
DIRECTIVE_TYPES = ("flavor_directives", "sriovNICNetwork_directives")


def create(session: RegionSession, request: Request, limit: int) -> Response:
    """Create the stack: 201 with its id, CREATE_IN_PROGRESS."""
    body = read_body(request, limit)
    template_type, stack = stack_request(body)
    answer = session.call(SERVICE, "POST", "/stacks", json=stack)
    _refused(session, answer)
    created = answer.json_object().get("stack") or {}
    if not isinstance(created.get("id"), str):
        raise BadGateway(f"cloud region {session.name}: Heat's create answer has no stack id")
    return Response.json(201, {
        "template_type": template_type, "workload_id": created["id"],
        "workload_status": "CREATE_IN_PROGRESS",
        "workload_status_reason": {"id": created["id"], "stack_name": stack["stack_name"],
                                   "stack_status": "CREATE_IN_PROGRESS",
                                   "stack_status_reason": "Stack CREATE started",
                                   "links": created.get("links", [])}})


def show(session: RegionSession, workload: str, bridge: Heatbridge | None = None,
         transaction_id: str = "") -> Response:
    """One workload by stack id or name: its status, Heat's stack document;
    once CREATE_COMPLETE, what heatbridge says of it (plugin/heatbridge.py)."""
    stack = _stack(session, workload)
    view = _view(stack)
    report = bridge.on_status(session, stack, transaction_id) if bridge else None
    if report is not None:
        view["heatbridge"] = report
    return Response.json(200, view)


def update(session: RegionSession, workload: str, bridge: Heatbridge,
           transaction_id: str) -> Response:
    """ONAP's `POST .../infra_workload/{id}`: record the completed stack's
    servers in the inventory now; 202 UPDATE_COMPLETE."""
    stack = _stack(session, workload)
    if stack.get("stack_status") != "CREATE_COMPLETE":
        raise CloudRefused(409, f"cloud region {session.name}: workload {workload} is "
                           f"{stack.get('stack_status')}, not CREATE_COMPLETE: nothing to "
                           "record yet")
    servers = bridge.record(session, stack, transaction_id)
    return Response.json(202, {
        "template_type": "heat", "workload_id": stack["id"],
        "workload_status": "UPDATE_COMPLETE",
        "workload_status_reason": f"{servers} servers recorded in the inventory"})


def listing(session: RegionSession, request: Request, bridge: Heatbridge | None = None
            ) -> Response:
    """`?name=` or `?id=`: that workload, as the ONAP plugins answer it;
    neither: the project's workloads (without outputs: Heat's list has none)."""
    query = dict(parse_qsl(request.query, keep_blank_values=True))
    wanted = query.get("id") or query.get("name")
    if wanted:
        return show(session, wanted, bridge, request.headers.get("x-transactionid", ""))
    if "name" in query or "id" in query:
        raise BadRequest("query parameter name (or id) must not be empty")
    answer = session.call(SERVICE, "GET", "/stacks")
    _refused(session, answer)
    stacks = answer.json_object().get("stacks") or []
    return Response.json(200, {"workloads": [_view(s) for s in stacks if isinstance(s, dict)]})


def delete(session: RegionSession, workload: str, bridge: Heatbridge | None = None,
           transaction_id: str = "") -> Response:
    """Start Heat's delete: 202 DELETE_IN_PROGRESS; GET answers 404 once gone.
    The stack's servers recorded by heatbridge are removed from the inventory
    (read before the delete: Heat forgets them with the stack)."""
    stack = _stack(session, workload)
    servers: list[str] | ApiError = []
    if bridge is not None:
        try:
            servers = bridge.servers_of(session, stack)
        except ApiError as exc:  # reported; the delete goes on
            servers = exc
    path = f"/stacks/{quote(stack['stack_name'], safe='')}/{quote(stack['id'], safe='')}"
    answer = session.call(SERVICE, "DELETE", path)
    _refused(session, answer)
    view = {"template_type": "heat", "workload_id": stack["id"],
            "workload_status": "DELETE_IN_PROGRESS",
            "workload_status_reason": {**stack, "stack_status": "DELETE_IN_PROGRESS",
                                       "stack_status_reason": "Stack DELETE started"}}
    if bridge is not None:
        view["heatbridge"] = bridge.remove(session, stack, servers, transaction_id)
    return Response.json(202, view)


# Request --------------------------------------------------------------------------


def stack_request(body: Any) -> tuple[str, dict]:
    """(template_type, Heat's create body) from SO's request; BadRequest
    naming the field that does not fit."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    template_type = body.get("template_type")
    if not isinstance(template_type, str) or template_type.lower() != "heat":
        raise BadRequest(f"template_type: {template_type!r} is not supported; "
                         "only heat templates are")
    data = body.get("template_data")
    if not isinstance(data, dict):
        raise BadRequest("template_data: required, an object")
    stack = {key: data[key] for key in STACK_FIELDS if data.get(key) is not None}
    if not isinstance(stack.get("stack_name"), str) or not stack["stack_name"]:
        raise BadRequest("template_data.stack_name: required, a non-empty string")
    if not isinstance(stack.get("template"), (str, dict)) or not stack["template"]:
        raise BadRequest("template_data.template: required, a Heat template "
                         "(an object or its JSON/YAML text)")
    for key in OBJECT_FIELDS:
        if key in stack and not isinstance(stack[key], dict):
            raise BadRequest(f"template_data.{key}: must be an object")
    if "environment" in stack and not isinstance(stack["environment"], (str, dict)):
        raise BadRequest("template_data.environment: must be an object or YAML text")
    directives = body.get("oof_directives")
    if directives is not None:
        stack["parameters"] = _apply_directives(directives, dict(stack.get("parameters", {})))
    return template_type, stack


def _apply_directives(directives: Any, parameters: dict) -> dict:
    """OOF's directives set the template parameters they name (only those the
    request already has, as ONAP's plugin does)."""
    if not isinstance(directives, dict):
        raise BadRequest("oof_directives: must be an object with a list of directives")
    for vnfc in _dicts(directives.get("directives")):
        if vnfc.get("type") != "vnfc":
            continue
        for inner in _dicts(vnfc.get("directives")):
            if inner.get("type") not in DIRECTIVE_TYPES:
                continue
            for attr in _dicts(inner.get("attributes")):
                name = attr.get("attribute_name")
                if isinstance(name, str) and name in parameters:
                    parameters[name] = attr.get("attribute_value")
    return parameters


def _dicts(value: Any) -> list[dict]:
    """The objects of a list; OOF's optional parts may be missing or null."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def read_body(request: Request, limit: int) -> Any:
    """The request as a dict: JSON, or a multipart form whose `template_data`
    field is JSON text and whose other fields (`template_type`; `template`,
    `environment`, `stack_name` as parts, files or not) fill it in."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/"):
        return request.read_json(limit)
    fields = _form_fields(content_type, _raw(request, limit))
    body: dict[str, Any] = {k: v for k, v in fields.items()
                            if k not in ("template_data", "template", "environment",
                                         "stack_name")}
    data: Any = {}
    if "template_data" in fields:
        try:
            data = json.loads(fields["template_data"])
        except ValueError:
            raise BadRequest("template_data: the form field is not JSON") from None
    if isinstance(data, dict):
        for key in ("template", "environment", "stack_name"):
            if key in fields and key not in data:
                data[key] = fields[key]
    body["template_data"] = data
    return body


def _raw(request: Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    if request.body is None or not request.has_body:
        return b""
    # Never past CONTENT_LENGTH: the stream may be the raw connection.
    size = request.content_length if request.content_length is not None else limit + 1
    raw = request.body.read(size)
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body over {limit} bytes")
    return raw


def _form_fields(content_type: str, raw: bytes) -> dict[str, str]:
    """A multipart/form-data body's parts by name, as text."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + raw)
    if message.get_content_type() != "multipart/form-data" or not message.is_multipart():
        raise BadRequest("Content-Type: a multipart body must be multipart/form-data "
                         "with its parts")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = _part_name(part)
        payload = part.get_payload(decode=True) or b""
        try:
            fields[name] = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{name}: the form field is not UTF-8 text") from None
    return fields


def _part_name(part: Message) -> str:
    name = part.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise BadRequest("a multipart part has no name in its Content-Disposition")
    return name


# Heat -------------------------------------------------------------------------------


def _stack(session: RegionSession, workload: str) -> dict:
    """Heat's stack document by id or name (Heat redirects either to the stack)."""
    answer = session.call(SERVICE, "GET", f"/stacks/{quote(workload, safe='')}")
    if answer.status_code == 404:
        raise NotFound(f"cloud region {session.name}: workload {workload} not found")
    _refused(session, answer)
    stack = answer.json_object().get("stack")
    if not isinstance(stack, dict) or not isinstance(stack.get("id"), str):
        raise BadGateway(f"cloud region {session.name}: Heat's stack answer has no stack")
    return stack


def _view(stack: dict) -> dict:
    return {"template_type": "heat", "workload_id": stack.get("id"),
            "workload_status": stack.get("stack_status"),
            "workload_status_reason": stack}


def _refused(session: RegionSession, answer: Any) -> None:
    """Heat's 4xx, with its status and Heat's own message."""
    if answer.status_code < 400:
        return
    raise CloudRefused(answer.status_code, f"cloud region {session.name}: Heat: "
                       f"{heat_message(answer) or answer.status_code}")


def heat_message(answer: Any) -> str:
    """The message of Heat's error body ({"error": {"message"}, "explanation"})."""
    doc = answer.json_object()
    error = doc.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return " ".join(error["message"].split())[:500]
    for key in ("explanation", "message", "title"):
        if isinstance(doc.get(key), str):
            return " ".join(doc[key].split())[:500]
    return " ".join(getattr(answer, "text", "").split())[:500]
