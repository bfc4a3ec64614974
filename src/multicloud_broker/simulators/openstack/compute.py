"""Nova (compute, v2.1 with microversions 2.1 to 2.100): servers, flavors and
their extra specs, volume attachments, hypervisors, limits, availability
zones, quota sets.

Catalog URL ``{root}/compute/v2.1``; ``GET {root}/compute/`` and
``GET {root}/compute/v2.1`` are the version documents. A request's microversion
comes from ``OpenStack-API-Version: compute X.Y`` (or the legacy
``X-OpenStack-Nova-API-Version``); every answer names the one used. Errors are
``{"itemNotFound": {"code": 404, "message": ...}}`` and the like.

A server is BUILD for `build_seconds`, then ACTIVE (or ERROR: no hypervisor
left with room, or a `server_error` fault). Hypervisors are claimed with Nova's
allocation ratios; quotas are enforced as Nova does (403 `forbidden`).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
from typing import Any

from multicloud_broker.simulators.openstack.service import Service, at_least
from multicloud_broker.simulators.openstack.state import iso
from multicloud_broker.simulators.openstack.web import (
    ApiError, Request, Response, new_id, page)

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 100)
# Nova's [api] max_limit: a list never returns more than this in one page.
MAX_LIMIT = 1000
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               405: "badMethod", 406: "notAcceptable", 409: "conflict", 413: "overLimit",
               415: "badMediaType", 429: "overLimit", 501: "notImplemented",
               503: "serviceUnavailable"}
# The flavors devstack makes.
SEED_FLAVORS = (("1", "m1.tiny", 1, 512, 1), ("2", "m1.small", 1, 2048, 20),
                ("3", "m1.medium", 2, 4096, 40), ("4", "m1.large", 4, 8192, 80),
                ("5", "m1.xlarge", 8, 16384, 160), ("42", "m1.nano", 1, 128, 1),
                ("84", "m1.micro", 1, 192, 1))
SERVER_KEYS = {"name", "imageRef", "flavorRef", "networks", "block_device_mapping_v2",
               "block_device_mapping", "metadata", "availability_zone", "key_name",
               "security_groups", "user_data", "min_count", "max_count", "config_drive",
               "adminPass", "accessIPv4", "accessIPv6", "description", "tags",
               "return_reservation_id", "OS-DCF:diskConfig", "personality", "hostname",
               "trusted_image_certificates", "host", "hypervisor_hostname"}
DEVICE_LETTERS = string.ascii_lowercase


class Compute(Service):
    name = "compute"
    prefix = "/compute"
    service_type = "compute"
    min_version = MIN_VERSION
    max_version = MAX_VERSION
    legacy_version_header = "X-OpenStack-Nova-API-Version"

    def __init__(self, cloud):
        super().__init__(cloud)
        self.seed()

    @property
    def servers(self) -> dict[str, dict]:
        return self.store.table("servers")

    @property
    def flavors(self) -> dict[str, dict]:
        return self.store.table("flavors")

    @property
    def hypervisors(self) -> list[dict]:
        return self.store.table("hypervisors").setdefault("all", [])

    @property
    def quotas(self) -> dict[str, dict]:
        return self.store.table("compute_quotas")

    def seed(self) -> None:
        config = self.store.config
        now = iso(self.store.now())
        for flavor_id, name, vcpus, ram, disk in SEED_FLAVORS:
            self._new_flavor({"id": flavor_id, "name": name, "vcpus": vcpus, "ram": ram,
                              "disk": disk})
        zones = config.availability_zones
        for index in range(config.hypervisors):
            self.hypervisors.append({
                "id": index + 1, "uuid": new_id(), "hostname": f"compute-{index + 1}",
                "host_ip": f"192.168.122.{10 + index}", "zone": zones[index % len(zones)],
                "vcpus": config.hypervisor_vcpus, "memory_mb": config.hypervisor_memory_mb,
                "local_gb": config.hypervisor_disk_gb, "vcpus_used": 0,
                "memory_mb_used": 0, "local_gb_used": 0, "running_vms": 0,
                "service_id": index + 10, "service_uuid": new_id(), "updated_at": now})

    # -- routes -------------------------------------------------------------

    def routes(self) -> None:
        add = self.router.add
        add("GET", "", self.versions, public=True)
        add("GET", "/", self.versions, public=True)
        add("GET", "/v2.1", self.version, public=True)
        add("GET", "/v2.1/", self.version, public=True)
        add("POST", "/v2.1/servers", self.create_server)
        add("GET", "/v2.1/servers", self.list_servers)
        add("GET", "/v2.1/servers/detail", self.list_servers_detail)
        add("GET", "/v2.1/servers/{server_id}", self.show_server)
        add("PUT", "/v2.1/servers/{server_id}", self.update_server)
        add("DELETE", "/v2.1/servers/{server_id}", self.delete_server)
        add("POST", "/v2.1/servers/{server_id}/action", self.server_action)
        add("GET", "/v2.1/servers/{server_id}/metadata", self.show_metadata)
        add("POST", "/v2.1/servers/{server_id}/metadata", self.merge_metadata)
        add("PUT", "/v2.1/servers/{server_id}/metadata", self.replace_metadata)
        add("DELETE", "/v2.1/servers/{server_id}/metadata/{key}", self.delete_metadata_item)
        add("GET", "/v2.1/servers/{server_id}/os-interface", self.list_interfaces)
        add("GET", "/v2.1/servers/{server_id}/os-volume_attachments", self.list_attachments)
        add("POST", "/v2.1/servers/{server_id}/os-volume_attachments", self.attach_volume)
        add("GET", "/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}",
            self.show_attachment)
        add("DELETE", "/v2.1/servers/{server_id}/os-volume_attachments/{volume_id}",
            self.detach_volume)
        add("GET", "/v2.1/flavors", self.list_flavors)
        add("GET", "/v2.1/flavors/detail", self.list_flavors_detail)
        add("POST", "/v2.1/flavors", self.create_flavor)
        add("GET", "/v2.1/flavors/{flavor_id}", self.show_flavor)
        add("PUT", "/v2.1/flavors/{flavor_id}", self.update_flavor)
        add("DELETE", "/v2.1/flavors/{flavor_id}", self.delete_flavor)
        add("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs", self.list_extra_specs)
        add("POST", "/v2.1/flavors/{flavor_id}/os-extra_specs", self.set_extra_specs)
        add("GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", self.show_extra_spec)
        add("PUT", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", self.update_extra_spec)
        add("DELETE", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", self.delete_extra_spec)
        add("GET", "/v2.1/os-hypervisors", self.list_hypervisors)
        add("GET", "/v2.1/os-hypervisors/detail", self.list_hypervisors_detail)
        add("GET", "/v2.1/os-hypervisors/statistics", self.hypervisor_statistics)
        add("GET", "/v2.1/os-hypervisors/{hypervisor_id}", self.show_hypervisor)
        add("GET", "/v2.1/limits", self.limits)
        add("GET", "/v2.1/os-availability-zone", self.availability_zones)
        add("GET", "/v2.1/os-availability-zone/detail", self.availability_zones_detail)
        add("GET", "/v2.1/os-quota-sets/{project_id}", self.show_quota)
        add("GET", "/v2.1/os-quota-sets/{project_id}/detail", self.show_quota_detail)
        add("GET", "/v2.1/os-quota-sets/{project_id}/defaults", self.show_quota_defaults)
        add("PUT", "/v2.1/os-quota-sets/{project_id}", self.update_quota)
        add("DELETE", "/v2.1/os-quota-sets/{project_id}", self.reset_quota)
        add("GET", "/v2.1/os-keypairs", self.list_keypairs)

    def error(self, request: Request, err: ApiError) -> Response:
        name = err.kind or FAULT_NAMES.get(err.status, "computeFault")
        inner: dict[str, Any] = {"code": err.status, "message": err.message}
        if name == "overLimit":
            inner["retryAfter"] = "0"
        return Response.json(err.status, {name: inner}, err.headers)

    # -- version documents ----------------------------------------------------

    def _version_doc(self, request: Request) -> dict:
        return {"id": "v2.1", "status": "CURRENT", "version": "%d.%d" % MAX_VERSION,
                "min_version": "%d.%d" % MIN_VERSION, "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": request.url("/v2.1/")},
                          {"rel": "describedby", "type": "text/html",
                           "href": "https://docs.openstack.org/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    def versions(self, request: Request) -> Response:
        doc = self._version_doc(request)
        del doc["media-types"]
        doc["links"] = doc["links"][:1]
        return Response.json(200, {"versions": [doc]})

    def version(self, request: Request) -> Response:
        return Response.json(200, {"version": self._version_doc(request)})

    # -- servers: lookup and rendering -----------------------------------------

    def get_server(self, ctx, server_id: str) -> dict:
        server = self.servers.get(server_id)
        if server is None or not (ctx.is_admin or server["project_id"] == ctx.project_id):
            raise ApiError(404, f"Instance {server_id} could not be found.")
        return server

    def _link(self, request: Request, kind: str, item_id: str) -> list[dict]:
        return [{"rel": "self", "href": request.url(f"/v2.1/{kind}/{item_id}")},
                {"rel": "bookmark", "href": request.url(f"/{kind}/{item_id}")}]

    def render_server(self, request: Request, server: dict) -> dict:
        admin = request.ctx.is_admin
        flavor = server["flavor"]
        if at_least(request, 2, 47):
            flavor_doc: dict[str, Any] = {
                "vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"],
                "ephemeral": flavor["ephemeral"], "swap": flavor["swap"],
                "original_name": flavor["name"], "extra_specs": dict(flavor["extra_specs"])}
        else:
            flavor_doc = {"id": flavor["id"], "links": [
                {"rel": "bookmark", "href": request.url(f"/flavors/{flavor['id']}")}]}
        image: Any = ""
        if server["image_id"]:
            image = {"id": server["image_id"], "links": [
                {"rel": "bookmark", "href": request.url(f"/images/{server['image_id']}")}]}
        doc: dict[str, Any] = {
            "id": server["id"], "name": server["name"], "status": server["status"],
            "tenant_id": server["project_id"], "user_id": server["user_id"],
            "metadata": dict(server["metadata"]),
            "hostId": _host_id(server["host"], server["project_id"]),
            "image": image, "flavor": flavor_doc,
            "created": iso(server["created"]), "updated": iso(server["updated"]),
            "addresses": self.cloud.network.addresses_of([p["port_id"]
                                                          for p in server["ports"]]),
            "accessIPv4": server["access_ipv4"], "accessIPv6": server["access_ipv6"],
            "links": self._link(request, "servers", server["id"]),
            "OS-DCF:diskConfig": "MANUAL",
            "progress": 100 if server["status"] == "ACTIVE" else 0,
            "OS-EXT-AZ:availability_zone": server["az"] or "",
            "config_drive": "True" if server["config_drive"] else "",
            "key_name": server["key_name"],
            "OS-SRV-USG:launched_at": (iso(server["launched_at"], micro=True, zulu=False)
                                       if server["launched_at"] else None),
            "OS-SRV-USG:terminated_at": None,
            "OS-EXT-STS:task_state": server["task_state"],
            "OS-EXT-STS:vm_state": server["vm_state"],
            "OS-EXT-STS:power_state": server["power_state"],
            "os-extended-volumes:volumes_attached": [
                {"id": v["volume_id"], **({"delete_on_termination": v["delete_on_termination"]}
                                          if at_least(request, 2, 3) else {})}
                for v in server["volumes"]],
            "security_groups": [{"name": name} for name in server["security_groups"]],
        }
        if admin:
            doc.update({"OS-EXT-SRV-ATTR:host": server["host"],
                        "OS-EXT-SRV-ATTR:hypervisor_hostname": server["host"],
                        "OS-EXT-SRV-ATTR:instance_name": server["instance_name"]})
            if at_least(request, 2, 3):
                doc.update({"OS-EXT-SRV-ATTR:reservation_id": server["reservation_id"],
                            "OS-EXT-SRV-ATTR:launch_index": server["launch_index"],
                            "OS-EXT-SRV-ATTR:hostname": server["hostname"],
                            "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                            "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                            "OS-EXT-SRV-ATTR:user_data": server["user_data"]})
        if at_least(request, 2, 9):
            doc["locked"] = server["locked"]
        if at_least(request, 2, 16) and admin:
            doc["host_status"] = "UP" if server["host"] else ""
        if at_least(request, 2, 19):
            doc["description"] = server["description"]
        if at_least(request, 2, 26):
            doc["tags"] = list(server["tags"])
        if at_least(request, 2, 63):
            doc["trusted_image_certificates"] = None
        if at_least(request, 2, 73):
            doc["locked_reason"] = None
        if at_least(request, 2, 96):
            doc["pinned_availability_zone"] = server["requested_az"]
        if at_least(request, 2, 100):
            doc["scheduler_hints"] = {}
        if server["fault"] is not None:
            doc["fault"] = dict(server["fault"])
        return doc

    # -- servers: listing -----------------------------------------------------

    def list_servers(self, request: Request) -> Response:
        return self._list_servers(request, detail=False)

    def list_servers_detail(self, request: Request) -> Response:
        return self._list_servers(request, detail=True)

    def _list_servers(self, request: Request, detail: bool) -> Response:
        ctx = request.ctx
        all_projects = ctx.is_admin and request.arg("all_tenants", "0").lower() not in (
            "0", "false", "off", "no")
        servers = [s for s in self.servers.values()
                   if s["project_id"] == ctx.project_id or all_projects]
        if all_projects and (request.arg("project_id") or request.arg("tenant_id")):
            wanted = request.arg("project_id") or request.arg("tenant_id")
            servers = [s for s in servers if s["project_id"] == wanted]
        name = request.arg("name")
        if name:
            try:
                pattern = re.compile(name)
                servers = [s for s in servers if pattern.search(s["name"])]
            except re.error:
                servers = [s for s in servers if name in s["name"]]
        for arg, key in (("status", "status"), ("availability_zone", "az"),
                         ("reservation_id", "reservation_id"), ("key_name", "key_name")):
            value = request.arg(arg)
            if value:
                servers = [s for s in servers if str(s[key]).upper() == value.upper()]
        if request.arg("image"):
            servers = [s for s in servers if s["image_id"] == request.arg("image")]
        if request.arg("flavor"):
            servers = [s for s in servers if s["flavor"]["id"] == request.arg("flavor")]
        if request.arg("host") and ctx.is_admin:
            servers = [s for s in servers if s["host"] == request.arg("host")]
        if request.arg("ip"):
            wanted_ip = re.compile(re.escape(request.arg("ip")))
            servers = [s for s in servers if any(
                wanted_ip.search(address["addr"])
                for entries in self.cloud.network.addresses_of(
                    [p["port_id"] for p in s["ports"]]).values() for address in entries)]
        sort_key = request.arg("sort_key", "created_at")
        reverse = request.arg("sort_dir", "desc").lower() != "asc"
        key_of = {"created_at": lambda s: (s["created"], s["seq"]),
                  "display_name": lambda s: (s["name"], s["seq"]),
                  "updated_at": lambda s: (s["updated"], s["seq"]),
                  "uuid": lambda s: (s["id"], s["seq"])}.get(sort_key,
                                                              lambda s: (s["created"], s["seq"]))
        servers.sort(key=key_of, reverse=reverse)
        limit = request.int_arg("limit", None)
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        marker = request.arg("marker")
        chunk, found, _ = page(servers, marker, limit)
        if not found:
            raise ApiError(400, f"marker [{marker}] not found")
        if detail:
            items = [self.render_server(request, s) for s in chunk]
        else:
            items = [{"id": s["id"], "name": s["name"],
                      "links": self._link(request, "servers", s["id"])} for s in chunk]
        doc: dict[str, Any] = {"servers": items}
        if chunk and len(chunk) == limit:
            query = {k: v for k, v in request.query.items() if k != "marker"}
            query["limit"] = [str(limit)]
            query["marker"] = [chunk[-1]["id"]]
            path = "/v2.1/servers/detail" if detail else "/v2.1/servers"
            doc["servers_links"] = [{"rel": "next", "href": request.url(path, query)}]
        return Response.json(200, doc)

    def show_server(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        return Response.json(200, {"server": self.render_server(request, server)})

    def update_server(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        body = request.json_object("server")
        for key in body:
            if key not in ("name", "description", "accessIPv4", "accessIPv6",
                           "OS-DCF:diskConfig", "hostname"):
                raise ApiError(400, f"Invalid input for field/attribute server. Additional "
                                    f"properties are not allowed ('{key}' was unexpected)")
        if "name" in body:
            server["name"] = _name(body["name"])
        if "description" in body:
            server["description"] = body["description"]
        server["updated"] = self.store.now()
        return Response.json(200, {"server": self.render_server(request, server)})

    # -- servers: creation ----------------------------------------------------

    def create_server(self, request: Request) -> Response:
        body = request.json_object("server")
        servers, reservation = self.create_servers(request.ctx, body, request.microversion)
        if body.get("return_reservation_id"):
            return Response.json(202, {"reservation_id": reservation})
        server = servers[0]
        doc = {"id": server["id"], "links": self._link(request, "servers", server["id"]),
               "OS-DCF:diskConfig": "MANUAL",
               "security_groups": [{"name": n} for n in server["security_groups"]],
               "adminPass": server["admin_pass"]}
        return Response.json(202, {"server": doc},
                             [("Location", request.url(f"/v2.1/servers/{server['id']}"))])

    def create_servers(self, ctx, body: dict, microversion=MIN_VERSION
                       ) -> tuple[list[dict], str]:
        """Nova's server create for `ctx` from a request body's "server" object;
        the servers made and their reservation id. Heat uses it too."""
        unknown = sorted(set(body) - SERVER_KEYS)
        if unknown:
            raise ApiError(400, "Invalid input for field/attribute server. Additional "
                                f"properties are not allowed ('{unknown[0]}' was unexpected)")
        name = _name(body.get("name"))
        flavor = self._flavor_for(body.get("flavorRef"))
        min_count = _count(body.get("min_count", 1), "min_count")
        max_count = _count(body.get("max_count", min_count), "max_count")
        if max_count < min_count:
            raise ApiError(400, "min_count must be <= max_count")
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= 255
                and len(v) <= 255 for k, v in metadata.items()):
            raise ApiError(400, "Invalid input for field/attribute metadata.")
        zone = body.get("availability_zone")
        if zone is not None:
            zone = str(zone).split(":", 1)[0] or None
        if zone is not None and zone not in self.store.config.availability_zones:
            raise ApiError(400, "The requested availability zone is not available")
        image, mappings = self._boot_source(ctx, body)
        if image is not None:
            if flavor["ram"] < (image.get("min_ram") or 0):
                raise ApiError(400, "Flavor's memory is too small for requested image.")
            if flavor["disk"] and flavor["disk"] < (image.get("min_disk") or 0):
                raise ApiError(400, "Flavor's disk is too small for requested image.")
        networks = self._requested_networks(ctx, body, microversion, max_count)
        count = self._quota_allows(ctx.project_id, flavor, min_count, max_count)
        forced = self.cloud.faults.take_behaviour("quota_exceeded", "compute")
        if forced is not None:
            message = forced.message or (
                "Quota exceeded for instances: Requested 1, but already used "
                f"{self._usage(ctx.project_id)['instances']} of "
                f"{self.quota_of(ctx.project_id)['instances']} instances")
            if forced.status == 413:
                raise ApiError(413, message, "overLimit", [("Retry-After", "0")])
            raise ApiError(403, message)
        reservation = "r-" + secrets.token_hex(4)
        created: list[dict] = []
        try:
            for index in range(count):
                created.append(self._new_server(
                    ctx, body, name if count == 1 else f"{name}-{index + 1}", flavor, image,
                    mappings, networks, zone, metadata, reservation, index))
        except ApiError:
            for server in created:
                self._purge(server["id"])
            raise
        return created, reservation

    def _flavor_for(self, ref: Any) -> dict:
        if not isinstance(ref, (str, int)) or ref == "":
            raise ApiError(400, "Invalid input for field/attribute flavorRef.")
        flavor_id = str(ref).rstrip("/").rsplit("/", 1)[-1]
        flavor = self.flavors.get(flavor_id)
        if flavor is None:
            raise ApiError(400, f"Flavor {flavor_id} could not be found.")
        return flavor

    def _boot_source(self, ctx, body: dict) -> tuple[dict | None, list[dict]]:
        """The image booted from (None: from a volume) and the block device mappings."""
        mappings = body.get("block_device_mapping_v2") or []
        if not isinstance(mappings, list) or not all(isinstance(m, dict) for m in mappings):
            raise ApiError(400, "Invalid input for field/attribute block_device_mapping_v2.")
        image_ref = body.get("imageRef") or ""
        image = None
        boot_from_volume = False
        for mapping in mappings:
            source = mapping.get("source_type")
            dest = mapping.get("destination_type", "local" if source == "image" else "volume")
            if source not in ("image", "volume", "blank", "snapshot"):
                raise ApiError(400, "Block Device Mapping is Invalid: source_type must be one "
                                    "of image, volume, blank, snapshot.")
            if source == "snapshot":
                raise ApiError(400, "Block Device Mapping is Invalid: snapshots are not "
                                    "simulated.")
            boot = str(mapping.get("boot_index", "")) == "0"
            if source in ("image", "blank") and dest == "volume" and not mapping.get(
                    "volume_size"):
                raise ApiError(400, "Block Device Mapping is Invalid: Images with "
                                    "destination_type 'volume' need to have a non-zero size "
                                    "specified.")
            if source == "image":
                found = self._image_for(ctx, mapping.get("uuid"))
                if boot and dest == "local":
                    image_ref = found["id"]
                mapping["_image"] = found
            if source == "volume":
                volume = self.cloud.volume.find(ctx, str(mapping.get("uuid")))
                if volume is None:
                    raise ApiError(400, f"Block Device Mapping is Invalid: failed to get volume "
                                        f"{mapping.get('uuid')}.")
                if volume["status"] != "available":
                    raise ApiError(400, f"Invalid volume: volume {volume['id']} status must be "
                                        f"'available'. Currently in '{volume['status']}'")
            if boot and dest == "volume":
                boot_from_volume = True
        if image_ref and not boot_from_volume:
            image = self._image_for(ctx, image_ref)
        elif not boot_from_volume:
            raise ApiError(400, "Block Device Mapping is Invalid: Boot sequence for the instance "
                                "and image/block device mapping combination is not valid.")
        return image, mappings

    def _image_for(self, ctx, ref: Any) -> dict:
        image_id = str(ref or "").rstrip("/").rsplit("/", 1)[-1]
        image = self.cloud.image.find(ctx, image_id)
        if image is None:
            raise ApiError(400, f"Image {image_id} could not be found.")
        if image["status"] != "active":
            raise ApiError(400, f"Image {image_id} is not active.")
        return image

    def _requested_networks(self, ctx, body: dict, microversion, count: int) -> list[dict]:
        """[{"port": record} | {"network": record, "fixed_ip": ip}] for each server."""
        networks = body.get("networks")
        net = self.cloud.network
        if networks is None:
            if microversion >= (2, 37):
                raise ApiError(400, "Invalid input for field/attribute server. Value: "
                                    "'networks' is a required property")
            networks = "auto"
        if networks == "none":
            return []
        if networks == "auto":
            candidates = [n for n in net.networks.values()
                          if not n["router:external"]
                          and (n["project_id"] == ctx.project_id or n["shared"])]
            if len(candidates) > 1:
                raise ApiError(409, "Multiple possible networks found, use a Network ID to be "
                                    "more specific.")
            if not candidates:
                if microversion >= (2, 37):
                    raise ApiError(400, "Unable to automatically allocate a network for "
                                        f"project {ctx.project_id}")
                return []
            return [{"network": candidates[0], "fixed_ip": None}]
        if not isinstance(networks, list) or not all(isinstance(n, dict) for n in networks):
            raise ApiError(400, "Invalid input for field/attribute networks.")
        requested = []
        for spec in networks:
            if spec.get("port"):
                port = net.ports.get(str(spec["port"]))
                if port is None or not (ctx.is_admin or port["project_id"] == ctx.project_id):
                    raise ApiError(400, f"Port id {spec['port']} could not be found.")
                if port["device_id"]:
                    raise ApiError(409, f"Port {port['id']} is still in use.")
                if count > 1:
                    raise ApiError(400, "Unable to launch multiple instances with a single "
                                        "configured port ID. Please launch your instance one "
                                        "by one with different ports.")
                requested.append({"port": port})
            elif spec.get("uuid"):
                network = net.networks.get(str(spec["uuid"]))
                if network is None or not net.can_see(ctx, "network", network):
                    raise ApiError(400, f"Network {spec['uuid']} could not be found.")
                if not network["subnets"]:
                    raise ApiError(400, f"Network {network['id']} requires a subnet in order to "
                                        "boot instances on.")
                requested.append({"network": network, "fixed_ip": spec.get("fixed_ip")})
            else:
                raise ApiError(400, "Bad networks format: network uuid is not in proper format")
        return requested

    def _new_server(self, ctx, body: dict, name: str, flavor: dict, image: dict | None,
                    mappings: list[dict], networks: list[dict], zone: str | None,
                    metadata: dict, reservation: str, index: int) -> dict:
        now = self.store.now()
        server_id = new_id()
        server = {
            "id": server_id, "name": name, "project_id": ctx.project_id,
            "user_id": ctx.user_id,
            "flavor": {k: (dict(v) if isinstance(v, dict) else v)
                       for k, v in flavor.items() if not k.startswith("_")},
            "image_id": image["id"] if image is not None else "",
            "status": "BUILD", "vm_state": "building", "task_state": "scheduling",
            "power_state": 0, "created": now, "updated": now, "launched_at": None,
            "metadata": dict(metadata), "az": zone, "requested_az": zone, "host": None,
            "ports": [], "volumes": [], "key_name": body.get("key_name"),
            "security_groups": [g.get("name", "default") if isinstance(g, dict) else str(g)
                                for g in body.get("security_groups", [{"name": "default"}])],
            "fault": None, "seq": self.store.seq(), "description": body.get("description"),
            "tags": list(body.get("tags", [])), "locked": False,
            "user_data": body.get("user_data"), "admin_pass": secrets.token_urlsafe(9),
            "reservation_id": reservation, "launch_index": index,
            "config_drive": bool(body.get("config_drive")),
            "access_ipv4": body.get("accessIPv4", ""), "access_ipv6": body.get("accessIPv6", ""),
            "hostname": re.sub(r"[^a-z0-9-]", "-", name.lower())[:63] or "server",
            "instance_name": f"instance-{self.store.seq():08x}", "claimed": False,
        }
        self.servers[server_id] = server
        try:
            self._attach_boot_volumes(ctx, server, mappings, flavor)
            self._plug_networks(ctx, server, networks)
        except ApiError:
            self._purge(server_id)
            raise
        fault = self.cloud.faults.take_behaviour("server_error", "compute")
        if fault is not None:
            failure = fault.message or ("No valid host was found. There are not enough hosts "
                                        "available.")
        else:
            failure = self._claim(server, flavor, boot_from_volume=image is None)
        server["task_state"] = "spawning" if failure is None else "scheduling"
        self.store.later(self.store.config.build_seconds,
                         lambda: self._finish_build(server_id, failure))
        return server

    def seed_servers(self, project_id: str, count: int, prefix: str) -> int:
        """`count` ACTIVE servers of `project_id` at once, for tests of large
        listings (no quota, ports or volumes); returns how many exist now."""
        flavor = self.flavors["1"]
        now = self.store.now()
        for index in range(count):
            server_id = new_id()
            self.servers[server_id] = {
                "id": server_id, "name": f"{prefix}-{index}", "project_id": project_id,
                "user_id": "", "flavor": {k: v for k, v in flavor.items()
                                          if not k.startswith("_")},
                "image_id": "", "status": "ACTIVE", "vm_state": "active", "task_state": None,
                "power_state": 1, "created": now, "updated": now, "launched_at": now,
                "metadata": {}, "az": "nova", "requested_az": None, "host": "compute-1",
                "ports": [], "volumes": [], "key_name": None, "security_groups": ["default"],
                "fault": None, "seq": self.store.seq(), "description": None, "tags": [],
                "locked": False, "user_data": None, "admin_pass": "",
                "reservation_id": "r-seed", "launch_index": index, "config_drive": False,
                "access_ipv4": "", "access_ipv6": "", "hostname": f"{prefix}-{index}",
                "instance_name": f"instance-{self.store.seq():08x}", "claimed": False}
        return len(self.servers)

    def _attach_boot_volumes(self, ctx, server: dict, mappings: list[dict], flavor: dict) -> None:
        volumes = self.cloud.volume
        ordered = sorted(mappings, key=lambda m: (str(m.get("boot_index", "")) != "0",
                                                  str(m.get("boot_index", ""))))
        for mapping in ordered:
            source = mapping.get("source_type")
            dest = mapping.get("destination_type", "local" if source == "image" else "volume")
            if dest != "volume":
                continue
            if source == "volume":
                volume = volumes.find(ctx, str(mapping.get("uuid")))
                if volume is None or volume["status"] != "available":
                    raise ApiError(400, f"Invalid volume: volume {mapping.get('uuid')} is not "
                                        "available")
            else:
                image = mapping.get("_image")
                volume = volumes.create_for(ctx, int(mapping["volume_size"]),
                                            image_id=image["id"] if image else None,
                                            status="available")
            device = "/dev/vd" + DEVICE_LETTERS[len(server["volumes"])]
            volumes.attach(volume, server["id"], device)
            server["volumes"].append({
                "volume_id": volume["id"], "device": device,
                "delete_on_termination": bool(mapping.get("delete_on_termination", False)),
                "boot": str(mapping.get("boot_index", "")) == "0", "tag": mapping.get("tag")})

    def _plug_networks(self, ctx, server: dict, networks: list[dict]) -> None:
        net = self.cloud.network
        owner = f"compute:{server['az'] or self.store.config.availability_zones[0]}"
        for spec in networks:
            if "port" in spec:
                port = spec["port"]
                net.bind_port(port, server["id"], "", owner)
                server["ports"].append({"port_id": port["id"], "nova_created": False})
            else:
                body: dict[str, Any] = {"network_id": spec["network"]["id"],
                                        "device_id": server["id"], "device_owner": owner}
                if spec.get("fixed_ip"):
                    body["fixed_ips"] = [{"ip_address": spec["fixed_ip"]}]
                port = net.create_port(_Owner(ctx), body)
                server["ports"].append({"port_id": port["id"], "nova_created": True})

    def _claim(self, server: dict, flavor: dict, boot_from_volume: bool) -> str | None:
        """Place the server on the least used hypervisor with room; the failure
        message when none has room."""
        config = self.store.config
        disk = 0 if boot_from_volume else flavor["disk"] + flavor["ephemeral"]
        best = None
        for hv in self.hypervisors:
            if server["az"] and hv["zone"] != server["az"]:
                continue
            fits = (hv["vcpus_used"] + flavor["vcpus"]
                    <= hv["vcpus"] * config.cpu_allocation_ratio
                    and hv["memory_mb_used"] + flavor["ram"]
                    <= hv["memory_mb"] * config.ram_allocation_ratio
                    and hv["local_gb_used"] + disk
                    <= hv["local_gb"] * config.disk_allocation_ratio)
            if fits:
                if best is None or hv["vcpus_used"] < best["vcpus_used"]:
                    best = hv
        if best is None:
            return "No valid host was found. There are not enough hosts available."
        best["vcpus_used"] += flavor["vcpus"]
        best["memory_mb_used"] += flavor["ram"]
        best["local_gb_used"] += disk
        best["running_vms"] += 1
        server.update(host=best["hostname"], az=best["zone"], claimed=True, _disk=disk)
        for entry in server["ports"]:
            port = self.cloud.network.ports.get(entry["port_id"])
            if port is not None:
                port["binding:host_id"] = best["hostname"]
        return None

    def _release(self, server: dict) -> None:
        if not server.get("claimed"):
            return
        for hv in self.hypervisors:
            if hv["hostname"] == server["host"]:
                hv["vcpus_used"] -= server["flavor"]["vcpus"]
                hv["memory_mb_used"] -= server["flavor"]["ram"]
                hv["local_gb_used"] -= server.get("_disk", 0)
                hv["running_vms"] -= 1
        server["claimed"] = False

    def _finish_build(self, server_id: str, failure: str | None) -> None:
        server = self.servers.get(server_id)
        if server is None or server["status"] != "BUILD":
            return
        now = self.store.now()
        net = self.cloud.network
        if failure is None:
            server.update(status="ACTIVE", vm_state="active", task_state=None, power_state=1,
                          launched_at=now, updated=now)
            for entry in server["ports"]:
                net.set_port_status(entry["port_id"], "ACTIVE")
            return
        self._release(server)
        server.update(status="ERROR", vm_state="error", task_state=None, power_state=0,
                      updated=now, host=None,
                      fault={"code": 500, "created": iso(now), "message": failure,
                             "details": ""})
        # Nova gives back the ports it made and unbinds the caller's ones.
        for entry in list(server["ports"]):
            port = net.ports.get(entry["port_id"])
            if port is None:
                continue
            if entry["nova_created"]:
                net.remove_port(port["id"])
            else:
                net.unbind_port(port)
        server["ports"] = []

    # -- servers: deletion and actions ---------------------------------------

    def delete_server(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        if server["locked"] and not request.ctx.is_admin:
            raise ApiError(409, f"Instance {server['id']} is locked")
        stuck = self.cloud.faults.take_behaviour("delete_stuck", "compute") is not None
        self.request_delete(server["id"], stuck)
        return Response.empty(204)

    def request_delete(self, server_id: str, stuck: bool = False) -> None:
        """Start deleting a server: task_state deleting, gone after delete_seconds
        (`stuck`: never, as when the compute host does not answer; a later
        delete that is not stuck finishes it)."""
        server = self.servers.get(server_id)
        if server is None or (server["task_state"] == "deleting" and not server.get("_stuck")):
            return
        server.update(task_state="deleting", updated=self.store.now(), _stuck=stuck)
        if stuck:
            return
        delay = self.store.config.delete_seconds
        if delay <= 0:
            self._purge(server_id)
        else:
            self.store.later(delay, lambda: self._purge(server_id))

    def _purge(self, server_id: str) -> None:
        server = self.servers.pop(server_id, None)
        if server is None:
            return
        self._release(server)
        net = self.cloud.network
        for entry in server["ports"]:
            port = net.ports.get(entry["port_id"])
            if port is None:
                continue
            if entry["nova_created"]:
                net.remove_port(port["id"])
            else:
                net.unbind_port(port)
        for attached in server["volumes"]:
            self.cloud.volume.detached(attached["volume_id"], server_id,
                                       delete=attached["delete_on_termination"])

    def port_deleted(self, server_id: str, port_id: str) -> None:
        """Neutron deleted a port a server used: the server forgets it."""
        server = self.servers.get(server_id)
        if server is not None:
            server["ports"] = [p for p in server["ports"] if p["port_id"] != port_id]

    def server_action(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        body = request.json_object()
        if len(body) != 1:
            raise ApiError(400, "Exactly one action is expected")
        action = next(iter(body))
        now = self.store.now()
        if action == "os-stop":
            self._require_state(server, ("ACTIVE", "ERROR"), "stop")
            server.update(status="SHUTOFF", vm_state="stopped", power_state=4, updated=now)
        elif action == "os-start":
            self._require_state(server, ("SHUTOFF",), "start")
            server.update(status="ACTIVE", vm_state="active", power_state=1, updated=now)
        elif action == "reboot":
            self._require_state(server, ("ACTIVE", "SHUTOFF", "ERROR"), "reboot")
            server.update(status="ACTIVE", vm_state="active", power_state=1, updated=now)
        elif action == "lock":
            server["locked"] = True
        elif action == "unlock":
            server["locked"] = False
        else:
            raise ApiError(400, f"There is no such action: {action}")
        return Response.empty(202)

    @staticmethod
    def _require_state(server: dict, states: tuple[str, ...], action: str) -> None:
        if server["status"] not in states or server["task_state"] is not None:
            raise ApiError(409, f"Cannot '{action}' instance {server['id']} while it is in "
                                f"vm_state {server['vm_state']}")

    # -- server metadata and interfaces ---------------------------------------

    def show_metadata(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        return Response.json(200, {"metadata": dict(server["metadata"])})

    def _metadata_body(self, request: Request) -> dict:
        body = request.json_object("metadata")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in body.items()):
            raise ApiError(400, "Invalid input for field/attribute metadata.")
        return body

    def merge_metadata(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        server["metadata"].update(self._metadata_body(request))
        return Response.json(200, {"metadata": dict(server["metadata"])})

    def replace_metadata(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        server["metadata"] = self._metadata_body(request)
        return Response.json(200, {"metadata": dict(server["metadata"])})

    def delete_metadata_item(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        if server["metadata"].pop(request.params["key"], None) is None:
            raise ApiError(404, "Metadata item was not found")
        return Response.empty(204)

    def list_interfaces(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        net = self.cloud.network
        items = []
        for entry in server["ports"]:
            port = net.ports.get(entry["port_id"])
            if port is not None:
                items.append({"port_state": port["status"], "port_id": port["id"],
                              "net_id": port["network_id"], "mac_addr": port["mac_address"],
                              "fixed_ips": [dict(ip) for ip in port["fixed_ips"]],
                              **({"tag": None} if at_least(request, 2, 70) else {})})
        return Response.json(200, {"interfaceAttachments": items})

    # -- volume attachments ---------------------------------------------------

    def _attachment_doc(self, request: Request, server: dict, attached: dict) -> dict:
        doc: dict[str, Any] = {"device": attached["device"], "serverId": server["id"],
                               "volumeId": attached["volume_id"]}
        if not at_least(request, 2, 89):
            doc["id"] = attached["volume_id"]
        if at_least(request, 2, 70):
            doc["tag"] = attached.get("tag")
        if at_least(request, 2, 79):
            doc["delete_on_termination"] = attached["delete_on_termination"]
        if at_least(request, 2, 89):
            doc["attachment_id"] = attached.setdefault("attachment_id", new_id())
            doc["bdm_uuid"] = attached.setdefault("bdm_uuid", new_id())
        return doc

    def list_attachments(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        items = [self._attachment_doc(request, server, a) for a in server["volumes"]]
        limit = request.int_arg("limit", None)
        offset = request.int_arg("offset", 0) or 0
        items = items[offset:offset + limit] if limit is not None else items[offset:]
        return Response.json(200, {"volumeAttachments": items})

    def _attached(self, server: dict, volume_id: str) -> dict:
        for attached in server["volumes"]:
            if attached["volume_id"] == volume_id:
                return attached
        raise ApiError(404, f"Volume {volume_id} is not attached to the instance "
                            f"{server['id']}")

    def show_attachment(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        attached = self._attached(server, request.params["volume_id"])
        return Response.json(200, {"volumeAttachment": self._attachment_doc(request, server,
                                                                            attached)})

    def attach_volume(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        body = request.json_object("volumeAttachment")
        volume_id = body.get("volumeId")
        if not isinstance(volume_id, str):
            raise ApiError(400, "Invalid input for field/attribute volumeAttachment. Value: "
                                "'volumeId' is a required property")
        if server["status"] not in ("ACTIVE", "SHUTOFF") or server["task_state"] is not None:
            raise ApiError(409, f"Cannot 'attach_volume' instance {server['id']} while it is "
                                f"in vm_state {server['vm_state']}")
        volume = self.cloud.volume.find(request.ctx, volume_id)
        if volume is None:
            raise ApiError(404, f"Volume {volume_id} could not be found.")
        if volume["status"] != "available":
            raise ApiError(400, f"Invalid volume: volume {volume_id} status must be 'available'. "
                                f"Currently in '{volume['status']}'")
        used = {a["device"] for a in server["volumes"]}
        device = body.get("device") or next(
            f"/dev/vd{letter}" for letter in DEVICE_LETTERS if f"/dev/vd{letter}" not in used
            and letter != "a")
        self.cloud.volume.attach(volume, server["id"], device)
        attached = {"volume_id": volume_id, "device": device, "boot": False,
                    "delete_on_termination": bool(body.get("delete_on_termination", False)),
                    "tag": body.get("tag")}
        server["volumes"].append(attached)
        server["updated"] = self.store.now()
        return Response.json(200, {"volumeAttachment": self._attachment_doc(request, server,
                                                                            attached)})

    def detach_volume(self, request: Request) -> Response:
        server = self.get_server(request.ctx, request.params["server_id"])
        attached = self._attached(server, request.params["volume_id"])
        if attached["boot"]:
            raise ApiError(400, "Can't detach root device volume")
        server["volumes"].remove(attached)
        self.cloud.volume.detached(attached["volume_id"], server["id"], delete=False)
        return Response.empty(202)

    # -- flavors --------------------------------------------------------------

    def _new_flavor(self, body: dict) -> dict:
        flavor = {
            "id": str(body["id"]), "name": body["name"], "vcpus": int(body["vcpus"]),
            "ram": int(body["ram"]), "disk": int(body.get("disk", 0)),
            "ephemeral": int(body.get("OS-FLV-EXT-DATA:ephemeral", 0)),
            "swap": int(body.get("swap") or 0),
            "rxtx_factor": float(body.get("rxtx_factor", 1.0)),
            "is_public": bool(body.get("os-flavor-access:is_public", True)),
            "description": body.get("description"), "extra_specs": {},
            "_seq": self.store.seq(),
        }
        self.flavors[flavor["id"]] = flavor
        return flavor

    def get_flavor(self, ctx, flavor_id: str) -> dict:
        flavor = self.flavors.get(flavor_id)
        if flavor is None or not (flavor["is_public"] or ctx.is_admin):
            raise ApiError(404, f"Flavor {flavor_id} could not be found.")
        return flavor

    def find_flavor(self, ref: str) -> dict | None:
        """A flavor by id or name (Heat names flavors either way)."""
        if ref in self.flavors:
            return self.flavors[ref]
        for flavor in self.flavors.values():
            if flavor["name"] == ref:
                return flavor
        return None

    def render_flavor(self, request: Request, flavor: dict, detail: bool = True) -> dict:
        doc: dict[str, Any] = {"id": flavor["id"], "name": flavor["name"],
                               "links": self._link(request, "flavors", flavor["id"])}
        if at_least(request, 2, 55):
            doc["description"] = flavor["description"]
        if not detail:
            return doc
        doc.update({
            "vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"],
            "OS-FLV-EXT-DATA:ephemeral": flavor["ephemeral"], "OS-FLV-DISABLED:disabled": False,
            "swap": flavor["swap"] if at_least(request, 2, 75) else (flavor["swap"] or ""),
            "rxtx_factor": flavor["rxtx_factor"],
            "os-flavor-access:is_public": flavor["is_public"]})
        if at_least(request, 2, 61):
            doc["extra_specs"] = dict(flavor["extra_specs"])
        return doc

    def _list_flavors(self, request: Request, detail: bool) -> Response:
        ctx = request.ctx
        public = request.arg("is_public", "true").lower()
        flavors = list(self.flavors.values())
        if public in ("none",) and ctx.is_admin:
            pass
        elif public in ("false", "0", "no", "off") and ctx.is_admin:
            flavors = [f for f in flavors if not f["is_public"]]
        else:
            flavors = [f for f in flavors if f["is_public"] or ctx.is_admin]
        min_ram = request.int_arg("minRam", None)
        min_disk = request.int_arg("minDisk", None)
        if min_ram is not None:
            flavors = [f for f in flavors if f["ram"] >= min_ram]
        if min_disk is not None:
            flavors = [f for f in flavors if f["disk"] >= min_disk]
        sort_key = request.arg("sort_key", "flavorid")
        key = {"name": lambda f: (f["name"], f["id"]), "memory_mb": lambda f: (f["ram"], f["id"]),
               "vcpus": lambda f: (f["vcpus"], f["id"]),
               "root_gb": lambda f: (f["disk"], f["id"])}.get(sort_key, lambda f: (f["id"],))
        flavors.sort(key=key, reverse=request.arg("sort_dir", "asc").lower() == "desc")
        limit = request.int_arg("limit", None)
        limit = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
        marker = request.arg("marker")
        chunk, found, _ = page(flavors, marker, limit)
        if not found:
            raise ApiError(400, f"marker [{marker}] not found")
        doc: dict[str, Any] = {"flavors": [self.render_flavor(request, f, detail) for f in chunk]}
        if chunk and len(chunk) == limit:
            query = {k: v for k, v in request.query.items() if k != "marker"}
            query.update(limit=[str(limit)], marker=[chunk[-1]["id"]])
            path = "/v2.1/flavors/detail" if detail else "/v2.1/flavors"
            doc["flavors_links"] = [{"rel": "next", "href": request.url(path, query)}]
        return Response.json(200, doc)

    def list_flavors(self, request: Request) -> Response:
        return self._list_flavors(request, detail=False)

    def list_flavors_detail(self, request: Request) -> Response:
        return self._list_flavors(request, detail=True)

    def show_flavor(self, request: Request) -> Response:
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        return Response.json(200, {"flavor": self.render_flavor(request, flavor)})

    def create_flavor(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-flavor-manage:create")
        body = request.json_object("flavor")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise ApiError(400, "Invalid input for field/attribute name.")
        for key, low in (("vcpus", 1), ("ram", 1), ("disk", 0),
                         ("OS-FLV-EXT-DATA:ephemeral", 0), ("swap", 0)):
            if key in body or key in ("vcpus", "ram"):
                value = body.get(key)
                if key == "swap" and value == "":
                    continue
                try:
                    number = int(value)
                except (TypeError, ValueError):
                    raise ApiError(400, f"Invalid input for field/attribute {key}.") from None
                if number < low or isinstance(value, bool):
                    raise ApiError(400, f"Invalid input for field/attribute {key}. Value: "
                                        f"{value}. {value} is less than the minimum of {low}")
        flavor_id = body.get("id")
        if flavor_id in (None, "auto"):
            flavor_id = new_id()
        flavor_id = str(flavor_id)
        if flavor_id in self.flavors:
            raise ApiError(409, f"Flavor with ID {flavor_id} already exists.")
        if any(f["name"] == name for f in self.flavors.values()):
            raise ApiError(409, f"Flavor with name {name} already exists.")
        flavor = self._new_flavor({**body, "id": flavor_id})
        return Response.json(200, {"flavor": self.render_flavor(request, flavor)})

    def update_flavor(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-flavor-manage:update")
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        body = request.json_object("flavor")
        if set(body) != {"description"}:
            raise ApiError(400, "Only the description of a flavor can be updated")
        flavor["description"] = body["description"]
        return Response.json(200, {"flavor": self.render_flavor(request, flavor)})

    def delete_flavor(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-flavor-manage:delete")
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        del self.flavors[flavor["id"]]
        return Response.empty(202)

    def list_extra_specs(self, request: Request) -> Response:
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        return Response.json(200, {"extra_specs": dict(flavor["extra_specs"])})

    @staticmethod
    def _check_specs(specs: Any) -> dict:
        """Extra specs as Nova stores them: names of [\\w.:-], values strings."""
        if not isinstance(specs, dict) or not all(
                isinstance(k, str) and re.fullmatch(r"[\w.: -]{1,255}", k)
                and isinstance(v, (str, int, float, bool)) and len(str(v)) <= 255
                for k, v in specs.items()):
            raise ApiError(400, "Invalid input for field/attribute extra_specs.")
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in specs.items()}

    def set_extra_specs(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-flavor-extra-specs:create")
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        specs = self._check_specs(request.json_object().get("extra_specs"))
        flavor["extra_specs"].update(specs)
        return Response.json(200, {"extra_specs": specs})

    def show_extra_spec(self, request: Request) -> Response:
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        key = request.params["key"]
        if key not in flavor["extra_specs"]:
            raise ApiError(404, f"Flavor {flavor['id']} has no extra specs with key {key}.")
        return Response.json(200, {key: flavor["extra_specs"][key]})

    def update_extra_spec(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-flavor-extra-specs:update")
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        key = request.params["key"]
        body = self._check_specs(request.json_object())
        if list(body) != [key]:
            raise ApiError(400, "Request body and URI mismatch")
        flavor["extra_specs"].update(body)
        return Response.json(200, body)

    def delete_extra_spec(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-flavor-extra-specs:delete")
        flavor = self.get_flavor(request.ctx, request.params["flavor_id"])
        key = request.params["key"]
        if flavor["extra_specs"].pop(key, None) is None:
            raise ApiError(404, f"Flavor {flavor['id']} has no extra specs with key {key}.")
        return Response.empty(200)

    # -- hypervisors ----------------------------------------------------------

    def _hypervisor_doc(self, request: Request, hv: dict, detail: bool) -> dict:
        doc: dict[str, Any] = {
            "id": hv["uuid"] if at_least(request, 2, 53) else hv["id"],
            "hypervisor_hostname": hv["hostname"], "state": "up", "status": "enabled"}
        if not detail:
            return doc
        doc.update({"hypervisor_type": "QEMU", "hypervisor_version": 8002000,
                    "host_ip": hv["host_ip"],
                    "service": {"host": hv["hostname"], "disabled_reason": None,
                                "id": hv["service_uuid"] if at_least(request, 2, 53)
                                else hv["service_id"]}})
        if not at_least(request, 2, 88):
            free_disk = hv["local_gb"] - hv["local_gb_used"]
            cpu_info = {"arch": "x86_64", "model": "Haswell", "vendor": "Intel",
                        "features": ["sse4.2", "avx2"],
                        "topology": {"cores": hv["vcpus"] // 2, "threads": 2, "sockets": 1}}
            doc.update({"vcpus": hv["vcpus"], "vcpus_used": hv["vcpus_used"],
                        "memory_mb": hv["memory_mb"], "memory_mb_used": hv["memory_mb_used"],
                        "local_gb": hv["local_gb"], "local_gb_used": hv["local_gb_used"],
                        "free_ram_mb": hv["memory_mb"] - hv["memory_mb_used"],
                        "free_disk_gb": free_disk, "current_workload": 0,
                        "running_vms": hv["running_vms"], "disk_available_least": free_disk,
                        "cpu_info": cpu_info if at_least(request, 2, 28)
                        else _json_text(cpu_info)})
        else:
            doc["uptime"] = " 10:00:00 up 1 day,  1 user,  load average: 0.10, 0.10, 0.10"
        return doc

    def _hypervisor_list(self, request: Request, detail: bool) -> Response:
        hvs = list(self.hypervisors)
        pattern = request.arg("hypervisor_hostname_pattern")
        if pattern:
            hvs = [hv for hv in hvs if pattern in hv["hostname"]]
        limit = request.int_arg("limit", None)
        marker = request.arg("marker")
        key = (lambda hv: hv["uuid"]) if at_least(request, 2, 53) else (lambda hv: str(hv["id"]))
        chunk, found, more = page(hvs, marker, limit, key)
        if not found:
            raise ApiError(400, f"marker [{marker}] not found")
        doc: dict[str, Any] = {"hypervisors": [self._hypervisor_doc(request, hv, detail)
                                               for hv in chunk]}
        if limit and chunk and len(chunk) == limit:
            doc["hypervisors_links"] = [{"rel": "next", "href": request.url(
                "/v2.1/os-hypervisors" + ("/detail" if detail else ""),
                {"limit": limit, "marker": key(chunk[-1])})}]
        return Response.json(200, doc)

    def list_hypervisors(self, request: Request) -> Response:
        return self._hypervisor_list(request, detail=False)

    def list_hypervisors_detail(self, request: Request) -> Response:
        return self._hypervisor_list(request, detail=True)

    def show_hypervisor(self, request: Request) -> Response:
        wanted = request.params["hypervisor_id"]
        for hv in self.hypervisors:
            if wanted in (hv["uuid"], str(hv["id"])):
                return Response.json(200, {"hypervisor": self._hypervisor_doc(request, hv,
                                                                              True)})
        raise ApiError(404, f"Hypervisor with ID '{wanted}' could not be found.")

    def hypervisor_statistics(self, request: Request) -> Response:
        if at_least(request, 2, 88):
            raise ApiError(404, "The resource could not be found.")
        hvs = self.hypervisors
        total = {key: sum(hv[key] for hv in hvs)
                 for key in ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
                             "local_gb_used", "running_vms")}
        total.update(count=len(hvs), current_workload=0,
                     free_ram_mb=total["memory_mb"] - total["memory_mb_used"],
                     free_disk_gb=total["local_gb"] - total["local_gb_used"],
                     disk_available_least=total["local_gb"] - total["local_gb_used"])
        return Response.json(200, {"hypervisor_statistics": total})

    # -- availability zones ---------------------------------------------------

    def availability_zones(self, request: Request) -> Response:
        return Response.json(200, {"availabilityZoneInfo": [
            {"zoneName": zone, "zoneState": {"available": True}, "hosts": None}
            for zone in self.store.config.availability_zones]})

    def availability_zones_detail(self, request: Request) -> Response:
        zones = [{"zoneName": "internal", "zoneState": {"available": True}, "hosts": {
            "controller": {service: {"available": True, "active": True,
                                     "updated_at": iso(self.store.now(), micro=True,
                                                       zulu=False)}
                           for service in ("nova-conductor", "nova-scheduler")}}}]
        for zone in self.store.config.availability_zones:
            hosts = {hv["hostname"]: {"nova-compute": {
                "available": True, "active": True,
                "updated_at": iso(self.store.now(), micro=True, zulu=False)}}
                for hv in self.hypervisors if hv["zone"] == zone}
            zones.append({"zoneName": zone, "zoneState": {"available": True},
                          "hosts": hosts or None})
        return Response.json(200, {"availabilityZoneInfo": zones})

    # -- quotas and limits -----------------------------------------------------

    def quota_of(self, project_id: str) -> dict[str, int]:
        return {**self.store.config.compute_quota, **self.quotas.get(project_id, {})}

    def _usage(self, project_id: str) -> dict[str, int]:
        mine = [s for s in self.servers.values() if s["project_id"] == project_id]
        return {"instances": len(mine), "cores": sum(s["flavor"]["vcpus"] for s in mine),
                "ram": sum(s["flavor"]["ram"] for s in mine)}

    def _quota_allows(self, project_id: str, flavor: dict, min_count: int,
                      max_count: int) -> int:
        """How many servers of `flavor` the project may still start (max_count
        if it can, at least min_count, else Nova's 403)."""
        quota = self.quota_of(project_id)
        used = self._usage(project_id)
        per = {"instances": 1, "cores": flavor["vcpus"], "ram": flavor["ram"]}
        allowed = max_count
        for resource, each in per.items():
            limit = quota[resource]
            if limit < 0 or each == 0:
                continue
            fits = max(0, (limit - used[resource]) // each)
            allowed = min(allowed, fits)
        if allowed >= min_count:
            return allowed
        for resource, each in per.items():
            limit = quota[resource]
            if limit >= 0 and used[resource] + each * min_count > limit:
                unit = {"instances": "instances", "cores": "cores", "ram": "MB"}[resource]
                raise ApiError(403, f"Quota exceeded for {resource}: Requested "
                                    f"{each * min_count}, but already used {used[resource]} of "
                                    f"{limit} {unit}")
        raise ApiError(403, "Quota exceeded")

    def _quota_project(self, request: Request) -> str:
        project_id = request.params["project_id"]
        if project_id != request.ctx.project_id and not request.ctx.is_admin:
            raise ApiError(403, "Policy doesn't allow os_compute_api:os-quota-sets:show to be "
                                "performed.")
        return project_id

    def _quota_doc(self, request: Request, values: dict[str, Any]) -> dict:
        """The quota set's keys for the request's microversion: 2.36 drops the
        network ones, 2.57 the injected files."""
        doc = dict(values)
        if at_least(request, 2, 57):
            for key in ("injected_files", "injected_file_content_bytes",
                        "injected_file_path_bytes"):
                doc.pop(key, None)
        if not at_least(request, 2, 36):
            detailed = isinstance(next(iter(values.values()), None), dict)
            for key, limit in (("fixed_ips", -1), ("floating_ips", 10), ("security_groups", 10),
                               ("security_group_rules", 20)):
                doc[key] = {"limit": limit, "in_use": 0, "reserved": 0} if detailed else limit
        return doc

    def show_quota(self, request: Request) -> Response:
        project_id = self._quota_project(request)
        doc = self._quota_doc(request, self.quota_of(project_id))
        return Response.json(200, {"quota_set": {"id": project_id, **doc}})

    def show_quota_defaults(self, request: Request) -> Response:
        doc = self._quota_doc(request, dict(self.store.config.compute_quota))
        return Response.json(200, {"quota_set": {"id": request.params["project_id"], **doc}})

    def show_quota_detail(self, request: Request) -> Response:
        project_id = self._quota_project(request)
        used = self._usage(project_id)
        detail = {name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0}
                  for name, limit in self.quota_of(project_id).items()}
        return Response.json(200, {"quota_set": {"id": project_id,
                                                 **self._quota_doc(request, detail)}})

    def update_quota(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-quota-sets:update")
        body = request.json_object("quota_set")
        known = self.store.config.compute_quota
        changes = {}
        for name, value in body.items():
            if name == "force":
                continue
            if name not in known:
                raise ApiError(400, f"Invalid input for field/attribute quota_set. Additional "
                                    f"properties are not allowed ('{name}' was unexpected)")
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise ApiError(400, f"Invalid input for field/attribute {name}.") from None
            if number < -1 or isinstance(value, bool):
                raise ApiError(400, f"Invalid input for field/attribute {name}.")
            changes[name] = number
        self.quotas.setdefault(request.params["project_id"], {}).update(changes)
        doc = self._quota_doc(request, self.quota_of(request.params["project_id"]))
        return Response.json(200, {"quota_set": doc})

    def reset_quota(self, request: Request) -> Response:
        self.require_admin(request, "os_compute_api:os-quota-sets:delete")
        self.quotas.pop(request.params["project_id"], None)
        return Response.empty(202)

    def limits(self, request: Request) -> Response:
        project_id = request.ctx.project_id
        wanted = request.arg("tenant_id")
        if wanted and wanted != project_id:
            self.require_admin(request, "os_compute_api:limits:other_project")
            project_id = wanted
        quota = self.quota_of(project_id)
        used = self._usage(project_id)
        absolute: dict[str, int] = {
            "maxTotalCores": quota["cores"], "maxTotalInstances": quota["instances"],
            "maxTotalRAMSize": quota["ram"], "maxServerMeta": quota["metadata_items"],
            "maxTotalKeypairs": quota["key_pairs"], "maxServerGroups": quota["server_groups"],
            "maxServerGroupMembers": quota["server_group_members"],
            "totalCoresUsed": used["cores"], "totalInstancesUsed": used["instances"],
            "totalRAMUsed": used["ram"], "totalServerGroupsUsed": 0}
        if not at_least(request, 2, 39):
            absolute["maxImageMeta"] = 128
        if not at_least(request, 2, 57):
            absolute.update(maxPersonality=quota["injected_files"],
                            maxPersonalitySize=quota["injected_file_content_bytes"])
        if not at_least(request, 2, 36):
            absolute.update(maxSecurityGroups=10, maxSecurityGroupRules=20,
                            maxTotalFloatingIps=10, totalSecurityGroupsUsed=0,
                            totalFloatingIpsUsed=0)
        return Response.json(200, {"limits": {"rate": [], "absolute": absolute}})

    def list_keypairs(self, request: Request) -> Response:
        return Response.json(200, {"keypairs": []})


class _Owner:
    """The context a Nova-made port belongs to: the server's project, with
    Nova's own right to plug into any network the project can see."""

    def __init__(self, ctx):
        self.project_id = ctx.project_id
        self.user_id = ctx.user_id
        self.roles = ctx.roles
        self.is_admin = True


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise ApiError(400, "Invalid input for field/attribute name.")
    return value


def _count(value: Any, field: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Invalid input for field/attribute {field}.") from None
    if number < 1:
        raise ApiError(400, f"Invalid input for field/attribute {field}. Value: {value}. "
                            f"{value} is less than the minimum of 1")
    return number


def _host_id(host: str | None, project_id: str) -> str:
    """Nova's hostId: the same for a project's servers on one host, opaque."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def _json_text(doc: dict) -> str:
    return json.dumps(doc)

