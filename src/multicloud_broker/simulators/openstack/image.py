"""Glance (image, v2): images created `queued`, data uploaded with
``PUT /v2/images/{id}/file`` (streamed to disk; size, md5 checksum and sha512
multihash recorded; then `active`), downloaded streamed with ``Content-MD5``,
listed with Glance's paging (``next`` links, 25 a page unless `limit`),
patched with JSON patch, deleted; ``/v2/schemas/image(s)``.

Catalog URL ``{root}/image``; clients append ``/v2``. Errors are WebOb's, as
Glance 33's (checked against the real one, tests/openstack_plugin/
test_real_glance.py): JSON ``{"message": "...<br /><br />\n\n\n", "code":
"404 Not Found", "title"}`` when the client prefers JSON, an HTML page when it
sends no Accept or accepts HTML, else text; a missing or invalid token is
WebOb's 401 too (Glance's, not keystonemiddleware's). The version document
is Glance 33's with several stores and no image cache. Glance's data
inspection (refusing bytes that do not match the declared disk format) and
its image import are not simulated (``/v2/info/import`` lists no method).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from multicloud_broker.simulators.openstack.service import Service
from multicloud_broker.simulators.openstack.state import iso
from multicloud_broker.simulators.openstack.web import (
    ApiError, Request, Response, is_uuid, new_id, page, status_line)

CHUNK = 64 * 1024
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
# Glance 33's version document with enabled_backends and no image_cache_dir,
# in its own order (2.17, the current one, comes after 2.8).
VERSIONS = (("2.15", "SUPPORTED"), ("2.13", "SUPPORTED"), ("2.12", "SUPPORTED"),
            ("2.11", "SUPPORTED"), ("2.10", "SUPPORTED"), ("2.9", "SUPPORTED"),
            ("2.8", "SUPPORTED"), ("2.17", "CURRENT"), ("2.7", "SUPPORTED"),
            ("2.6", "SUPPORTED"), ("2.5", "SUPPORTED"), ("2.4", "SUPPORTED"),
            ("2.3", "SUPPORTED"), ("2.2", "SUPPORTED"), ("2.1", "SUPPORTED"),
            ("2.0", "SUPPORTED"))
STORE = "fs"  # the one store's id, as enabled_backends = fs:file names it
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
READ_ONLY = ("status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
             "created_at", "updated_at", "self", "file", "schema", "direct_url", "stores")
CORE = ("id", "name", "status", "visibility", "protected", "os_hidden", "owner", "min_disk",
        "min_ram", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
        "container_format", "disk_format", "created_at", "updated_at", "tags")
PATCH_TYPES = ("application/openstack-images-v2.0-json-patch",
               "application/openstack-images-v2.1-json-patch")
SEED_DATA_SIZE = 64 * 1024
UNAUTHORIZED = ("This server could not verify that you are authorized to access the document "
                "you requested. Either you supplied the wrong credentials (e.g., bad password), "
                "or your browser does not understand how to supply the credentials required.")


class MediaTypeError(ApiError):
    """WebOb's 415, whose message names the request's media type first."""

    def __init__(self, content_type: str, detail: str,
                 headers: list[tuple[str, str]] | None = None):
        super().__init__(415, detail, headers=headers or ())
        self.content_type = content_type


class Image(Service):
    name = "image"
    prefix = "/image"

    def __init__(self, cloud):
        super().__init__(cloud)
        self.data_dir = cloud.image_dir
        self.seed()

    @property
    def images(self) -> dict[str, dict]:
        return self.store.table("images")

    def seed(self) -> None:
        """A public cirros-like image, active, with 64 KiB of known bytes."""
        image = self._new_image(self.cloud.admin_project_id, {
            "name": "cirros-0.6.2-x86_64-disk", "disk_format": "qcow2",
            "container_format": "bare", "visibility": "public",
            "hw_rng_model": "virtio"})
        data = seed_bytes()
        path = self._path(image["id"])
        with open(path, "wb") as out:
            out.write(data)
        image.update(status="active", size=len(data), virtual_size=len(data),
                     checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                     os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest(),
                     _data=path)

    # -- routes -------------------------------------------------------------

    def routes(self) -> None:
        add = self.router.add
        add("GET", "", self.versions_choice, public=True)
        add("GET", "/", self.versions_choice, public=True)
        add("GET", "/versions", self.versions, public=True)
        add("GET", "/v2/schemas/image", self.image_schema)
        add("GET", "/v2/schemas/images", self.images_schema)
        add("GET", "/v2/images", self.list_images)
        add("POST", "/v2/images", self.create_image)
        add("GET", "/v2/images/{image_id}", self.show_image)
        add("PATCH", "/v2/images/{image_id}", self.update_image)
        add("DELETE", "/v2/images/{image_id}", self.delete_image)
        add("PUT", "/v2/images/{image_id}/file", self.upload, streaming=True)
        add("GET", "/v2/images/{image_id}/file", self.download)
        add("PUT", "/v2/images/{image_id}/tags/{tag}", self.add_tag)
        add("DELETE", "/v2/images/{image_id}/tags/{tag}", self.delete_tag)
        add("GET", "/v2/info/import", self.import_info)
        add("GET", "/v2/info/stores", self.stores_info)

    def error(self, request: Request, err: ApiError) -> Response:
        return webob_error(request.header("Accept") or "", err)

    def unauthorized(self, request: Request, keystone_url: str) -> Response:
        # keystonemiddleware lets Glance decide (delay_auth_decision); Glance
        # answers WebOb's 401, and keystonemiddleware adds its header.
        response = self.error(request, ApiError(401, UNAUTHORIZED))
        response.headers.append(("WWW-Authenticate", f'Keystone uri="{keystone_url}"'))
        return response

    def _versions_doc(self, request: Request) -> dict:
        href = request.url("/v2/")
        return {"versions": [{"id": f"v{version}", "status": status,
                              "links": [{"rel": "self", "href": href}]}
                             for version, status in VERSIONS]}

    def versions_choice(self, request: Request) -> Response:
        return Response.json(300, self._versions_doc(request))

    def versions(self, request: Request) -> Response:
        return Response.json(200, self._versions_doc(request))

    # -- lookup and rendering -------------------------------------------------

    def _path(self, image_id: str) -> str:
        return os.path.join(self.data_dir, image_id)

    def can_see(self, ctx, image: dict) -> bool:
        return (ctx.is_admin or image["owner"] == ctx.project_id
                or image["visibility"] in ("public", "community"))

    def find(self, ctx, image_id: str) -> dict | None:
        """An image the context may see (Nova and Heat use it)."""
        image = self.images.get(image_id)
        if image is None or not self.can_see(ctx, image):
            return None
        return image

    def find_by_name_or_id(self, ctx, ref: str) -> dict | None:
        image = self.find(ctx, ref)
        if image is not None:
            return image
        named = [i for i in self.images.values() if i["name"] == ref and self.can_see(ctx, i)]
        return named[0] if len(named) == 1 else None

    def get(self, ctx, image_id: str) -> dict:
        image = self.find(ctx, image_id)
        if image is None:
            raise ApiError(404, f"No image found with ID {image_id}")
        return image

    def owned(self, ctx, image_id: str) -> dict:
        image = self.get(ctx, image_id)
        if not (ctx.is_admin or image["owner"] == ctx.project_id):
            raise ApiError(403, "You are not permitted to modify this image.")
        return image

    def render(self, image: dict) -> dict:
        doc = {key: image[key] for key in CORE}
        doc["created_at"] = iso(image["created_at"])
        doc["updated_at"] = iso(image["updated_at"])
        doc.update(image["_props"])
        doc.update({"self": f"/v2/images/{image['id']}", "file": f"/v2/images/{image['id']}/file",
                    "schema": "/v2/schemas/image"})
        if image["status"] == "active":
            doc["stores"] = STORE
        return doc

    # -- create ---------------------------------------------------------------

    def create_image(self, request: Request) -> Response:
        body = request.json_object()
        image = self._new_image(request.ctx.project_id, body, request.ctx)
        return Response.json(201, self.render(image),
                             [("Location", request.url(f"/v2/images/{image['id']}"))])

    def _new_image(self, owner: str, body: dict, ctx=None) -> dict:
        for key in READ_ONLY:
            if key in body:
                raise ApiError(403, f"Attribute '{key}' is read-only.")
        if "owner" in body and ctx is not None and not ctx.is_admin and body["owner"] != owner:
            raise ApiError(403, "Attribute 'owner' is reserved.")
        visibility = body.get("visibility", "shared")
        if visibility not in VISIBILITIES:
            raise ApiError(400, f"Provided object does not match schema 'image': "
                                f"'{visibility}' is not one of {list(VISIBILITIES)}")
        if visibility == "public" and ctx is not None and not ctx.is_admin:
            raise ApiError(403, "You are not authorized to complete publicize_image action.")
        image_id = body.get("id") or new_id()
        if not is_uuid(str(image_id)):
            raise ApiError(400, f"Provided object does not match schema 'image': '{image_id}' "
                                "does not match the uuid format")
        if image_id in self.images:
            raise ApiError(409, f"Image with identifier {image_id} already exists!")
        self._check_core(body)
        props = {}
        for key, value in body.items():
            if key in CORE or key == "id":
                continue
            if not isinstance(value, str):
                raise ApiError(400, f"Provided object does not match schema 'image': "
                                    f"{value!r} is not of type 'string'")
            props[key] = value
        now = self.store.now()
        image = {
            "id": str(image_id), "name": body.get("name"), "status": "queued",
            "visibility": visibility, "protected": bool(body.get("protected", False)),
            "os_hidden": bool(body.get("os_hidden", False)),
            "owner": body.get("owner", owner), "min_disk": int(body.get("min_disk", 0)),
            "min_ram": int(body.get("min_ram", 0)), "size": None, "virtual_size": None,
            "checksum": None, "os_hash_algo": None, "os_hash_value": None,
            "container_format": body.get("container_format"),
            "disk_format": body.get("disk_format"), "created_at": now, "updated_at": now,
            "tags": list(dict.fromkeys(body.get("tags", []))), "_props": props,
            "_data": None, "_seq": self.store.seq(), "_stuck": False,
        }
        self.images[image["id"]] = image
        return image

    @staticmethod
    def _check_core(body: dict) -> None:
        def bad(detail: str) -> ApiError:
            return ApiError(400, f"Provided object does not match schema 'image': {detail}")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 255):
            raise bad(f"{name!r} is not a string of at most 255 characters")
        for key, allowed in (("disk_format", DISK_FORMATS),
                             ("container_format", CONTAINER_FORMATS)):
            value = body.get(key)
            if value is not None and value not in allowed:
                raise bad(f"'{value}' is not one of {[None, *allowed]}")
        for key in ("min_disk", "min_ram"):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(f"{value!r} is not a non-negative integer ({key})")
        for key in ("protected", "os_hidden"):
            if key in body and not isinstance(body[key], bool):
                raise bad(f"{body[key]!r} is not of type 'boolean'")
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and len(t) <= 255
                                                 for t in tags):
            raise bad("tags must be a list of strings")

    # -- list and show --------------------------------------------------------

    def list_images(self, request: Request) -> Response:
        ctx = request.ctx
        visibility = request.arg("visibility")
        images = [i for i in self.images.values() if self.can_see(ctx, i)]
        if visibility == "all":
            pass
        elif visibility:
            images = [i for i in images if i["visibility"] == visibility]
        elif not ctx.is_admin:
            images = [i for i in images if i["visibility"] != "community"
                      or i["owner"] == ctx.project_id]
        hidden = request.arg("os_hidden", "false").lower() == "true"
        images = [i for i in images if i["os_hidden"] == hidden]
        for key in ("name", "status", "owner", "container_format", "disk_format", "id"):
            wanted = request.arg(key)
            if wanted is None:
                continue
            if wanted.startswith("in:"):
                choices = set(wanted[3:].split(","))
                images = [i for i in images if str(i[key]) in choices]
            else:
                images = [i for i in images if str(i[key]) == wanted]
        if request.arg("protected") is not None:
            wanted_protected = request.arg("protected", "").lower() == "true"
            images = [i for i in images if i["protected"] == wanted_protected]
        for tag in request.args("tag"):
            images = [i for i in images if tag in i["tags"]]
        size_min, size_max = request.int_arg("size_min"), request.int_arg("size_max")
        if size_min is not None:
            images = [i for i in images if (i["size"] or 0) >= size_min]
        if size_max is not None:
            images = [i for i in images if (i["size"] or 0) <= size_max]
        reserved = {"limit", "marker", "sort_key", "sort_dir", "sort", "visibility", "os_hidden",
                    "name", "status", "owner", "container_format", "disk_format", "id",
                    "protected", "tag", "size_min", "size_max", "member_status",
                    "created_at", "updated_at"}
        for key, values in request.query.items():
            if key not in reserved:
                images = [i for i in images if i["_props"].get(key) == values[-1]]
        images.sort(key=lambda i: i["_seq"])
        for key, direction in reversed(self._sort_order(request)):
            images.sort(key=lambda i, k=key: _sortable(i.get(k)), reverse=direction == "desc")
        limit = request.int_arg("limit", DEFAULT_LIMIT)
        limit = min(limit, MAX_LIMIT)
        marker = request.arg("marker")
        chunk, found, _ = page(images, marker, limit)
        if not found:
            raise ApiError(400, f"No image found with ID {marker}")
        return Response.json(200, self._list_doc(request, chunk, limit))

    def _list_doc(self, request: Request, chunk: list[dict], limit: int) -> dict:
        """The page, with Glance's `first` and `next`: the client's query
        (its last value of each key) without, then with, the marker."""
        params = {key: values[-1] for key, values in request.query.items() if key != "marker"}
        doc: dict[str, Any] = {"images": [self.render(i) for i in chunk],
                               "first": "/v2/images" + (f"?{urlencode(params)}" if params else ""),
                               "schema": "/v2/schemas/images"}
        if chunk and len(chunk) == limit:
            doc["next"] = "/v2/images?" + urlencode({**params, "marker": chunk[-1]["id"]})
        return doc

    @staticmethod
    def _sort_order(request: Request) -> list[tuple[str, str]]:
        allowed = set(CORE)
        order: list[tuple[str, str]] = []
        if request.arg("sort"):
            for part in request.arg("sort").split(","):
                key, _, direction = part.strip().partition(":")
                order.append((key, direction or "desc"))
        else:
            keys = request.args("sort_key") or ["created_at"]
            dirs = request.args("sort_dir") or ["desc"]
            order = [(k, dirs[min(n, len(dirs) - 1)]) for n, k in enumerate(keys)]
        for key, direction in order:
            if key not in allowed or direction not in ("asc", "desc"):
                raise ApiError(400, f"Invalid sort: {key}:{direction}")
        if all(key != "id" for key, _ in order):
            order.append(("id", order[0][1] if order else "desc"))
        return order

    def show_image(self, request: Request) -> Response:
        return Response.json(200, self.render(self.get(request.ctx,
                                                       request.params["image_id"])))

    # -- update and delete -------------------------------------------------------

    def update_image(self, request: Request) -> Response:
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        if content_type not in PATCH_TYPES:
            raise MediaTypeError(content_type or "None", "Image PATCH expects Content-Type one "
                                 f"of: {', '.join(PATCH_TYPES)}",
                                 headers=[("Accept-Patch", ", ".join(PATCH_TYPES))])
        image = self.owned(request.ctx, request.params["image_id"])
        changes = request.json()
        if not isinstance(changes, list):
            raise ApiError(400, "Request body must be a JSON array of operation objects.")
        for change in changes:
            self._apply(request.ctx, image, change)
        image["updated_at"] = self.store.now()
        return Response.json(200, self.render(image))

    def _apply(self, ctx, image: dict, change: Any) -> None:
        if not isinstance(change, dict) or change.get("op") not in ("add", "replace", "remove"):
            raise ApiError(400, "Unable to find 'op' in JSON Schema change. It must be one of "
                                "the following: add, remove, replace.")
        op, path = change["op"], change.get("path")
        if not isinstance(path, str) or not path.startswith("/") or path.count("/") != 1:
            raise ApiError(400, f"Invalid JSON pointer for this resource: '{path}'")
        key = path[1:]
        if key in READ_ONLY or key in ("id", "owner") and not ctx.is_admin:
            raise ApiError(403, f"Attribute '{key}' is read-only.")
        if key in ("disk_format", "container_format") and image["status"] != "queued":
            raise ApiError(403, f"Attribute {key} can be only replaced for a queued image.")
        if op == "remove":
            if key in CORE:
                raise ApiError(403, f"Attribute '{key}' is reserved.")
            if image["_props"].pop(key, None) is None:
                raise ApiError(409, f"Property {key} does not exist.")
            return
        value = change.get("value")
        if key in CORE:
            self._check_core({key: value})
            if key == "visibility":
                if value not in VISIBILITIES:
                    raise ApiError(400, f"Invalid visibility value: {value}")
                if value == "public" and not ctx.is_admin:
                    raise ApiError(403, "You are not authorized to complete publicize_image "
                                        "action.")
            image[key] = list(dict.fromkeys(value)) if key == "tags" else value
            return
        if not isinstance(value, str):
            raise ApiError(400, f"Provided object does not match schema 'image': {value!r} is "
                                "not of type 'string'")
        if op == "replace" and key not in image["_props"]:
            raise ApiError(409, f"Property {key} does not exist.")
        image["_props"][key] = value

    def delete_image(self, request: Request) -> Response:
        image_id = request.params["image_id"]
        if self.find(request.ctx, image_id) is None:
            raise ApiError(404, f"Failed to find image {image_id} to delete")
        image = self.owned(request.ctx, image_id)
        if image["protected"]:
            raise ApiError(403, f"Image {image['id']} is protected and cannot be deleted.")
        self.remove(image["id"])
        return Response.empty(204)

    def remove(self, image_id: str) -> None:
        image = self.images.pop(image_id, None)
        if image is not None and image["_data"]:
            try:
                os.unlink(image["_data"])
            except FileNotFoundError:
                pass

    def add_tag(self, request: Request) -> Response:
        image = self.owned(request.ctx, request.params["image_id"])
        if request.params["tag"] not in image["tags"]:
            image["tags"].append(request.params["tag"])
        image["updated_at"] = self.store.now()
        return Response.empty(204)

    def delete_tag(self, request: Request) -> Response:
        image = self.owned(request.ctx, request.params["image_id"])
        if request.params["tag"] not in image["tags"]:
            raise ApiError(404, f"Tag {request.params['tag']} not found.")
        image["tags"].remove(request.params["tag"])
        return Response.empty(204)

    def import_info(self, request: Request) -> Response:
        return Response.json(200, {"import-methods": {
            "description": "Import methods available.", "type": "array", "value": []}})

    def stores_info(self, request: Request) -> Response:
        return Response.json(200, {"stores": [{"id": STORE, "default": "true"}]})

    # -- data -------------------------------------------------------------------

    def upload(self, request: Request) -> Response:
        """Stream the body to disk; runs without the store's lock but for the
        two moments it changes the image."""
        content_type = (request.header("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/octet-stream":
            raise MediaTypeError(content_type or "None",
                                 f"Invalid content type {content_type or 'None'}")
        image_id = request.params["image_id"]
        with self.store.lock:
            self.store.tick()
            image = self.owned(request.ctx, image_id)
            if image["status"] != "queued":
                raise ApiError(409, f"Image status transition from {image['status']} to saving "
                                    "is not allowed")
            if not image["disk_format"] or not image["container_format"]:
                raise ApiError(400, "Properties disk_format, container_format must be set "
                                    "prior to saving data.")
            stuck = self.cloud.faults.take_behaviour("image_stuck", "image") is not None
            image.update(status="saving", updated_at=self.store.now(), _stuck=stuck)
        path = self._path(image_id)
        md5 = hashlib.md5(usedforsecurity=False)
        sha512 = hashlib.sha512()
        size = 0
        try:
            with open(path, "wb") as out:
                for chunk in _body_chunks(request):
                    md5.update(chunk)
                    sha512.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        except BaseException:
            with self.store.lock:
                if image_id in self.images:
                    self.images[image_id].update(status="queued", updated_at=self.store.now())
            _unlink(path)
            raise
        with self.store.lock:
            image = self.images.get(image_id)
            if image is None:
                _unlink(path)
                raise ApiError(410, f"Image {image_id} could not be found after upload. The "
                                    "image may have been deleted during the upload.")
            image.update(_data=path, updated_at=self.store.now())
            if not image["_stuck"]:
                image.update(status="active", size=size, virtual_size=size,
                             checksum=md5.hexdigest(), os_hash_algo="sha512",
                             os_hash_value=sha512.hexdigest())
        return Response.empty(204)

    def download(self, request: Request) -> Response:
        image = self.get(request.ctx, request.params["image_id"])
        if image["status"] != "active" or not image["_data"]:
            if image["status"] in ("queued", "saving", "uploading", "importing"):
                return Response.empty(204)
            raise ApiError(403, f"The requested image {image['id']} is in status "
                                f"{image['status']}")
        handle = open(image["_data"], "rb")
        return Response(200, _file_chunks(handle), [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(image["size"])), ("Content-MD5", image["checksum"])])

    # -- schemas ------------------------------------------------------------------

    def image_schema(self, request: Request) -> Response:
        return Response.json(200, image_schema())

    def images_schema(self, request: Request) -> Response:
        return Response.json(200, {
            "name": "images",
            "properties": {"images": {"type": "array", "items": image_schema()},
                           "schema": {"type": "string"}, "first": {"type": "string"},
                           "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]})


# WebOb's rendering of an error (webob.exc.WSGIHTTPException): the message,
# then "<br /><br />", the (empty) detail and comment lines; in an HTML page,
# in JSON, or as text with the tags made line breaks.
_BREAK = re.compile(r"<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]*>")


def webob_error(accept: str, err: ApiError) -> Response:
    """`err` as WebOb renders it for a client sending `accept`."""
    line = status_line(err.status)
    chosen = _webob_media_type(accept)
    if chosen == "application/json":
        return Response.json(err.status, {"message": _webob_message(err, str),
                                          "code": line, "title": line.split(" ", 1)[1]},
                             err.headers)
    if chosen == "text/html":
        body = (f"<html>\n <head>\n  <title>{line}</title>\n </head>\n <body>\n"
                f"  <h1>{line}</h1>\n  {_webob_message(err, html.escape)}\n </body>\n</html>")
        content_type = "text/html; charset=UTF-8"
    else:
        body = f"{line}\n\n{_strip_tags(_webob_message(err, str))}"
        content_type = "text/plain; charset=UTF-8"
    return Response(err.status, body.encode(), [("Content-Type", content_type), *err.headers])


def _webob_message(err: ApiError, escape) -> str:
    """WebOb's message template filled in (its 415 has a template of its own)."""
    if isinstance(err, MediaTypeError):
        return (f"The request media type {escape(err.content_type)} is not supported by this "
                f"server.\n<br /><br />\n{escape(err.message)}")
    return f"{escape(err.message)}<br /><br />\n\n\n"


def _strip_tags(text: str) -> str:
    text = _BREAK.sub("\n", text.replace("\n", " ").replace("\r", ""))
    return _TAG.sub("", text)


def _webob_media_type(accept: str) -> str | None:
    """HTML or JSON, as WebOb picks between them (None: neither is acceptable).
    No Accept header accepts anything: the first, HTML."""
    if not accept.strip():
        return "text/html"
    best, best_q = None, 0.0
    for offer in ("text/html", "application/json"):
        q = _quality(accept, offer)
        if q > best_q:
            best, best_q = offer, q
    return best


def _quality(accept: str, offer: str) -> float:
    """The q that the most specific range of `accept` matching `offer` gives."""
    kind = offer.split("/")[0]
    quality, specificity = 0.0, -1
    for part in accept.split(","):
        media, *params = [piece.strip() for piece in part.split(";")]
        rank = {offer: 2, f"{kind}/*": 1, "*/*": 0}.get(media.lower(), -1)
        if rank > specificity:
            quality, specificity = _q(params), rank
    return quality


def _q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def image_schema() -> dict:
    """The image JSON schema, as far as the simulator enforces it."""
    def nullable(kind: str, **extra) -> dict:
        return {"type": [kind, "null"], **extra}
    return {
        "name": "image",
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-"
                   "([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": nullable("string", maxLength=255),
            "status": {"type": "string", "readOnly": True,
                       "enum": ["queued", "saving", "active", "killed", "deleted",
                                "uploading", "importing", "pending_delete", "deactivated"]},
            "visibility": {"type": "string", "enum": list(VISIBILITIES)},
            "protected": {"type": "boolean"}, "os_hidden": {"type": "boolean"},
            "checksum": nullable("string", readOnly=True, maxLength=32),
            "os_hash_algo": nullable("string", readOnly=True, maxLength=64),
            "os_hash_value": nullable("string", readOnly=True, maxLength=128),
            "owner": nullable("string", maxLength=255),
            "size": nullable("integer", readOnly=True),
            "virtual_size": nullable("integer", readOnly=True),
            "container_format": nullable("string", enum=[*CONTAINER_FORMATS, None]),
            "disk_format": nullable("string", enum=[*DISK_FORMATS, None]),
            "created_at": {"type": "string", "readOnly": True},
            "updated_at": {"type": "string", "readOnly": True},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "min_ram": {"type": "integer"}, "min_disk": {"type": "integer"},
            "self": {"type": "string", "readOnly": True},
            "file": {"type": "string", "readOnly": True},
            "schema": {"type": "string", "readOnly": True},
            "stores": {"type": "string", "readOnly": True},
        },
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def seed_bytes() -> bytes:
    """The seeded image's data: 64 KiB anyone can recompute."""
    line = b"openstack simulator seed image\n"
    return (line * (SEED_DATA_SIZE // len(line) + 1))[:SEED_DATA_SIZE]


def _body_chunks(request: Request) -> Iterator[bytes]:
    length = request.environ.get("CONTENT_LENGTH")
    stream = request.input
    if length:
        remaining = int(length)
        while remaining > 0:
            chunk = stream.read(min(CHUNK, remaining))
            if not chunk:
                raise ApiError(400, "The upload ended before Content-Length bytes")
            remaining -= len(chunk)
            yield chunk
        return
    while True:  # chunked: the server ends the stream
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


def _file_chunks(handle) -> Iterator[bytes]:
    with handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                return
            yield chunk


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _sortable(value: Any) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value is None, value, "")
    return (value is None, 0, "" if value is None else str(value))

