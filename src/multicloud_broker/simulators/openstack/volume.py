"""Cinder (block storage, v3 with microversions 3.0 to 3.71): volumes
(creating, then available; deleting, then gone), volume types, limits,
quota sets, availability zones.

Catalog URL ``{root}/volume/v3/$(project_id)s``; ``GET {root}/volume/`` is the
version document. The project in the URL must be the token's (an admin may
name any). Errors are ``{"itemNotFound": {"code": 404, "message": ...}}``
and the like; quota refusals are 413 ``overLimit``.
"""

from __future__ import annotations

import json
from typing import Any

from multicloud_broker.simulators.openstack.service import Service, at_least
from multicloud_broker.simulators.openstack.state import iso
from multicloud_broker.simulators.openstack.web import (
    ApiError, Request, Response, new_id, page)

MIN_VERSION = (3, 0)
MAX_VERSION = (3, 71)
MAX_LIMIT = 1000
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 406: "notAcceptable", 409: "conflict", 413: "overLimit",
               415: "badMediaType", 429: "overLimit", 501: "notImplemented",
               503: "serviceUnavailable"}
DEFAULT_TYPE = "lvmdriver-1"
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")
VOLUME_KEYS = {"size", "name", "description", "imageRef", "volume_type", "availability_zone",
               "metadata", "source_volid", "snapshot_id", "multiattach", "backup_id",
               "consistencygroup_id", "group_id", "display_name", "display_description",
               "scheduler_hints", "os-scheduler-hints"}


class Volume(Service):
    name = "volume"
    prefix = "/volume"
    service_type = "volume"
    min_version = MIN_VERSION
    max_version = MAX_VERSION

    def __init__(self, cloud):
        super().__init__(cloud)
        self.seed()

    @property
    def volumes(self) -> dict[str, dict]:
        return self.store.table("volumes")

    @property
    def types(self) -> dict[str, dict]:
        return self.store.table("volume_types")

    @property
    def quotas(self) -> dict[str, dict]:
        return self.store.table("volume_quotas")

    def seed(self) -> None:
        for name, description in ((DEFAULT_TYPE, None), ("__DEFAULT__", "Default Volume Type")):
            type_id = new_id()
            self.types[type_id] = {
                "id": type_id, "name": name, "description": description, "is_public": True,
                "os-volume-type-access:is_public": True, "extra_specs": (
                    {"volume_backend_name": DEFAULT_TYPE} if name == DEFAULT_TYPE else {}),
                "qos_specs_id": None}

    # -- routes -------------------------------------------------------------

    def routes(self) -> None:
        add = self.router.add
        add("GET", "", self.versions_choice, public=True)
        add("GET", "/", self.versions_choice, public=True)
        add("GET", "/v3", self.versions, public=True)
        add("GET", "/v3/", self.versions, public=True)
        base = "/v3/{project_id}"
        add("GET", base + "/volumes", self.list_volumes)
        add("GET", base + "/volumes/detail", self.list_volumes_detail)
        add("POST", base + "/volumes", self.create_volume)
        add("GET", base + "/volumes/{volume_id}", self.show_volume)
        add("PUT", base + "/volumes/{volume_id}", self.update_volume)
        add("DELETE", base + "/volumes/{volume_id}", self.delete_volume)
        add("POST", base + "/volumes/{volume_id}/action", self.volume_action)
        add("GET", base + "/types", self.list_types)
        add("GET", base + "/types/default", self.default_type)
        add("GET", base + "/types/{type_id}", self.show_type)
        add("GET", base + "/limits", self.limits)
        add("GET", base + "/os-availability-zone", self.availability_zones)
        add("GET", base + "/os-quota-sets/{target}", self.show_quota)
        add("GET", base + "/os-quota-sets/{target}/defaults", self.show_quota_defaults)
        add("PUT", base + "/os-quota-sets/{target}", self.update_quota)
        add("DELETE", base + "/os-quota-sets/{target}", self.reset_quota)

    def error(self, request: Request, err: ApiError) -> Response:
        name = err.kind or FAULT_NAMES.get(err.status, "computeFault")
        inner: dict[str, Any] = {"code": err.status, "message": err.message}
        if name == "overLimit":
            inner["retryAfter"] = "0"
        return Response.json(err.status, {name: inner}, err.headers)

    def _version_doc(self, request: Request) -> dict:
        return {"id": "v3.0", "status": "CURRENT", "version": "%d.%d" % MAX_VERSION,
                "min_version": "%d.%d" % MIN_VERSION, "updated": "2023-08-31T00:00:00Z",
                "links": [{"rel": "describedby", "type": "text/html",
                           "href": "https://docs.openstack.org/"},
                          {"rel": "self", "href": request.url("/v3/")}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.volume+json;version=3"}]}

    def versions_choice(self, request: Request) -> Response:
        return Response.json(300, {"versions": [self._version_doc(request)]})

    def versions(self, request: Request) -> Response:
        return Response.json(200, {"versions": [self._version_doc(request)]})

    def check_project(self, request: Request) -> None:
        """The project in the URL is the token's, or the token is an admin's."""
        if request.params["project_id"] != request.ctx.project_id and not request.ctx.is_admin:
            raise ApiError(403, "Policy doesn't allow the token's project to act in project "
                                f"{request.params['project_id']}.")

    # -- lookup and rendering -------------------------------------------------

    def find(self, ctx, volume_id: str) -> dict | None:
        """A volume the context may see (Nova uses it)."""
        volume = self.volumes.get(volume_id)
        if volume is None or not (ctx.is_admin or volume["project_id"] == ctx.project_id):
            return None
        return volume

    def get(self, ctx, volume_id: str) -> dict:
        volume = self.find(ctx, volume_id)
        if volume is None:
            raise ApiError(404, f"Volume {volume_id} could not be found.")
        return volume

    def _links(self, request: Request, volume: dict) -> list[dict]:
        return [{"rel": "self", "href": request.url(
                    f"/v3/{volume['project_id']}/volumes/{volume['id']}")},
                {"rel": "bookmark", "href": request.url(
                    f"/{volume['project_id']}/volumes/{volume['id']}")}]

    def render(self, request: Request, volume: dict) -> dict:
        admin = request.ctx.is_admin
        type_record = self._type_named(volume["volume_type"])
        doc: dict[str, Any] = {
            "id": volume["id"], "name": volume["name"], "description": volume["description"],
            "size": volume["size"], "status": volume["status"],
            "availability_zone": volume["availability_zone"],
            "created_at": iso(volume["created_at"], micro=True, zulu=False),
            "updated_at": iso(volume["updated_at"], micro=True, zulu=False),
            "volume_type": volume["volume_type"],
            "bootable": "true" if volume["bootable"] else "false", "encrypted": False,
            "multiattach": False, "attachments": [dict(a) for a in volume["attachments"]],
            "metadata": dict(volume["metadata"]), "links": self._links(request, volume),
            "user_id": volume["user_id"], "snapshot_id": None,
            "source_volid": volume["source_volid"], "consistencygroup_id": None,
            "replication_status": None,
            "os-vol-tenant-attr:tenant_id": volume["project_id"],
        }
        if volume["image"] is not None:
            doc["volume_image_metadata"] = dict(volume["image"])
        if admin:
            doc.update({"os-vol-host-attr:host": f"controller@{DEFAULT_TYPE}#{DEFAULT_TYPE}",
                        "os-vol-mig-status-attr:migstat": None,
                        "os-vol-mig-status-attr:name_id": None, "migration_status": None})
        if at_least(request, 3, 13):
            doc["group_id"] = None
        if at_least(request, 3, 21) and admin:
            doc["provider_id"] = None
        if at_least(request, 3, 48):
            doc["shared_targets"] = False
            doc["service_uuid"] = None
        if at_least(request, 3, 61) and admin:
            doc["cluster_name"] = None
        if at_least(request, 3, 63):
            doc["volume_type_id"] = type_record["id"] if type_record else None
        if at_least(request, 3, 65):
            doc["consumes_quota"] = True
        return doc

    # -- list and show --------------------------------------------------------

    def _list(self, request: Request, detail: bool) -> Response:
        self.check_project(request)
        ctx = request.ctx
        all_projects = ctx.is_admin and request.arg("all_tenants", "0").lower() not in (
            "0", "false", "off", "no")
        volumes = [v for v in self.volumes.values()
                   if all_projects or v["project_id"] == request.params["project_id"]]
        if all_projects and request.arg("project_id"):
            volumes = [v for v in volumes if v["project_id"] == request.arg("project_id")]
        for key in ("name", "status", "availability_zone"):
            wanted = request.arg(key)
            if wanted is not None:
                volumes = [v for v in volumes if str(v[key]) == wanted]
        if request.arg("bootable") is not None:
            wanted_boot = request.arg("bootable", "").lower() in ("true", "1")
            volumes = [v for v in volumes if v["bootable"] == wanted_boot]
        if request.arg("metadata"):
            try:
                wanted_meta = json.loads(request.arg("metadata"))
            except ValueError:
                wanted_meta = None
            if not isinstance(wanted_meta, dict):
                raise ApiError(400, "Invalid filter: metadata must be a JSON object")
            volumes = [v for v in volumes if all(v["metadata"].get(k) == val
                                                 for k, val in wanted_meta.items())]
        sort = request.arg("sort")
        if sort:
            key, _, direction = sort.split(",")[0].partition(":")
        else:
            key, direction = request.arg("sort_key", "created_at"), request.arg("sort_dir",
                                                                               "desc")
        field = {"created_at": "created_at", "updated_at": "updated_at", "name": "name",
                 "size": "size", "status": "status", "id": "id"}.get(key)
        if field is None:
            raise ApiError(400, f"Invalid input received: Invalid sort key {key}")
        volumes.sort(key=lambda v: (v[field] if v[field] is not None else "", v["_seq"]),
                     reverse=(direction or "desc").lower() == "desc")
        limit = request.int_arg("limit", None)
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        marker = request.arg("marker")
        chunk, found, _ = page(volumes, marker, limit)
        if not found:
            raise ApiError(404, f"Marker {marker} could not be found.")
        if detail:
            items = [self.render(request, v) for v in chunk]
        else:
            items = [{"id": v["id"], "name": v["name"], "links": self._links(request, v)}
                     for v in chunk]
        doc: dict[str, Any] = {"volumes": items}
        if chunk and len(chunk) == limit:
            query = {k: v for k, v in request.query.items() if k != "marker"}
            query.update(limit=[str(limit)], marker=[chunk[-1]["id"]])
            suffix = "/volumes/detail" if detail else "/volumes"
            doc["volumes_links"] = [{"rel": "next", "href": request.url(
                f"/v3/{request.params['project_id']}{suffix}", query)}]
        if at_least(request, 3, 45) and request.arg("with_count", "").lower() == "true":
            doc["count"] = len(volumes)
        return Response.json(200, doc)

    def list_volumes(self, request: Request) -> Response:
        return self._list(request, detail=False)

    def list_volumes_detail(self, request: Request) -> Response:
        return self._list(request, detail=True)

    def show_volume(self, request: Request) -> Response:
        self.check_project(request)
        volume = self.get(request.ctx, request.params["volume_id"])
        return Response.json(200, {"volume": self.render(request, volume)})

    # -- create, update, delete -------------------------------------------------

    def create_volume(self, request: Request) -> Response:
        self.check_project(request)
        body = request.json_object("volume")
        unknown = sorted(set(body) - VOLUME_KEYS)
        if unknown:
            raise ApiError(400, f"Invalid input for field/attribute volume. Additional "
                                f"properties are not allowed ('{unknown[0]}' was unexpected)")
        size = body.get("size")
        source = None
        if body.get("source_volid"):
            source = self.get(request.ctx, str(body["source_volid"]))
            size = size or source["size"]
        if body.get("snapshot_id") or body.get("backup_id"):
            raise ApiError(400, "Invalid input received: snapshots and backups are not "
                                "simulated")
        image = None
        if body.get("imageRef"):
            image = self.cloud.image.find_by_name_or_id(request.ctx, str(body["imageRef"]))
            if image is None or image["status"] != "active":
                raise ApiError(400, "Invalid input received: Invalid image identifier or "
                                    "unable to access requested image.")
        volume = self.create_for(
            request.ctx, size, name=body.get("name", body.get("display_name")),
            description=body.get("description", body.get("display_description")),
            image_id=image["id"] if image else None, volume_type=body.get("volume_type"),
            zone=body.get("availability_zone"), metadata=body.get("metadata", {}),
            source_volid=source["id"] if source else None)
        return Response.json(202, {"volume": self.render(request, volume)})

    def create_for(self, ctx, size: Any, name: str | None = None,
                   description: str | None = None, image_id: str | None = None,
                   volume_type: str | None = None, zone: str | None = None,
                   metadata: dict | None = None, source_volid: str | None = None,
                   status: str = "creating") -> dict:
        """Create a volume for `ctx` (the API, Nova's boot from volume and Heat
        use it). `status` "available" makes it ready at once (Nova waits for it
        before it boots)."""
        if isinstance(size, bool) or not isinstance(size, (int, str)):
            raise ApiError(400, "Invalid input received: 'size' parameter must be an integer "
                                "and greater than 0.")
        try:
            size = int(size)
        except ValueError:
            raise ApiError(400, f"Invalid input received: Invalid volume size {size}") from None
        if size < 1:
            raise ApiError(400, "Invalid input received: 'size' parameter must be an integer "
                                "and greater than 0.")
        type_name = DEFAULT_TYPE
        if volume_type:
            found = self._type_named(str(volume_type)) or self.types.get(str(volume_type))
            if found is None:
                raise ApiError(404, f"Volume type with name {volume_type} could not be found.")
            type_name = found["name"]
        zones = self.store.config.availability_zones
        if zone is not None and zone not in zones:
            raise ApiError(400, f"Invalid input received: Availability zone '{zone}' is invalid.")
        if metadata is not None and (not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
            raise ApiError(400, "Invalid input for field/attribute metadata.")
        image_meta = None
        if image_id is not None:
            image = self.cloud.image.images[image_id]
            if image["size"] and size * 1024 ** 3 < image["size"]:
                raise ApiError(400, f"Invalid input received: Size of specified image "
                                    f"{-(-image['size'] // 1024 ** 3)}GB is larger than volume "
                                    f"size {size}GB.")
            image_meta = {"image_id": image["id"], "image_name": image["name"],
                          "checksum": image["checksum"], "disk_format": image["disk_format"],
                          "container_format": image["container_format"],
                          "size": str(image["size"]), "min_disk": str(image["min_disk"]),
                          "min_ram": str(image["min_ram"])}
        self._check_quota(ctx.project_id, size)
        now = self.store.now()
        volume = {
            "id": new_id(), "name": name, "description": description, "size": size,
            "status": status, "availability_zone": zone or zones[0], "created_at": now,
            "updated_at": now, "volume_type": type_name, "bootable": image_id is not None,
            "metadata": dict(metadata or {}), "attachments": [], "project_id": ctx.project_id,
            "user_id": ctx.user_id, "image": image_meta, "source_volid": source_volid,
            "_seq": self.store.seq(),
        }
        self.volumes[volume["id"]] = volume
        if status == "creating":
            failed = self.cloud.faults.take_behaviour("volume_error", "volume") is not None
            volume_id = volume["id"]
            self.store.later(self.store.config.build_seconds,
                             lambda: self._finish_create(volume_id, failed))
        return volume

    def _finish_create(self, volume_id: str, failed: bool) -> None:
        volume = self.volumes.get(volume_id)
        if volume is not None and volume["status"] == "creating":
            volume.update(status="error" if failed else "available",
                          updated_at=self.store.now())

    def _type_named(self, name: str) -> dict | None:
        for record in self.types.values():
            if record["name"] == name:
                return record
        return None

    def update_volume(self, request: Request) -> Response:
        self.check_project(request)
        volume = self.get(request.ctx, request.params["volume_id"])
        body = request.json_object("volume")
        for key in body:
            if key not in ("name", "description", "metadata", "display_name",
                           "display_description"):
                raise ApiError(400, f"Invalid input for field/attribute volume. Additional "
                                    f"properties are not allowed ('{key}' was unexpected)")
        if "name" in body or "display_name" in body:
            volume["name"] = body.get("name", body.get("display_name"))
        if "description" in body or "display_description" in body:
            volume["description"] = body.get("description", body.get("display_description"))
        if "metadata" in body:
            if not isinstance(body["metadata"], dict):
                raise ApiError(400, "Invalid input for field/attribute metadata.")
            volume["metadata"] = dict(body["metadata"])
        volume["updated_at"] = self.store.now()
        return Response.json(200, {"volume": self.render(request, volume)})

    def delete_volume(self, request: Request) -> Response:
        self.check_project(request)
        volume = self.get(request.ctx, request.params["volume_id"])
        stuck = self.cloud.faults.take_behaviour("delete_stuck", "volume") is not None
        self.request_delete(volume, stuck)
        return Response.empty(202)

    def request_delete(self, volume: dict, stuck: bool = False) -> None:
        """Start deleting a volume: deleting, gone after delete_seconds (`stuck`:
        never; a later delete that is not stuck finishes it)."""
        if volume["status"] == "deleting":
            if volume.get("_stuck") and not stuck:
                volume["_stuck"] = False
                self._remove_later(volume["id"])
            return
        if volume["status"] not in DELETABLE or volume["attachments"]:
            raise ApiError(400, "Invalid volume: Volume status must be available or error or "
                                "error_restoring or error_extending or error_managing and must "
                                "not be migrating, attached, belong to a group, have snapshots, "
                                "awaiting a transfer, or be disassociated from snapshots after "
                                "volume transfer.")
        volume.update(status="deleting", updated_at=self.store.now(), _stuck=stuck)
        if not stuck:
            self._remove_later(volume["id"])

    def _remove_later(self, volume_id: str) -> None:
        self.store.later(self.store.config.delete_seconds,
                         lambda: self.volumes.pop(volume_id, None))

    def volume_action(self, request: Request) -> Response:
        self.check_project(request)
        volume = self.get(request.ctx, request.params["volume_id"])
        body = request.json_object()
        if "os-extend" in body:
            new_size = (body["os-extend"] or {}).get("new_size")
            if not isinstance(new_size, int) or new_size <= volume["size"]:
                raise ApiError(400, "Invalid input received: New size for extend must be "
                                    "greater than current size.")
            if volume["status"] != "available":
                raise ApiError(400, "Invalid volume: Volume status must be available to extend.")
            self._check_quota(volume["project_id"], new_size - volume["size"])
            volume.update(size=new_size, updated_at=self.store.now())
        elif "os-set_bootable" in body:
            volume["bootable"] = str((body["os-set_bootable"] or {}).get("bootable")).lower() \
                in ("true", "1")
        elif "os-reset_status" in body:
            self.require_admin(request, "volume_extension:volume_admin_actions:reset_status")
            volume["status"] = (body["os-reset_status"] or {}).get("status", volume["status"])
        else:
            raise ApiError(400, f"Invalid input received: There is no such action: "
                                f"{next(iter(body), '')}")
        return Response.empty(202)

    # -- attachments, for Nova ----------------------------------------------------

    def attach(self, volume: dict, server_id: str, device: str) -> None:
        now = self.store.now()
        volume["attachments"].append({
            "server_id": server_id, "attachment_id": new_id(),
            "attached_at": iso(now, micro=True, zulu=False), "host_name": None,
            "volume_id": volume["id"], "device": device, "id": volume["id"]})
        volume.update(status="in-use", updated_at=now)

    def detached(self, volume_id: str, server_id: str, delete: bool) -> None:
        volume = self.volumes.get(volume_id)
        if volume is None:
            return
        volume["attachments"] = [a for a in volume["attachments"]
                                 if a["server_id"] != server_id]
        if not volume["attachments"]:
            volume.update(status="available", updated_at=self.store.now())
        if delete and not volume["attachments"]:
            self.volumes.pop(volume_id, None)

    # -- types, zones -------------------------------------------------------------

    def list_types(self, request: Request) -> Response:
        self.check_project(request)
        return Response.json(200, {"volume_types": [dict(t) for t in self.types.values()]})

    def show_type(self, request: Request) -> Response:
        self.check_project(request)
        record = self.types.get(request.params["type_id"]) or self._type_named(
            request.params["type_id"])
        if record is None:
            raise ApiError(404, f"Volume type {request.params['type_id']} could not be found.")
        return Response.json(200, {"volume_type": dict(record)})

    def default_type(self, request: Request) -> Response:
        self.check_project(request)
        return Response.json(200, {"volume_type": dict(self._type_named(DEFAULT_TYPE))})

    def availability_zones(self, request: Request) -> Response:
        self.check_project(request)
        return Response.json(200, {"availabilityZoneInfo": [
            {"zoneName": zone, "zoneState": {"available": True}}
            for zone in self.store.config.availability_zones]})

    # -- quotas and limits ---------------------------------------------------------

    def quota_of(self, project_id: str) -> dict[str, int]:
        return {**self.store.config.volume_quota, **self.quotas.get(project_id, {})}

    def _usage(self, project_id: str) -> dict[str, int]:
        mine = [v for v in self.volumes.values() if v["project_id"] == project_id]
        return {"volumes": len(mine), "gigabytes": sum(v["size"] for v in mine)}

    def _check_quota(self, project_id: str, size: int) -> None:
        forced = self.cloud.faults.take_behaviour("quota_exceeded", "volume")
        quota = self.quota_of(project_id)
        used = self._usage(project_id)
        if forced is not None:
            raise ApiError(413, forced.message or (
                "VolumeLimitExceeded: Maximum number of volumes allowed "
                f"({quota['volumes']}) exceeded for quota 'volumes'."), "overLimit")
        if 0 <= quota["volumes"] < used["volumes"] + 1:
            raise ApiError(413, "VolumeLimitExceeded: Maximum number of volumes allowed "
                                f"({quota['volumes']}) exceeded for quota 'volumes'.",
                           "overLimit")
        if 0 <= quota["gigabytes"] < used["gigabytes"] + size:
            raise ApiError(413, "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot "
                                f"exceeds allowed gigabytes quota. Requested {size}G, quota is "
                                f"{quota['gigabytes']}G and {used['gigabytes']}G has been "
                                "consumed.", "overLimit")

    def limits(self, request: Request) -> Response:
        self.check_project(request)
        project_id = request.params["project_id"]
        quota = self.quota_of(project_id)
        used = self._usage(project_id)
        return Response.json(200, {"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": quota["volumes"], "maxTotalVolumeGigabytes": quota["gigabytes"],
            "maxTotalSnapshots": quota["snapshots"], "maxTotalBackups": quota["backups"],
            "maxTotalBackupGigabytes": quota["backup_gigabytes"],
            "totalVolumesUsed": used["volumes"], "totalGigabytesUsed": used["gigabytes"],
            "totalSnapshotsUsed": 0, "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}}})

    def _quota_target(self, request: Request) -> str:
        self.check_project(request)
        target = request.params["target"]
        if target != request.ctx.project_id and not request.ctx.is_admin:
            raise ApiError(403, "Policy doesn't allow volume_extension:quotas:show to be "
                                "performed.")
        return target

    def show_quota(self, request: Request) -> Response:
        target = self._quota_target(request)
        quota = self.quota_of(target)
        if request.arg("usage", "").lower() in ("true", "1"):
            used = self._usage(target)
            doc: dict[str, Any] = {name: {"limit": limit, "in_use": used.get(name, 0),
                                          "reserved": 0, "allocated": 0}
                                   for name, limit in quota.items()}
        else:
            doc = dict(quota)
        return Response.json(200, {"quota_set": {"id": target, **doc}})

    def show_quota_defaults(self, request: Request) -> Response:
        self.check_project(request)
        return Response.json(200, {"quota_set": {"id": request.params["target"],
                                                 **self.store.config.volume_quota}})

    def update_quota(self, request: Request) -> Response:
        self.check_project(request)
        self.require_admin(request, "volume_extension:quotas:update")
        body = request.json_object("quota_set")
        changes = {}
        for name, value in body.items():
            if name not in self.store.config.volume_quota:
                raise ApiError(400, f"Invalid input received: Bad key(s) in quota set: {name}")
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise ApiError(400, f"Invalid input received: Quota value {value} for {name} "
                                    "is invalid.")
            changes[name] = value
        self.quotas.setdefault(request.params["target"], {}).update(changes)
        return Response.json(200, {"quota_set": self.quota_of(request.params["target"])})

    def reset_quota(self, request: Request) -> Response:
        self.check_project(request)
        self.require_admin(request, "volume_extension:quotas:delete")
        self.quotas.pop(request.params["target"], None)
        return Response.empty(200)
