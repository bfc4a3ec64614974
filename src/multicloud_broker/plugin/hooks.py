"""What a declaration cannot say, by hook name (a declaration's `hook`):
servers (boot source, server group), flavors (extra specs), images (the
file at imagePath, extra properties), limits (Cinder and Neutron beside
Nova); and the tenants list (Keystone's projects)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from urllib.parse import quote

import requests

from multicloud_broker.core.errors import BadGateway, BadRequest
from multicloud_broker.core.http import Response
from multicloud_broker.plugin.openstack.sessions import RegionSession

LOG = logging.getLogger(__name__)


def tenant_list(session: RegionSession, ids: Mapping[str, str]) -> Response:
    """GET .../tenants: the projects the region's user may use, as ONAP lists them."""
    answer = session.identity("GET", "/auth/projects")
    try:
        projects = answer.json()["projects"]
    except (ValueError, KeyError, TypeError):
        raise BadGateway(f"cloud region {session.name}: identity answered its projects "
                         f"with {answer.status_code} and no project list") from None
    tenants = [{"id": p.get("id"), "name": p.get("name")}
               for p in projects if isinstance(p, dict)]
    return Response.json(200, {**ids, "tenants": tenants})


class Hook:
    """Code for one declared resource, at the points a declaration cannot
    cover; each method's default does nothing."""

    # Whether the create answer is read again: Nova answers a new server
    # with its id and links only.
    refetch = False

    def create_body(self, session: RegionSession, checked: dict, body: dict) -> dict:
        """The cloud's create request (the declaration's, wrapped) to send."""
        return body

    def after_create(self, session: RegionSession, checked: dict, created: dict) -> None:
        """Calls that follow the create (the item exists)."""

    def view(self, session: RegionSession, doc: dict, view: dict, one: bool) -> dict:
        """The answer of one item (`one`: a get or create, not a list entry)."""
        return view


class ServersHook(Hook):
    """Boot source, server group, the volumes of `volumeArray` (attached once
    the server is ACTIVE: Nova refuses them while it builds) and the
    answer's `boot`."""

    refetch = True
    POLL = 0.2  # seconds between looks at a building server

    def create_body(self, session: RegionSession, checked: dict, body: dict) -> dict:
        server = body["server"]
        boot = checked.get("boot") or {}
        if boot.get("type") == 1:
            if not boot.get("volumeId"):
                raise BadRequest("boot.volumeId is required when boot.type is 1")
            server["block_device_mapping_v2"] = [{
                "boot_index": 0, "uuid": boot["volumeId"], "source_type": "volume",
                "destination_type": "volume", "delete_on_termination": False}]
        else:
            if not boot.get("imageId"):
                raise BadRequest("boot.imageId is required when boot.type is 2")
            server["imageRef"] = boot["imageId"]
        if checked.get("serverGroup"):
            body["os:scheduler_hints"] = {"group": checked["serverGroup"]}
        return body

    def after_create(self, session: RegionSession, checked: dict, created: dict) -> None:
        volumes = [v["volumeId"] for v in checked.get("volumeArray") or []]
        if not volumes:
            return
        path = f"/servers/{quote(created['id'], '')}"
        try:
            status = self._wait_active(session, path)
            if status != "ACTIVE":
                raise BadGateway(f"cloud region {session.name}: server {created['id']} is "
                                 f"{status}, its volumes could not be attached")
            for volume in volumes:
                answer = session.call("compute", "POST", f"{path}/os-volume_attachments",
                                      json={"volumeAttachment": {"volumeId": volume}})
                if answer.status_code >= 300:
                    raise BadRequest(f"cloud region {session.name}: compute refused to "
                                     f"attach volume {volume} ({answer.status_code})")
        except Exception:
            session.call("compute", "DELETE", path)  # no server without its volumes
            raise
        after = (_json_or_none(session.call("compute", "GET", path)) or {}).get("server")
        created.update(after if isinstance(after, dict) else {})

    def _wait_active(self, session: RegionSession, path: str) -> str:
        """The server's status once it is no longer building (or BUILD when the
        read timeout has passed)."""
        deadline = time.monotonic() + session.timeouts.read
        while True:
            server = (_json_or_none(session.call("compute", "GET", path)) or {}).get("server")
            status = (server or {}).get("status", "UNKNOWN")
            if status != "BUILD" or time.monotonic() >= deadline:
                return status
            time.sleep(self.POLL)  # green: the worker serves others meanwhile

    def view(self, session: RegionSession, doc: dict, view: dict, one: bool) -> dict:
        image = doc.get("image")
        volumes = view.get("volumeArray") or []
        if isinstance(image, dict) and image.get("id"):
            view["boot"] = {"type": 2, "imageId": image["id"]}
        elif volumes:
            view["boot"] = {"type": 1, "volumeId": volumes[0].get("volumeId")}
            view["volumeArray"] = volumes[1:]
        return view


class FlavorsHook(Hook):
    """Extra specs: a call of their own on create, get and list. Checked before
    the flavor is created (Nova's rules: strings of 1 to 255 characters);
    if Nova still refuses them, the new flavor is deleted again, so that a
    failed create leaves nothing behind."""

    def create_body(self, session: RegionSession, checked: dict, body: dict) -> dict:
        for index, pair in enumerate(checked.get("extraSpecs") or []):
            for part in ("keyName", "value"):
                value = pair.get(part)
                if isinstance(value, bool) or not isinstance(value, (str, int, float)) \
                        or not 0 < len(str(value)) <= 255:
                    raise BadRequest(f"extraSpecs[{index}].{part} must be a string of 1 to "
                                     "255 characters")
        return body

    def after_create(self, session: RegionSession, checked: dict, created: dict) -> None:
        specs = {str(p["keyName"]): str(p["value"]) for p in checked.get("extraSpecs") or []}
        if not specs or not created.get("id"):
            return
        path = f"/flavors/{quote(created['id'], '')}"
        answer = session.call("compute", "POST", f"{path}/os-extra_specs",
                              json={"extra_specs": specs})
        if answer.status_code >= 300:
            session.call("compute", "DELETE", path)  # nothing half-made stays
            raise BadRequest(f"cloud region {session.name}: compute refused the extra specs "
                             f"({answer.status_code}); the flavor was not created")
        created["extra_specs"] = specs

    def view(self, session: RegionSession, doc: dict, view: dict, one: bool) -> dict:
        # In lists too, one call per flavor, as ONAP's plugin does: Nova
        # before microversion 2.61 has no other way to give them.
        if "extra_specs" in doc or not doc.get("id"):
            return view
        answer = session.call("compute", "GET",
                              f"/flavors/{quote(doc['id'], '')}/os-extra_specs")
        specs = _json_or_none(answer)
        if answer.status_code == 200 and isinstance(specs, dict):
            view["extraSpecs"] = [{"keyName": k, "value": v}
                                  for k, v in (specs.get("extra_specs") or {}).items()]
        return view


class LimitsHook(Hook):
    """Cinder's limits and Neutron's quotas beside Nova's; a region without
    one of them answers Nova's alone."""

    def view(self, session: RegionSession, doc: dict, view: dict, one: bool) -> dict:
        view.update(self._cinder(session))
        view.update(self._neutron(session))
        return view

    def _cinder(self, session: RegionSession) -> dict:
        for service in ("volumev3", "block-storage", "volumev2"):
            try:
                answer = session.call(service, "GET", "/limits")
            except BadGateway:
                continue  # not in this region's catalog: the next name
            absolute = ((_json_or_none(answer) or {}).get("limits") or {}).get("absolute")
            if isinstance(absolute, dict):
                return {k: absolute[k] for k in ("maxTotalVolumes", "maxTotalVolumeGigabytes",
                                                 "totalVolumesUsed", "totalGigabytesUsed")
                        if k in absolute}
        return {}

    def _neutron(self, session: RegionSession) -> dict:
        project = session.project_id()
        try:
            answer = session.call("network", "GET", f"/v2.0/quotas/{quote(project, '')}")
        except BadGateway:
            return {}
        quota = (_json_or_none(answer) or {}).get("quota")
        keys = ("network", "subnet", "subnetpool", "port", "router", "security_group",
                "security_group_rule")
        return {k: quota[k] for k in keys if k in quota} if isinstance(quota, dict) else {}


# The keys of Glance's image schema: every other key of an image is one of
# its extra properties.
GLANCE_IMAGE_KEYS = frozenset((
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "container_format",
    "disk_format", "created_at", "updated_at", "tags", "direct_url", "min_ram", "min_disk",
    "self", "file", "schema", "locations", "stores"))


class ImagesHook(Hook):
    """Glance's extra properties as `properties`, and the file at `imagePath`.

    As ONAP's plugin does, the plugin fetches the file and uploads it to
    Glance once the image exists, in the background: the create answers at
    once with the image `queued`, and Glance makes it `active` when the
    upload is done (minutes for a large image). Glance's own web-download
    import is not used: many clouds disable it, and it would need the URL
    reachable from the cloud's hosts. A URL that cannot be opened is the
    create's 400, and the new image is deleted again.
    """

    def create_body(self, session: RegionSession, checked: dict, body: dict) -> dict:
        for pair in checked.get("properties") or []:
            key = pair["keyName"]
            if key in GLANCE_IMAGE_KEYS or key in body:
                raise BadRequest(f"properties: {key} is an image field, not an extra property")
            body[key] = pair["value"]  # Glance itself says which values it refuses
        return body

    def after_create(self, session: RegionSession, checked: dict, created: dict) -> None:
        url, image_id = checked.get("imagePath"), created.get("id")
        if not url or not image_id:
            return
        path = f"/v2/images/{quote(image_id, '')}"
        try:
            source = _open_source(url, session)
        except BadRequest:
            session.call("image", "DELETE", path)  # no image whose file cannot come
            raise
        threading.Thread(target=_upload, args=(session, f"{path}/file", source, url),
                         name=f"image-upload-{image_id}", daemon=True).start()

    def view(self, session: RegionSession, doc: dict, view: dict, one: bool) -> dict:
        view["properties"] = [{"keyName": key, "value": value} for key, value in doc.items()
                              if key not in GLANCE_IMAGE_KEYS]
        return view


def _open_source(url: str, session: RegionSession) -> requests.Response:
    """GET imagePath, its body not read yet; BadRequest unless it answers 200.

    A plain requests call, not the region's session: the cloud's token must
    not go to the file's server.
    """
    timeouts = (session.timeouts.connect, session.timeouts.read)
    try:
        source = requests.get(url, stream=True, timeout=timeouts)
    except (requests.RequestException, ValueError) as exc:
        raise BadRequest(f"imagePath {url} could not be fetched: {_brief(exc)}") from None
    if source.status_code != 200:
        source.close()
        raise BadRequest(f"imagePath {url} answered {source.status_code}")
    return source


class _SourceBody:
    """The fetched file as a request body, streamed: with its length when
    the server gave it (Glance then knows the size), else sent chunked."""

    CHUNK = 64 * 1024

    def __init__(self, source: requests.Response):
        length = source.headers.get("Content-Length", "")
        # A compressed transfer changes the length: the decoded file is sent.
        plain = not source.headers.get("Content-Encoding")
        self.length = int(length) if length.isdigit() and plain else 0
        self.source = source

    def __len__(self) -> int:  # requests reads it; 0 means chunked
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        return self.source.iter_content(self.CHUNK)


def _upload(session: RegionSession, path: str, source: requests.Response, url: str) -> None:
    """PUT the file to Glance (a background thread: green in the worker).

    Through the region's keystoneauth session itself, not RegionSession.call:
    its total deadline is for answers, and an upload may last minutes. A
    failure is logged; Glance leaves the image `queued`.
    """
    try:
        with source:
            answer = session.session.request(
                session.endpoint("image").rstrip("/") + path, "PUT", raise_exc=False,
                data=_SourceBody(source), headers={"Content-Type": "application/octet-stream"},
                connect_retries=0, timeout=(session.timeouts.connect, session.timeouts.read))
        if answer.status_code >= 300:
            LOG.warning("cloud region %s: image refused the file of %s (%s): %s", session.name,
                        url, answer.status_code, " ".join(answer.text.split())[:300])
    except Exception as exc:  # noqa: BLE001 - a background thread: log, never raise
        LOG.warning("cloud region %s: the upload of %s failed: %s", session.name, url,
                    _brief(exc))


HOOKS: dict[str, Hook] = {"servers": ServersHook(), "flavors": FlavorsHook(),
                          "images": ImagesHook(), "limits": LimitsHook()}


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _json_or_none(answer):
    try:
        return answer.json()
    except ValueError:
        return None
