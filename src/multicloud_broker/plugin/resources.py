"""The declared resources, executed: list, get, create and delete of any
resource a declaration describes (plugin/declarations.py), against the
region's cloud through its Keystone session.

What a declaration cannot say is code, named by its `hook` and kept in
plugin/hooks.py; this module is the same for every resource:

- list: the cloud's pages (limit and marker), each item converted as it
  arrives and streamed to the client, so a listing of any size holds one
  page in memory; the first page is fetched before answering, so that a
  fault of the cloud is a proper 502/503/504, not a cut answer;
- create: an existing resource of the same name (the declaration's
  `match_on`) is answered with returnCode 0; a new one is created and
  answered with returnCode 1 (202, as ONAP's plugin does);
- every answer carries the region's identification fields (vimId, vimName,
  tenantId; cloud-owner and cloud-region-id under API v1).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from multicloud_broker.core.errors import ApiError, BadGateway, BadRequest, MethodNotAllowed, NotFound
from multicloud_broker.core.http import JSON, Request, Response
from multicloud_broker.plugin.convert import RequestError, from_cloud
from multicloud_broker.plugin.declarations import Resource
from multicloud_broker.plugin.hooks import HOOKS, Hook
from multicloud_broker.plugin.openstack.sessions import RegionSession

LOG = logging.getLogger(__name__)
CREATE_BODY_LIMIT = 1 << 20  # a create request is a few KiB at most

METHOD_OF = {"list": "GET", "get": "GET", "create": "POST", "delete": "DELETE"}


class CloudRefused(ApiError):
    """The cloud answered a 4xx: its status and its words go to the caller."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ResourceApi:
    """The declared resources of this worker (built-ins, then the operator's)."""

    def __init__(self, declared: Mapping[str, Resource], page_size: int, max_items: int,
                 hooks: Mapping[str, Hook] = HOOKS):
        self.declared = dict(declared)
        self.page_size = page_size
        self.max_items = max_items
        self.hooks = hooks

    # Operations -------------------------------------------------------------

    def list(self, session: RegionSession, name: str, tenant: str, request: Request,
             ids: Mapping[str, str]) -> Response:
        declared = self.declared.get(name)
        resource = self._resource(name, "get" if declared and declared.singleton else "list")
        if resource.singleton:  # one document (limits): its collection path answers it
            doc = resource.unwrap(self._json(session, resource, "GET", resource.cloud.path))
            return Response.json(200, {**ids, **self._view(session, resource, doc, True)})
        query = _client_query(resource, request.query)
        name = _wanted_name(resource, request.query)
        if name is not None and resource.cloud.name_filter:
            query.append((resource.cloud.name_filter, name))
        pages = self._pages(session, resource, tenant, query)
        if name is not None:  # exact, whatever the cloud's filter matches (Nova: a regex)
            pages = (([item for item in page if item.get("name") == name], more)
                     for page, more in pages)
        first, more = next(pages)  # faults of the first page are answered properly
        chunks = _stream_list(ids, resource, first, (page for page, _ in pages),
                              self.max_items)
        if not more:  # the whole listing is here: one write, with its length
            return Response.raw(200, b"".join(chunks), JSON)
        return Response(200, [("Content-Type", JSON)], chunks)

    def get(self, session: RegionSession, name: str, resource_id: str,
            ids: Mapping[str, str]) -> Response:
        resource = self._resource(name, "get")
        if resource.id_field != "id":  # e.g. hosts by name: the cloud knows ids only
            doc = self._find(session, resource, resource_id)
        else:
            doc = resource.unwrap(self._json(session, resource, "GET",
                                             resource.cloud.item_path(resource_id)))
        if not isinstance(doc, dict):
            raise BadGateway(f"cloud region {session.name}: {resource.cloud.service} "
                             f"answered {resource.singular} {resource_id} without it")
        return Response.json(200, {**ids, **self._view(session, resource, doc, True)})

    def create(self, session: RegionSession, name: str, tenant: str, request: Request,
               ids: Mapping[str, str]) -> Response:
        resource = self._resource(name, "create")
        try:
            body = request.read_json(CREATE_BODY_LIMIT)
            checked = resource.validate(body)
            existing = self._existing(session, resource, tenant, checked)
            if existing is not None:
                return Response.json(200, {**ids, **self._view(session, resource, existing,
                                                               True), "returnCode": 0})
            cloud_doc = resource.to_cloud(checked)
        except RequestError as exc:
            raise BadRequest(str(exc)) from None
        hook = self._hook(resource)
        body = hook.create_body(session, checked, resource.wrap(cloud_doc))
        created = resource.unwrap(self._json(session, resource, "POST", resource.cloud.path,
                                             json=body))
        if not isinstance(created, dict):
            raise BadGateway(f"cloud region {session.name}: {resource.cloud.service} "
                             f"answered the new {resource.singular} without it")
        if hook.refetch and created.get("id"):
            created = resource.unwrap(self._json(
                session, resource, "GET", resource.cloud.item_path(created["id"]))) or created
        hook.after_create(session, checked, created)
        return Response.json(202, {**ids, **self._view(session, resource, created, True),
                                   "returnCode": 1})

    def delete(self, session: RegionSession, name: str, resource_id: str) -> Response:
        resource = self._resource(name, "delete")
        answer = session.call(resource.cloud.service, "DELETE",
                              resource.cloud.item_path(resource_id))
        _refused(session, resource, answer)
        return Response(204, [], b"")

    def methods(self, name: str, item: bool, otherwise: tuple[str, ...]) -> tuple[str, ...]:
        """The HTTP methods of a declared resource's collection or item path."""
        resource = self.declared.get(name)
        if resource is None:
            return otherwise  # answered 404 by the action
        if item:
            wanted = {"get": "GET", "delete": "DELETE"}
        elif resource.singleton:
            wanted = {"get": "GET"}
        else:
            wanted = {"list": "GET", "create": "POST"}
        return tuple(sorted({m for op, m in wanted.items() if op in resource.operations}))

    # Helpers ------------------------------------------------------------------

    def _resource(self, name: str, operation: str) -> Resource:
        resource = self.declared.get(name)
        if resource is None:
            raise NotFound(f"no such resource: {name}")
        if operation not in resource.operations:
            allowed = sorted({METHOD_OF[o] for o in resource.operations if o in METHOD_OF})
            raise MethodNotAllowed(METHOD_OF[operation], allowed)
        return resource

    def _hook(self, resource: Resource) -> Hook:
        return self.hooks.get(resource.hook or "", _NO_HOOK)

    def _view(self, session: RegionSession, resource: Resource, doc: dict, one: bool) -> dict:
        # convert's own function: Resource.from_cloud imports it at every call.
        return self._hook(resource).view(session, doc, from_cloud(resource, doc), one)

    def _find(self, session: RegionSession, resource: Resource, wanted: str) -> dict:
        """The item whose `id_field` is `wanted`, found by listing (404 if none)."""
        query = [(resource.cloud.name_filter, wanted)] if resource.cloud.name_filter else []
        for page, _ in self._pages(session, resource, "", query, raw=True):
            for item in page:
                if resource.from_cloud(item).get(resource.id_field) == wanted:
                    return item
        raise NotFound(f"cloud region {session.name}: {resource.singular} {wanted} not found")

    def _json(self, session: RegionSession, resource: Resource, method: str, path: str,
              **kwargs: Any) -> Any:
        answer = session.call(resource.cloud.service, method, path, **kwargs)
        _refused(session, resource, answer)
        try:
            return answer.json()
        except ValueError:
            raise BadGateway(f"cloud region {session.name}: {resource.cloud.service} "
                             f"answered {method} {path} with a body that is not JSON") from None

    def _pages(self, session: RegionSession, resource: Resource, tenant: str,
               query: list[tuple[str, str]], raw: bool = False
               ) -> Iterator[tuple[list[dict], bool]]:
        """The cloud's items, page by page (limit and marker), converted
        (`raw`: as the cloud gave them), each with whether another page follows."""
        base = list(query)
        if resource.cloud.tenant_filter:
            base.append((resource.cloud.tenant_filter, tenant))
        client_limit = dict(query).get("limit")
        marker = dict(query).get("marker")
        while True:
            params = [(k, v) for k, v in base if k not in ("limit", "marker")]
            params.append(("limit", client_limit or str(self.page_size)))
            if marker:
                params.append(("marker", marker))
            path = f"{resource.cloud.collection_path}?{urlencode(params)}"
            items = resource.unwrap_list(self._json(session, resource, "GET", path))
            docs = [item for item in items if isinstance(item, dict)]
            last = items[-1] if items else None
            marker = last.get("id") if isinstance(last, dict) else None
            # A client's own limit is one page, as the cloud gives it.
            more = not (client_limit or not marker or len(items) < self.page_size)
            yield (docs if raw else [self._view(session, resource, d, False) for d in docs],
                   more)
            if not more:
                return

    def _existing(self, session: RegionSession, resource: Resource, tenant: str,
                  checked: dict) -> dict | None:
        """The cloud's item equal to the request on `match_on` (returnCode 0)."""
        if not resource.match_on or "list" not in resource.operations:
            return None
        wanted = {k: checked.get(k) for k in resource.match_on}
        if any(v is None for v in wanted.values()):
            return None
        query: list[tuple[str, str]] = []
        name_field = resource.field("name")
        if resource.cloud.name_filter and "name" in wanted and name_field is not None:
            query.append((resource.cloud.name_filter, str(wanted["name"])))
        base = list(query)
        if resource.cloud.tenant_filter:
            base.append((resource.cloud.tenant_filter, tenant))
        path = f"{resource.cloud.collection_path}?{urlencode(base)}"
        for item in resource.unwrap_list(self._json(session, resource, "GET", path)):
            if isinstance(item, dict):
                view = resource.from_cloud(item)
                if all(view.get(k) == v for k, v in wanted.items()):
                    return item
        return None


_NO_HOOK = Hook()


def identification(version: str, owner: str, region_id: str, tenant: str | None) -> dict:
    """The fields every resource answer starts with."""
    vim_id = f"{owner}_{region_id}"
    doc: dict = {"vimId": vim_id, "vimName": vim_id}
    if version == "v1":
        doc["cloud-owner"] = owner
        doc["cloud-region-id"] = region_id
    if tenant is not None:
        doc["tenantId"] = tenant
    return doc


def _client_query(resource: Resource, query: str) -> list[tuple[str, str]]:
    """The client's list parameters the declaration passes on to the cloud."""
    allowed = set(resource.cloud.list_query)
    return [(k, v) for k, v in parse_qsl(query, keep_blank_values=False) if k in allowed]


def _wanted_name(resource: Resource, query: str) -> str | None:
    """The client's `?name=` (as the Swagger document offers it on every list
    of a resource whose name comes from the cloud), or None."""
    name_field = resource.field("name")
    if name_field is None or name_field.source is None:
        return None
    names = [v for k, v in parse_qsl(query, keep_blank_values=False) if k == "name"]
    return names[-1] if names else None


def _refused(session: RegionSession, resource: Resource, answer) -> None:
    """A 4xx of the cloud, passed on with the cloud's own words."""
    if answer.status_code < 400:
        return
    detail = _cloud_message(answer)
    if answer.status_code == 404:
        raise NotFound(f"cloud region {session.name}: {resource.singular} not found"
                       + (f": {detail}" if detail else ""))
    if answer.status_code in (401, 403):
        raise CloudRefused(answer.status_code, f"cloud region {session.name}: "
                           f"{resource.cloud.service} refused: {detail or answer.status_code}")
    raise CloudRefused(answer.status_code, f"cloud region {session.name}: "
                       f"{resource.cloud.service}: {detail or answer.status_code}")


def _cloud_message(answer) -> str:
    """The message of an OpenStack error body, whatever service's shape it has."""
    try:
        body = answer.json()
    except ValueError:
        return _plain(answer.text)
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return _plain(value["message"])
        if isinstance(body.get("message"), str):
            return _plain(body["message"])
    return ""


# WebOb's JSON errors (Glance's) end the message in "<br /><br />" and blank
# lines: markup of its HTML page, meaningless in an error line of ours.
_BREAK = re.compile(r"<br\s*/?>", re.I)


def _plain(message: str) -> str:
    """A cloud's message on one line, without WebOb's line breaks."""
    return " ".join(_BREAK.sub(" ", message).split())[:300]


def _stream_list(ids: Mapping[str, str], resource: Resource, first: list[dict],
                 pages: Iterator[list[dict]], max_items: int) -> Iterator[bytes]:
    """`{...ids, "<list_key>": [items...]}`, one chunk per page (each chunk
    is a write to the client: one per item cost a send each)."""
    head = json.dumps(ids)[:-1]
    chunk = (f'{head}, "{resource.list_key}": [' if ids else
             f'{{"{resource.list_key}": [')
    count = 0
    page = first
    while True:
        items = page[:max_items - count]
        if items:
            # One encoder call per page: the same text as each item's dumps
            # joined with ", ".
            chunk += (", " if count else "") + json.dumps(items)[1:-1]
            count += len(items)
        if chunk:
            yield chunk.encode()
            chunk = ""
        if count >= max_items:
            LOG.warning("listing of %s stopped at max_list_items (%d)", resource.name,
                        max_items)
            break
        try:
            page = next(pages)
        except StopIteration:
            break
    yield b"]}"
