"""The tenant-scoped resources: networks, subnets, ports, servers, flavors,
images and volumes, with the fields and rules of the MultiCloud API documents.

Every kind follows one life cycle (see `create`): validate the body (400),
answer the same-named resource with returnCode 0 if there is one, else check
the cloud's constraints (404/409/403), store it and answer returnCode 1.
"""

from __future__ import annotations

import ipaddress
import itertools
import time
from datetime import datetime, timezone

from multicloud_broker.fakecloud import fields as f
from multicloud_broker.fakecloud import usage
from multicloud_broker.fakecloud.store import Doc, new_id
from multicloud_broker.fakecloud.web import Ctx, HTTPError, bad_request, not_found

IMAGE_TYPES = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker")
VISIBILITIES = ("public", "private", "shared", "community")
NETWORK_TYPES = ("flat", "vlan", "vxlan", "gre", "portgroup")
VNIC_TYPES = ("normal", "direct", "macvtap")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def public(doc: Doc) -> Doc:
    """A stored document without its bookkeeping (keys starting with `_`)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


class Kind:
    """One resource collection, e.g. `networks`; subclasses fill in the rules."""

    name = ""
    singular = ""
    region_wide = False  # flavors and images are seen from every tenant

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        """The new document from the request body (400 on a bad field)."""
        raise NotImplementedError

    def same(self, ctx: Ctx, tenant: str, doc: Doc) -> Doc | None:
        """The resource this request would duplicate, found by name."""
        scope = None if self.region_wide else tenant
        found = ctx.store.find(ctx.region, self.name, scope, doc["name"])
        return found[0] if found else None

    def commit(self, ctx: Ctx, tenant: str, doc: Doc) -> None:
        """Cloud-side checks and effects of creating `doc` (it has its id)."""

    def release(self, ctx: Ctx, doc: Doc) -> None:
        """Checks (409) and effects of deleting `doc`."""

    def view(self, ctx: Ctx, doc: Doc) -> Doc:
        return public(doc)

    def get(self, ctx: Ctx, tenant: str, rid: str) -> Doc:
        doc = ctx.store.get(ctx.region, self.name, rid)
        if doc is None or not (self.region_wide or doc.get("tenantId") == tenant):
            raise not_found(self.singular, rid)
        return doc


def tenant_doc(ctx: Ctx, tenant: str) -> Doc:
    doc = ctx.store.get(ctx.region, "tenants", tenant)
    if doc is None:
        raise not_found("tenant", tenant)
    return doc


def find_ref(ctx: Ctx, kind: Kind, tenant: str, rid: object, field: str) -> Doc:
    """A resource a request refers to; an unknown id is a 404."""
    if not isinstance(rid, str) or not rid:
        raise bad_request(f"{field} must be a non-empty string")
    return kind.get(ctx, tenant, rid)


# -- networks -------------------------------------------------------------

class Networks(Kind):
    name, singular = "networks", "network"

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        doc: Doc = {
            "name": f.required_str(body, "name", "networkName"),
            "shared": f.as_bool(f.required(body, "shared"), "shared"),
            "status": "ACTIVE",
            "tenantId": tenant,
        }
        if body.get("networkType") is not None:
            doc["networkType"] = f.one_of(body["networkType"], "networkType", NETWORK_TYPES)
        if body.get("segmentationId") is not None:
            doc["segmentationId"] = f.as_int(body["segmentationId"], "segmentationId", 0)
        for key in ("vlanTransparent", "routerExternal"):
            if body.get(key) is not None:
                doc[key] = f.as_bool(body[key], key)
        if body.get("physicalNetwork") is not None:
            doc["physicalNetwork"] = f.optional_str(body, "physicalNetwork")
        return doc

    def release(self, ctx: Ctx, doc: Doc) -> None:
        ports = [p for p in ctx.store.find(ctx.region, "ports") if p["networkId"] == doc["id"]]
        if ports:
            raise HTTPError(409, f"network {doc['id']} is in use by {len(ports)} port(s)")
        # As in Neutron, a network without ports takes its subnets with it.
        for sub in ctx.store.find(ctx.region, "subnets"):
            if sub["networkId"] == doc["id"]:
                ctx.store.delete(ctx.region, "subnets", sub["id"])


# -- subnets --------------------------------------------------------------

class Subnets(Kind):
    name, singular = "subnets", "subnet"

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        network = find_ref(ctx, NETWORKS, tenant,
                           f.required(body, "networkId", "network_id"), "networkId")
        name = f.required_str(body, "name", "subnetName")
        version = f.as_int(f.required(body, "ipVersion"), "ipVersion")
        if version not in (4, 6):
            raise bad_request("ipVersion must be 4 or 6")
        cidr = f.required_str(body, "cidr")
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise bad_request(f"cidr {cidr!r} is not a valid network") from None
        if net.version != version:
            raise bad_request(f"cidr {cidr} is not an IPv{version} network")
        if net.num_addresses < 4:
            raise bad_request(f"cidr {cidr} is too small for a subnet")
        gateway = f.optional_str(body, "gatewayIp") or str(net[1])
        if not _is_ip(gateway) or ipaddress.ip_address(gateway) not in net:
            raise bad_request(f"gatewayIp {gateway} is not an address in {cidr}")
        pools = f.list_of_objects(body, "allocationPools") or [
            {"start": str(net[2]), "end": str(net[-2])}]
        for pool in pools:
            for end in ("start", "end"):
                if not _is_ip(pool.get(end)) or ipaddress.ip_address(pool[end]) not in net:
                    raise bad_request(f"allocationPools {end} must be an address in {cidr}")
        return {
            "name": name, "networkId": network["id"], "networkName": network["name"],
            "cidr": str(net), "ipVersion": version, "status": "ACTIVE",
            "enableDhcp": f.as_bool(body.get("enableDhcp", True), "enableDhcp"),
            "gatewayIp": gateway, "allocationPools": pools,
            "dnsNameservers": body.get("dnsNameservers") or [],
            "hostRoutes": body.get("hostRoutes") or [],
            "tenantId": tenant,
        }

    def same(self, ctx: Ctx, tenant: str, doc: Doc) -> Doc | None:
        # Subnet names repeat across networks (every network has its "subnet1").
        for sub in ctx.store.find(ctx.region, self.name, tenant, doc["name"]):
            if sub["networkId"] == doc["networkId"]:
                return sub
        return None

    def release(self, ctx: Ctx, doc: Doc) -> None:
        if any(p.get("subnetId") == doc["id"] for p in ctx.store.find(ctx.region, "ports")):
            raise HTTPError(409, f"subnet {doc['id']} has ports with addresses in it")


def _is_ip(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# -- ports ----------------------------------------------------------------

class Ports(Kind):
    name, singular = "ports", "port"

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        network = find_ref(ctx, NETWORKS, tenant,
                           f.required(body, "networkId", "network_id"), "networkId")
        doc: Doc = {
            "name": f.required_str(body, "name"),
            "networkId": network["id"], "networkName": network["name"],
            "status": "DOWN", "tenantId": tenant,
            "vnicType": f.one_of(body.get("vnicType", "normal"), "vnicType", VNIC_TYPES),
            "securityGroups": body.get("securityGroups") or [],
            "macAddress": f.optional_str(body, "macAddress"),
            "ip": f.optional_str(body, "ip"),
            "subnetId": None, "subnetName": None,
        }
        subnet_id = body.get("subnetId")
        subnets = [s for s in ctx.store.find(ctx.region, "subnets")
                   if s["networkId"] == network["id"]]
        if subnet_id is not None:
            subnet = find_ref(ctx, SUBNETS, tenant, subnet_id, "subnetId")
            if subnet["networkId"] != network["id"]:
                raise bad_request(f"subnet {subnet_id} is not in network {network['id']}")
            subnets = [subnet]
        if doc["ip"] is not None:
            if not _is_ip(doc["ip"]):
                raise bad_request(f"ip {doc['ip']!r} is not an IP address")
            subnets = [s for s in subnets
                       if ipaddress.ip_address(doc["ip"]) in ipaddress.ip_network(s["cidr"])]
            if not subnets:
                raise bad_request(f"ip {doc['ip']} is in no subnet of network {network['id']}")
        if subnets:
            doc["subnetId"], doc["subnetName"] = subnets[0]["id"], subnets[0]["name"]
        return doc

    def same(self, ctx: Ctx, tenant: str, doc: Doc) -> Doc | None:
        for port in ctx.store.find(ctx.region, self.name, tenant, doc["name"]):
            if port["networkId"] == doc["networkId"]:
                return port
        return None

    def commit(self, ctx: Ctx, tenant: str, doc: Doc) -> None:
        used = {p["ip"] for p in ctx.store.find(ctx.region, "ports")}
        if doc["ip"] is not None and doc["ip"] in used:
            raise HTTPError(409, f"ip {doc['ip']} is already in use")
        if doc["ip"] is None and doc["subnetId"] is not None:
            subnet = ctx.store.get(ctx.region, "subnets", doc["subnetId"])
            doc["ip"] = _free_ip(subnet, used)
        if doc["macAddress"] is None:
            mac = int(doc["id"].replace("-", "")[:6], 16)
            doc["macAddress"] = "fa:16:3e:" + ":".join(
                f"{(mac >> s) & 0xff:02x}" for s in (16, 8, 0))

    def release(self, ctx: Ctx, doc: Doc) -> None:
        if doc.get("_device"):
            raise HTTPError(409, f"port {doc['id']} is attached to server {doc['_device']}")

    def view(self, ctx: Ctx, doc: Doc) -> Doc:
        out = public(doc)
        out["status"] = "ACTIVE" if doc.get("_device") else "DOWN"
        out["deviceId"] = doc.get("_device") or ""
        return out


def _free_ip(subnet: Doc, used: set[str]) -> str:
    taken = used | {subnet["gatewayIp"]}
    for pool in subnet["allocationPools"]:
        start = ipaddress.ip_address(pool["start"])
        end = ipaddress.ip_address(pool["end"])
        # Bounded: at most len(taken) + 1 candidates before a free one.
        for offset in range(len(taken) + 1):
            candidate = start + offset
            if candidate > end:
                break
            if str(candidate) not in taken:
                return str(candidate)
    raise HTTPError(409, f"no free IP address left in subnet {subnet['id']}")


# -- flavors --------------------------------------------------------------

class Flavors(Kind):
    name, singular, region_wide = "flavors", "flavor", True

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        extra = body.get("extraSpecs") or {}
        if isinstance(extra, list):  # documented as a list of key/value pairs
            extra = {str(e.get("keyName", e.get("key"))): e.get("value")
                     for e in extra if isinstance(e, dict)}
        if not isinstance(extra, dict):
            raise bad_request("extraSpecs must be an object or a list of key/value pairs")
        return {
            "name": f.required_str(body, "name"),
            "vcpu": f.as_int(f.required(body, "vcpu"), "vcpu", 1),
            "memory": f.as_int(f.required(body, "memory"), "memory", 1),
            "disk": f.as_int(f.required(body, "disk"), "disk", 0),
            "ephemeral": f.as_int(body.get("ephemeral", 0), "ephemeral", 0),
            "swap": f.as_int(body.get("swap", 0), "swap", 0),
            "isPublic": f.as_bool(body.get("isPublic", True), "isPublic"),
            "extraSpecs": extra,
        }


# -- images ---------------------------------------------------------------

class Images(Kind):
    name, singular, region_wide = "images", "image", True

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        """JSON create: the cloud imports the file from `imagePath` itself."""
        doc = self.metadata(body)
        doc["imagePath"] = f.required_str(body, "imagePath")
        doc.update(status="active", size=0, checksum=None)
        return doc

    @staticmethod
    def metadata(body: Doc) -> Doc:
        props = body.get("properties") or {}
        if not isinstance(props, (dict, list)):
            raise bad_request("properties must be an object or a list")
        return {
            "name": f.required_str(body, "name", "imageName"),
            "imageType": f.one_of(f.required(body, "imageType"), "imageType", IMAGE_TYPES),
            "containerFormat": f.one_of(f.required(body, "containerFormat"),
                                        "containerFormat", CONTAINER_FORMATS),
            "visibility": f.one_of(body.get("visibility", "private"), "visibility",
                                   VISIBILITIES),
            "properties": props,
        }

    def release(self, ctx: Ctx, doc: Doc) -> None:
        users = [s["id"] for s in ctx.store.find(ctx.region, "servers")
                 if s["boot"].get("imageId") == doc["id"]]
        if users:
            raise HTTPError(409, f"image {doc['id']} is in use by server {users[0]}")


# -- volumes --------------------------------------------------------------

class Volumes(Kind):
    name, singular = "volumes", "volume"

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        doc: Doc = {
            "name": f.required_str(body, "name", "volumeName"),
            "volumeSize": f.as_int(f.required(body, "volumeSize"), "volumeSize", 1),
            "volumeType": f.optional_str(body, "volumeType"),
            "availabilityZone": f.optional_str(body, "availabilityZone", "nova"),
            "imageId": None, "tenantId": tenant, "attachments": [],
            "createTime": now_iso(),
        }
        if body.get("imageId") is not None:
            doc["imageId"] = find_ref(ctx, IMAGES, tenant, body["imageId"], "imageId")["id"]
        return doc

    def commit(self, ctx: Ctx, tenant: str, doc: Doc) -> None:
        free = usage.available(ctx)
        if doc["volumeSize"] > free.storage_gb:
            raise HTTPError(403, f"Quota exceeded: {doc['volumeSize']} GB requested, "
                                 f"{free.storage_gb} GB available")

    def release(self, ctx: Ctx, doc: Doc) -> None:
        if doc["attachments"]:
            raise HTTPError(409, f"volume {doc['id']} is attached to server "
                                 f"{doc['attachments'][0]['serverId']}")

    def view(self, ctx: Ctx, doc: Doc) -> Doc:
        out = public(doc)
        out["status"] = "in-use" if doc["attachments"] else "available"
        return out


# -- servers --------------------------------------------------------------

class Servers(Kind):
    name, singular = "servers", "server"

    def prepare(self, ctx: Ctx, tenant: str, body: Doc) -> Doc:
        name = f.required_str(body, "name")
        boot = f.required(body, "boot")
        if not isinstance(boot, dict):
            raise bad_request("boot must be an object")
        boot_type = f.as_int(f.required(boot, "type"), "boot.type")
        if boot_type == 1:
            ref = find_ref(ctx, VOLUMES, tenant, f.required(boot, "volumeId"), "boot.volumeId")
            boot = {"type": 1, "volumeId": ref["id"]}
        elif boot_type == 2:
            ref = find_ref(ctx, IMAGES, tenant, f.required(boot, "imageId"), "boot.imageId")
            boot = {"type": 2, "imageId": ref["id"]}
        else:
            raise bad_request("boot.type must be 1 (volume) or 2 (image)")
        flavor = self._flavor(ctx, tenant, body)
        nics = [{"portId": find_ref(ctx, PORTS, tenant, f.required(n, "portId"),
                                    "nicArray.portId")["id"]}
                for n in f.list_of_objects(body, "nicArray")]
        vols = [{"volumeId": find_ref(ctx, VOLUMES, tenant, f.required(v, "volumeId"),
                                      "volumeArray.volumeId")["id"]}
                for v in f.list_of_objects(body, "volumeArray")]
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, (dict, list)):
            raise bad_request("metadata must be an object")
        root_disk = flavor["disk"] if boot_type == 2 else 0
        return {
            "name": name, "boot": boot, "flavorId": flavor["id"], "nicArray": nics,
            "volumeArray": vols, "tenantId": tenant, "metadata": metadata,
            "availabilityZone": f.optional_str(body, "availabilityZone", "nova"),
            "securityGroups": body.get("securityGroups") or [],
            "serverGroup": f.optional_str(body, "serverGroup"),
            "_alloc": {"vcpus": flavor["vcpu"], "memory_mb": flavor["memory"],
                       "storage_gb": root_disk + flavor["ephemeral"]},
        }

    @staticmethod
    def _flavor(ctx: Ctx, tenant: str, body: Doc) -> Doc:
        if body.get("flavorId") is None and isinstance(body.get("flavorName"), str):
            found = ctx.store.find(ctx.region, "flavors", name=body["flavorName"])
            if not found:
                raise not_found("flavor", body["flavorName"])
            return found[0]
        return find_ref(ctx, FLAVORS, tenant, f.required(body, "flavorId"), "flavorId")

    def commit(self, ctx: Ctx, tenant: str, doc: Doc) -> None:
        usage.require(ctx, usage.Amount(doc["_alloc"]["vcpus"], doc["_alloc"]["memory_mb"],
                                        doc["_alloc"]["storage_gb"]))
        ports = [ctx.store.get(ctx.region, "ports", n["portId"]) for n in doc["nicArray"]]
        vols = [ctx.store.get(ctx.region, "volumes", v["volumeId"]) for v in doc["volumeArray"]]
        if doc["boot"]["type"] == 1:
            vols.insert(0, ctx.store.get(ctx.region, "volumes", doc["boot"]["volumeId"]))
        for port in ports:
            if port.get("_device"):
                raise HTTPError(409, f"port {port['id']} is in use by server {port['_device']}")
        for vol in vols:
            if vol["attachments"]:
                raise HTTPError(409, f"volume {vol['id']} is in use")
        for port in ports:
            port["_device"] = doc["id"]
            ctx.store.update(ctx.region, "ports", port)
        for index, vol in enumerate(vols):
            vol["attachments"] = [{"device": f"/dev/vd{chr(ord('a') + index)}",
                                   "serverId": doc["id"], "volumeId": vol["id"],
                                   "hostName": usage.COMPUTE_HOST, "id": vol["id"]}]
            ctx.store.update(ctx.region, "volumes", vol)
        doc["_ready_at"] = time.time() + ctx.settings.build_seconds
        doc["_power"] = "on"

    def release(self, ctx: Ctx, doc: Doc) -> None:
        for port in ctx.store.find(ctx.region, "ports"):
            if port.get("_device") == doc["id"]:
                port["_device"] = None
                ctx.store.update(ctx.region, "ports", port)
        for vol in ctx.store.find(ctx.region, "volumes"):
            if any(a["serverId"] == doc["id"] for a in vol["attachments"]):
                vol["attachments"] = []
                ctx.store.update(ctx.region, "volumes", vol)

    def view(self, ctx: Ctx, doc: Doc) -> Doc:
        out = public(doc)
        out["status"] = server_status(doc)
        return out


def server_status(doc: Doc) -> str:
    if time.time() < doc["_ready_at"]:
        return "BUILD"
    return "ACTIVE" if doc["_power"] == "on" else "SHUTOFF"


def server_action(ctx: Ctx, tenant: str, rid: str, body: Doc) -> None:
    """os-start / os-stop / reboot, as Nova answers them (202, or 409)."""
    server = SERVERS.get(ctx, tenant, rid)
    actions = [a for a in ("os-start", "os-stop", "reboot") if a in body]
    if len(actions) != 1:
        raise bad_request("exactly one of os-start, os-stop, reboot is required")
    status = server_status(server)
    wanted = {"os-start": "SHUTOFF", "os-stop": "ACTIVE", "reboot": "ACTIVE"}[actions[0]]
    if status != wanted and not (actions[0] == "reboot" and status == "SHUTOFF"):
        raise HTTPError(409, f"cannot {actions[0]} server {rid} while it is {status}")
    server["_power"] = "off" if actions[0] == "os-stop" else "on"
    ctx.store.update(ctx.region, "servers", server)


NETWORKS, SUBNETS, PORTS = Networks(), Subnets(), Ports()
FLAVORS, IMAGES, VOLUMES, SERVERS = Flavors(), Images(), Volumes(), Servers()
KINDS: dict[str, Kind] = {k.name: k for k in (
    NETWORKS, SUBNETS, PORTS, FLAVORS, IMAGES, VOLUMES, SERVERS)}


# -- the generic handlers ---------------------------------------------------

def create(ctx: Ctx, kind: Kind, tenant: str, doc: Doc) -> Doc:
    """Store a prepared document; the answer carries the documented returnCode."""
    with ctx.store.transaction():
        existing = kind.same(ctx, tenant, doc)
        if existing is not None:
            return {**ctx.base(tenant), **kind.view(ctx, existing), "returnCode": 0}
        doc["id"] = new_id()
        kind.commit(ctx, tenant, doc)
        ctx.store.insert(ctx.region, kind.name, "" if kind.region_wide else tenant, doc)
    return {**ctx.base(tenant), **kind.view(ctx, doc), "returnCode": 1}


def listing(ctx: Ctx, kind: Kind, tenant: str) -> Doc:
    scope = None if kind.region_wide else tenant
    docs = ctx.store.find(ctx.region, kind.name, scope, ctx.req.query.get("name"))
    docs = _page(ctx, docs)
    return {**ctx.base(tenant), kind.name: [kind.view(ctx, d) for d in docs]}


def _page(ctx: Ctx, docs: list[Doc]) -> list[Doc]:
    """`marker` (last id seen) and `limit`, as the image listing documents."""
    marker = ctx.req.query.get("marker")
    if marker is not None:
        ids = [d["id"] for d in docs]
        if marker not in ids:
            raise bad_request(f"marker {marker} is not in the list")
        docs = docs[ids.index(marker) + 1:]
    if "limit" in ctx.req.query:
        docs = list(itertools.islice(docs, f.as_int(ctx.req.query["limit"], "limit", 0)))
    return docs


def show(ctx: Ctx, kind: Kind, tenant: str, rid: str) -> Doc:
    return {**ctx.base(tenant), **kind.view(ctx, kind.get(ctx, tenant, rid))}


def remove(ctx: Ctx, kind: Kind, tenant: str, rid: str) -> None:
    with ctx.store.transaction():
        doc = kind.get(ctx, tenant, rid)
        kind.release(ctx, doc)
        ctx.store.delete(ctx.region, kind.name, rid)
