"""Neutron (network, v2.0): networks, subnets with fixed IPs allocated from
their CIDR, ports, floating IPs on external networks (no routers needed), a
default security group per project, quotas.

Catalog URL ``{root}/network``; clients append ``/v2.0``. Errors are
``{"NeutronError": {"type", "message", "detail"}}``. provider:* and
binding:* (but binding:vnic_type) are shown to and set by admins only, as
Neutron's default policy has it.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from multicloud_broker.simulators.openstack.service import Service
from multicloud_broker.simulators.openstack.state import iso
from multicloud_broker.simulators.openstack.web import (
    ApiError, Request, Response, new_id, page)

ADMIN_ONLY = ("provider:network_type", "provider:physical_network",
              "provider:segmentation_id", "binding:host_id", "binding:profile",
              "binding:vif_details", "binding:vif_type")
# Only what the simulator answers: a client that finds an alias here may use it.
EXTENSIONS = (
    ("allowed-address-pairs", "Allowed Address Pairs"),
    ("availability_zone", "Availability Zone"), ("binding", "Port Binding"),
    ("external-net", "Neutron external network"), ("extra_dhcp_opt", "Neutron Extra DHCP options"),
    ("net-mtu", "Network MTU"),
    ("network_availability_zone", "Network Availability Zone"),
    ("pagination", "Pagination support"), ("port-security", "Port Security"),
    ("project-id", "project_id field enabled"), ("provider", "Provider Network"),
    ("quotas", "Quota management support"), ("quota_details", "Quota details extension"),
    ("security-group", "security-group"), ("sorting", "Sorting support"),
    ("standard-attr-description", "standard-attr-description"),
    ("standard-attr-revisions", "Resource revision numbers"),
    ("standard-attr-timestamp", "Resource timestamps"),
)
COLLECTIONS = {"network": "networks", "subnet": "subnets", "port": "ports",
               "security_group": "security-groups", "floatingip": "floatingips"}
PAGING_ARGS = {"limit", "marker", "page_reverse", "sort_key", "sort_dir", "fields",
               "fixed_ips", "tags", "tags-any", "not-tags", "not-tags-any"}

NETWORK_FIELDS = {"name", "admin_state_up", "shared", "router:external", "description", "mtu",
                  "port_security_enabled", "availability_zone_hints", "tenant_id", "project_id",
                  "provider:network_type", "provider:physical_network",
                  "provider:segmentation_id", "is_default", "dns_domain", "qos_policy_id",
                  "tags"}
SUBNET_FIELDS = {"name", "network_id", "ip_version", "cidr", "gateway_ip", "allocation_pools",
                 "enable_dhcp", "dns_nameservers", "host_routes", "description", "tenant_id",
                 "project_id", "ipv6_ra_mode", "ipv6_address_mode", "subnetpool_id",
                 "service_types", "segment_id", "tags", "use_default_subnetpool"}
PORT_FIELDS = {"name", "network_id", "admin_state_up", "mac_address", "fixed_ips",
               "device_id", "device_owner", "security_groups", "allowed_address_pairs",
               "extra_dhcp_opts", "description", "tenant_id", "project_id",
               "port_security_enabled", "binding:host_id", "binding:vnic_type",
               "binding:profile", "qos_policy_id", "dns_name", "tags",
               "propagate_uplink_status"}


class Network(Service):
    name = "network"
    prefix = "/network"

    def __init__(self, cloud):
        super().__init__(cloud)
        self._segment = 1000
        self._macs: set[str] = set()
        self.seed()

    # -- tables ---------------------------------------------------------------

    @property
    def networks(self) -> dict[str, dict]:
        return self.store.table("networks")

    @property
    def subnets(self) -> dict[str, dict]:
        return self.store.table("subnets")

    @property
    def ports(self) -> dict[str, dict]:
        return self.store.table("ports")

    @property
    def security_groups(self) -> dict[str, dict]:
        return self.store.table("security_groups")

    @property
    def floating_ips(self) -> dict[str, dict]:
        return self.store.table("floating_ips")

    @property
    def quotas(self) -> dict[str, dict]:
        return self.store.table("network_quotas")

    def seed(self) -> None:
        """The external network devstack makes: `public`, 172.24.4.0/24."""
        self._macs = set()
        owner = self.cloud.admin_project_id
        net = self._new_network(owner, {"name": "public", "router:external": True,
                                        "provider:network_type": "flat",
                                        "provider:physical_network": "public",
                                        "is_default": True, "mtu": 1500})
        self._new_subnet(owner, {"name": "public-subnet", "network_id": net["id"],
                                 "ip_version": 4, "cidr": "172.24.4.0/24",
                                 "enable_dhcp": False})

    # -- routes -------------------------------------------------------------

    def routes(self) -> None:
        add = self.router.add
        add("GET", "", self.versions, public=True)
        add("GET", "/", self.versions, public=True)
        add("GET", "/v2.0", self.resources)
        add("GET", "/v2.0/", self.resources)
        add("GET", "/v2.0/extensions", self.extensions)
        add("GET", "/v2.0/extensions/{alias}", self.extension)
        for kind, collection in COLLECTIONS.items():
            add("GET", f"/v2.0/{collection}", self._lister(kind))
            add("GET", f"/v2.0/{collection}/{{item_id}}", self._shower(kind))
        add("POST", "/v2.0/networks", self.create_networks)
        add("PUT", "/v2.0/networks/{item_id}", self.update_network)
        add("DELETE", "/v2.0/networks/{item_id}", self.delete_network)
        add("POST", "/v2.0/subnets", self.create_subnets)
        add("PUT", "/v2.0/subnets/{item_id}", self.update_subnet)
        add("DELETE", "/v2.0/subnets/{item_id}", self.delete_subnet)
        add("POST", "/v2.0/ports", self.create_ports)
        add("PUT", "/v2.0/ports/{item_id}", self.update_port)
        add("DELETE", "/v2.0/ports/{item_id}", self.delete_port)
        add("POST", "/v2.0/floatingips", self.create_floating_ip)
        add("PUT", "/v2.0/floatingips/{item_id}", self.update_floating_ip)
        add("DELETE", "/v2.0/floatingips/{item_id}", self.delete_floating_ip)
        add("GET", "/v2.0/routers", self.empty_list("routers"))
        add("GET", "/v2.0/availability_zones", self.availability_zones)
        add("GET", "/v2.0/quotas/{project_id}", self.show_quota)
        add("GET", "/v2.0/quotas/{project_id}/details", self.show_quota_details)
        add("PUT", "/v2.0/quotas/{project_id}", self.update_quota)
        add("DELETE", "/v2.0/quotas/{project_id}", self.reset_quota)

    def error(self, request: Request, err: ApiError) -> Response:
        kind = err.kind or {400: "HTTPBadRequest", 403: "HTTPForbidden", 404: "HTTPNotFound",
                            405: "HTTPMethodNotAllowed", 409: "HTTPConflict",
                            413: "HTTPRequestEntityTooLarge", 503: "HTTPServiceUnavailable"
                            }.get(err.status, "HTTPInternalServerError")
        return Response.json(err.status, {"NeutronError": {"type": kind, "message": err.message,
                                                           "detail": ""}}, err.headers)

    def versions(self, request: Request) -> Response:
        return Response.json(200, {"versions": [
            {"id": "v2.0", "status": "CURRENT",
             "links": [{"href": request.url("/v2.0/"), "rel": "self"}]}]})

    def resources(self, request: Request) -> Response:
        return Response.json(200, {"resources": [
            {"name": kind, "collection": collection,
             "links": [{"href": request.url(f"/v2.0/{collection}"), "rel": "self"}]}
            for kind, collection in COLLECTIONS.items()]})

    def extensions(self, request: Request) -> Response:
        return Response.json(200, {"extensions": [self._extension(a, n) for a, n in EXTENSIONS]})

    def extension(self, request: Request) -> Response:
        for alias, name in EXTENSIONS:
            if alias == request.params["alias"]:
                return Response.json(200, {"extension": self._extension(alias, name)})
        raise ApiError(404, f"Extension with alias {request.params['alias']} does not exist",
                       "ExtensionNotFound")

    @staticmethod
    def _extension(alias: str, name: str) -> dict:
        return {"alias": alias, "name": name, "description": name,
                "updated": "2013-01-01T10:00:00-00:00", "links": []}

    def availability_zones(self, request: Request) -> Response:
        zones = [{"name": zone, "resource": resource, "state": "available"}
                 for zone in self.store.config.availability_zones[:1]
                 for resource in ("network", "router")]
        return Response.json(200, {"availability_zones": zones})

    def empty_list(self, collection: str):
        def handler(request: Request) -> Response:
            return Response.json(200, {collection: []})
        return handler

    # -- visibility -----------------------------------------------------------

    def can_see(self, ctx, kind: str, record: dict) -> bool:
        if ctx.is_admin or record["project_id"] == ctx.project_id:
            return True
        if kind == "network":
            return record["shared"] or record["router:external"]
        if kind == "subnet":
            net = self.networks.get(record["network_id"])
            return net is not None and (net["shared"] or net["router:external"])
        return False

    def table_of(self, kind: str) -> dict[str, dict]:
        return {"network": self.networks, "subnet": self.subnets, "port": self.ports,
                "security_group": self.security_groups, "floatingip": self.floating_ips}[kind]

    def get(self, ctx, kind: str, item_id: str) -> dict:
        """A record the context may see, or Neutron's 404."""
        if kind == "security_group":
            self.default_security_group(ctx.project_id)
        record = self.table_of(kind).get(item_id)
        if record is None or not self.can_see(ctx, kind, record):
            label = {"floatingip": "FloatingIP"}.get(
                kind, kind.replace("_", " ").title().replace(" ", ""))
            raise ApiError(404, f"{label} {item_id} could not be found.", f"{label}NotFound")
        return record

    def owned(self, ctx, kind: str, item_id: str) -> dict:
        """A record the context may change (its own; an admin: any)."""
        record = self.get(ctx, kind, item_id)
        if not (ctx.is_admin or record["project_id"] == ctx.project_id):
            raise ApiError(403, f"(rule:update_{kind} or rule:delete_{kind}) is disallowed by "
                                "policy", "PolicyNotAuthorized")
        return record

    def render(self, ctx, record: dict, fields: list[str] | None = None) -> dict:
        doc = {key: value for key, value in record.items() if not key.startswith("_")}
        if not ctx.is_admin:
            for key in ADMIN_ONLY:
                doc.pop(key, None)
        if fields:
            doc = {key: value for key, value in doc.items() if key in fields}
        return doc

    # -- listing ----------------------------------------------------------------

    def _lister(self, kind: str):
        def handler(request: Request) -> Response:
            return self.list_records(request, kind)
        return handler

    def _shower(self, kind: str):
        def handler(request: Request) -> Response:
            record = self.get(request.ctx, kind, request.params["item_id"])
            return Response.json(200, {kind: self.render(request.ctx, record,
                                                         request.args("fields"))})
        return handler

    def list_records(self, request: Request, kind: str) -> Response:
        ctx = request.ctx
        if kind == "security_group":
            self.default_security_group(ctx.project_id)
        records = [r for r in self.table_of(kind).values() if self.can_see(ctx, kind, r)]
        records = [r for r in records if self._matches(request, r)]
        sort_keys = request.args("sort_key")
        directions = request.args("sort_dir")
        reverse = bool(directions) and directions[0].lower() == "desc"
        if sort_keys:
            def key(record):
                return tuple(_sortable(record.get(k)) for k in sort_keys) + (record["id"],)
            records.sort(key=key, reverse=reverse)
        else:
            records.sort(key=lambda r: r["_seq"])
        limit = request.int_arg("limit", None, minimum=0) or None
        marker = request.arg("marker")
        if request.arg("page_reverse", "").lower() == "true":
            records.reverse()
        chunk, found, more = page(records, marker, limit)
        if not found:
            raise ApiError(404, f"Marker {marker} could not be found.", "HTTPNotFound")
        collection = COLLECTIONS[kind]
        doc: dict[str, Any] = {collection.replace("-", "_"):
                               [self.render(ctx, r, request.args("fields")) for r in chunk]}
        if limit:
            links = []
            base = {k: v for k, v in request.query.items() if k not in ("marker", "page_reverse")}
            if more and chunk:
                links.append({"rel": "next", "href": request.url(
                    f"/v2.0/{collection}", {**base, "marker": chunk[-1]["id"]})})
            if marker and chunk:
                links.append({"rel": "previous", "href": request.url(
                    f"/v2.0/{collection}", {**base, "marker": chunk[0]["id"],
                                            "page_reverse": "True"})})
            doc[f"{collection.replace('-', '_')}_links"] = links
        return Response.json(200, doc)

    @staticmethod
    def _matches(request: Request, record: dict) -> bool:
        for name, wanted in request.query.items():
            if name in PAGING_ARGS:
                continue
            if name not in record:
                continue
            value = record[name]
            if isinstance(value, list):
                if not any(_same(item, w) for item in value for w in wanted):
                    return False
            elif not any(_same(value, w) for w in wanted):
                return False
        for spec in request.args("fixed_ips"):
            key, _, wanted = spec.partition("=")
            if not any(str(ip.get(key)) == wanted for ip in record.get("fixed_ips", ())):
                return False
        return True

    # -- networks -------------------------------------------------------------

    def _bodies(self, request: Request, kind: str) -> tuple[list[dict], bool]:
        doc = request.json_object()
        plural = COLLECTIONS[kind]
        if isinstance(doc.get(plural), list):
            bodies = doc[plural]
            if not all(isinstance(b, dict) for b in bodies):
                raise ApiError(400, f"Invalid input: each of '{plural}' must be an object",
                               "HTTPBadRequest")
            return bodies, True
        if isinstance(doc.get(kind), dict):
            return [doc[kind]], False
        raise ApiError(400, f"Resource body required: '{kind}'", "HTTPBadRequest")

    def _check_fields(self, ctx, body: dict, allowed: set[str], kind: str, creating: bool) -> None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise ApiError(400, "Unrecognized attribute(s) '" + ", ".join(unknown) + "'",
                           "HTTPBadRequest")
        restricted = [key for key in body if key in ADMIN_ONLY or key in ("router:external",
                                                                          "shared")
                      or (key in ("tenant_id", "project_id") and body[key] != ctx.project_id)]
        if restricted and not ctx.is_admin:
            action = "create" if creating else "update"
            raise ApiError(403, f"(rule:{action}_{kind} and rule:{action}_{kind}:"
                                f"{restricted[0]}) is disallowed by policy",
                           "PolicyNotAuthorized")

    def _owner(self, ctx, body: dict) -> str:
        return body.get("project_id") or body.get("tenant_id") or ctx.project_id

    def create_networks(self, request: Request) -> Response:
        bodies, bulk = self._bodies(request, "network")
        created = []
        for body in bodies:
            self._check_fields(request.ctx, body, NETWORK_FIELDS, "network", True)
        self._check_quota(self._owner(request.ctx, bodies[0]) if bodies else "", "network",
                          len(bodies))
        for body in bodies:
            created.append(self._new_network(self._owner(request.ctx, body), body))
        docs = [self.render(request.ctx, n) for n in created]
        return Response.json(201, {"networks": docs} if bulk else {"network": docs[0]})

    def create_network(self, ctx, body: dict) -> dict:
        """Create a network for `ctx` from a Neutron request body (Heat uses it)."""
        self._check_fields(ctx, body, NETWORK_FIELDS, "network", True)
        self._check_quota(self._owner(ctx, body), "network", 1)
        return self._new_network(self._owner(ctx, body), body)

    def _new_network(self, owner: str, body: dict) -> dict:
        now = iso(self.store.now())
        net_type = body.get("provider:network_type", "vxlan")
        segment = body.get("provider:segmentation_id")
        if segment is None and net_type in ("vxlan", "geneve", "vlan", "gre"):
            self._segment += 1
            segment = self._segment
        name = body.get("name", "")
        if not isinstance(name, str) or len(name) > 255:
            raise ApiError(400, "Invalid input for name. Reason: not a string of at most 255 "
                                "characters.", "HTTPBadRequest")
        record = {
            "id": new_id(), "name": name, "tenant_id": owner, "project_id": owner,
            "admin_state_up": _bool(body.get("admin_state_up", True), "admin_state_up"),
            "mtu": int(body.get("mtu", 1450 if net_type in ("vxlan", "geneve") else 1500)),
            "status": "ACTIVE", "subnets": [],
            "shared": _bool(body.get("shared", False), "shared"),
            "availability_zone_hints": list(body.get("availability_zone_hints", [])),
            "availability_zones": list(self.store.config.availability_zones[:1]),
            "ipv4_address_scope": None, "ipv6_address_scope": None,
            "router:external": _bool(body.get("router:external", False), "router:external"),
            "description": body.get("description", ""),
            "port_security_enabled": _bool(body.get("port_security_enabled", True),
                                           "port_security_enabled"),
            "qos_policy_id": body.get("qos_policy_id"), "is_default": bool(body.get("is_default",
                                                                                 False)),
            "dns_domain": body.get("dns_domain", ""), "l2_adjacency": True,
            "tags": list(body.get("tags", [])), "created_at": now, "updated_at": now,
            "revision_number": 1, "provider:network_type": net_type,
            "provider:physical_network": body.get("provider:physical_network"),
            "provider:segmentation_id": segment, "_seq": self.store.seq(),
        }
        self.networks[record["id"]] = record
        return record

    def update_network(self, request: Request) -> Response:
        record = self.owned(request.ctx, "network", request.params["item_id"])
        body = request.json_object("network")
        self._check_fields(request.ctx, body, NETWORK_FIELDS - {"tenant_id", "project_id"},
                           "network", False)
        for key in ("admin_state_up", "shared", "router:external", "port_security_enabled"):
            if key in body:
                body[key] = _bool(body[key], key)
        self._touch(record, body)
        return Response.json(200, {"network": self.render(request.ctx, record)})

    def delete_network(self, request: Request) -> Response:
        record = self.owned(request.ctx, "network", request.params["item_id"])
        self.remove_network(record["id"])
        return Response.empty(204)

    def remove_network(self, net_id: str) -> None:
        """Delete a network and its subnets; 409 while ports other than the
        network's own use it."""
        in_use = [p for p in self.ports.values() if p["network_id"] == net_id
                  and not p["device_owner"].startswith("network:")]
        in_use += [f for f in self.floating_ips.values() if f["floating_network_id"] == net_id]
        if in_use:
            raise ApiError(409, f"Unable to complete operation on network {net_id}. There are "
                                "one or more ports still in use on the network.",
                           "NetworkInUse")
        for port in [p for p in self.ports.values() if p["network_id"] == net_id]:
            self._drop_port(port)
        for subnet_id in list(self.networks[net_id]["subnets"]):
            self.subnets.pop(subnet_id, None)
        del self.networks[net_id]

    # -- subnets ----------------------------------------------------------------

    def create_subnets(self, request: Request) -> Response:
        return self._create_each(request, "subnet", SUBNET_FIELDS, self.create_subnet)

    def _create_each(self, request: Request, kind: str, fields, create) -> Response:
        """POST of one `kind` or of a bulk list: every body checked first."""
        bodies, bulk = self._bodies(request, kind)
        for body in bodies:
            self._check_fields(request.ctx, body, fields, kind, True)
        docs = [self.render(request.ctx, create(request.ctx, body)) for body in bodies]
        return Response.json(201, {f"{kind}s": docs} if bulk else {kind: docs[0]})

    def _usable_network(self, ctx, body: dict) -> dict:
        """The network a new subnet or port names (400 without one, 404 if not usable)."""
        net_id = body.get("network_id")
        if not isinstance(net_id, str):
            raise ApiError(400, "Invalid input for operation: 'network_id' is required.",
                           "HTTPBadRequest")
        net = self.get(ctx, "network", net_id)
        if not (ctx.is_admin or net["project_id"] == ctx.project_id or net["shared"]):
            raise ApiError(404, f"Network {net_id} could not be found.", "NetworkNotFound")
        return net

    def create_subnet(self, ctx, body: dict) -> dict:
        """Create a subnet for `ctx` from a Neutron request body (Heat uses it)."""
        self._check_fields(ctx, body, SUBNET_FIELDS, "subnet", True)
        self._usable_network(ctx, body)
        owner = self._owner(ctx, body)
        self._check_quota(owner, "subnet", 1)
        return self._new_subnet(owner, body)

    def _new_subnet(self, owner: str, body: dict) -> dict:
        net = self.networks[body["network_id"]]
        version = body.get("ip_version")
        if version not in (4, 6, "4", "6"):
            raise ApiError(400, "Invalid input for ip_version. Reason: "
                                f"{version!r} is not in [4, 6].", "HTTPBadRequest")
        version = int(version)
        try:
            cidr = ipaddress.ip_network(str(body.get("cidr")), strict=True)
        except ValueError:
            raise ApiError(400, f"Invalid input for cidr. Reason: '{body.get('cidr')}' is not "
                                "a valid IP subnet.", "HTTPBadRequest") from None
        if cidr.version != version:
            raise ApiError(400, "Invalid input for operation: ip_version and cidr do not "
                                "match.", "HTTPBadRequest")
        for other_id in net["subnets"]:
            other = ipaddress.ip_network(self.subnets[other_id]["cidr"])
            if other.version == cidr.version and other.overlaps(cidr):
                raise ApiError(400, f"Invalid input for operation: Requested subnet with cidr: "
                                    f"{cidr} for network: {net['id']} overlaps with another "
                                    "subnet.", "InvalidInput")
        gateway = body.get("gateway_ip", "default")
        if gateway == "default":
            gateway = str(cidr.network_address + 1) if cidr.num_addresses > 2 else None
        elif gateway is not None:
            gateway = self._address_in(cidr, gateway, "gateway_ip")
        pools = body.get("allocation_pools")
        if pools:
            parsed = []
            for pool in pools:
                start = ipaddress.ip_address(self._address_in(cidr, pool.get("start"), "start"))
                end = ipaddress.ip_address(self._address_in(cidr, pool.get("end"), "end"))
                if end < start:
                    raise ApiError(400, f"Invalid input for operation: The allocation pool "
                                        f"{start}-{end} spans beyond the subnet.",
                                   "InvalidInput")
                parsed.append((start, end))
        else:
            parsed = _default_pools(cidr, gateway)
        now = iso(self.store.now())
        record = {
            "id": new_id(), "name": body.get("name", ""), "network_id": net["id"],
            "tenant_id": owner, "project_id": owner, "ip_version": version,
            "cidr": str(cidr), "gateway_ip": gateway,
            "allocation_pools": [{"start": str(s), "end": str(e)} for s, e in parsed],
            "enable_dhcp": _bool(body.get("enable_dhcp", True), "enable_dhcp"),
            "dns_nameservers": list(body.get("dns_nameservers", [])),
            "host_routes": list(body.get("host_routes", [])),
            "ipv6_ra_mode": body.get("ipv6_ra_mode"),
            "ipv6_address_mode": body.get("ipv6_address_mode"),
            "subnetpool_id": None, "service_types": list(body.get("service_types", [])),
            "segment_id": None, "description": body.get("description", ""),
            "tags": list(body.get("tags", [])), "created_at": now, "updated_at": now,
            "revision_number": 0, "_seq": self.store.seq(), "_pools": parsed, "_used": set(),
        }
        self.subnets[record["id"]] = record
        net["subnets"].append(record["id"])
        self._touch(net, {})
        return record

    @staticmethod
    def _address_in(cidr, text: Any, field: str) -> str:
        try:
            address = ipaddress.ip_address(str(text))
        except ValueError:
            raise ApiError(400, f"Invalid input for {field}. Reason: '{text}' is not a valid IP "
                                "address.", "HTTPBadRequest") from None
        if address not in cidr:
            raise ApiError(400, f"Invalid input for operation: {field} {text} is not in subnet "
                                f"{cidr}.", "InvalidInput")
        return str(address)

    def update_subnet(self, request: Request) -> Response:
        record = self.owned(request.ctx, "subnet", request.params["item_id"])
        body = request.json_object("subnet")
        fixed = {"network_id", "ip_version", "cidr", "tenant_id", "project_id"}
        self._check_fields(request.ctx, body, SUBNET_FIELDS - fixed, "subnet", False)
        self._touch(record, {k: v for k, v in body.items() if k != "allocation_pools"})
        return Response.json(200, {"subnet": self.render(request.ctx, record)})

    def delete_subnet(self, request: Request) -> Response:
        record = self.owned(request.ctx, "subnet", request.params["item_id"])
        self.remove_subnet(record["id"])
        return Response.empty(204)

    # -- floating IPs ---------------------------------------------------------------

    def create_floating_ip(self, request: Request) -> Response:
        ctx = request.ctx
        body = request.json_object("floatingip")
        unknown = sorted(set(body) - {"floating_network_id", "port_id", "fixed_ip_address",
                                      "floating_ip_address", "description", "tenant_id",
                                      "project_id", "subnet_id", "dns_name", "dns_domain",
                                      "qos_policy_id", "tags"})
        if unknown:
            raise ApiError(400, "Unrecognized attribute(s) '" + ", ".join(unknown) + "'",
                           "HTTPBadRequest")
        net_id = body.get("floating_network_id")
        net = self.networks.get(net_id) if isinstance(net_id, str) else None
        if net is None or not self.can_see(ctx, "network", net):
            raise ApiError(404, f"Network {net_id} could not be found.", "NetworkNotFound")
        if not net["router:external"]:
            raise ApiError(400, f"Bad floatingip request: Network {net_id} is not a valid "
                                "external network.", "BadRequest")
        owner = self._owner(ctx, body)
        self._check_quota(owner, "floatingip", 1)
        subnets = [self.subnets[s] for s in net["subnets"]
                   if self.subnets[s]["ip_version"] == 4
                   and body.get("subnet_id") in (None, s)]
        if not subnets:
            raise ApiError(400, f"Bad floatingip request: Network {net_id} has no IPv4 "
                                "subnet.", "BadRequest")
        address = self._take_address(subnets[0], body.get("floating_ip_address"), net_id)
        now = iso(self.store.now())
        record = {"id": new_id(), "floating_ip_address": address, "floating_network_id": net_id,
                  "router_id": None, "port_id": None, "fixed_ip_address": None,
                  "status": "DOWN", "tenant_id": owner, "project_id": owner,
                  "description": body.get("description", ""), "dns_domain": "",
                  "dns_name": "", "qos_policy_id": None, "port_forwardings": [],
                  "tags": list(body.get("tags", [])), "created_at": now, "updated_at": now,
                  "revision_number": 0, "_seq": self.store.seq(), "_subnet": subnets[0]["id"]}
        try:
            self._associate(ctx, record, body.get("port_id"), body.get("fixed_ip_address"))
        except ApiError:
            subnets[0]["_used"].discard(address)
            raise
        self.floating_ips[record["id"]] = record
        return Response.json(201, {"floatingip": self.render(ctx, record)})

    def _associate(self, ctx, record: dict, port_id: Any, fixed_ip: Any) -> None:
        if port_id is None:
            record.update(port_id=None, fixed_ip_address=None, router_id=None, status="DOWN")
            return
        port = self.ports.get(str(port_id))
        if port is None or not (ctx.is_admin or port["project_id"] == ctx.project_id):
            raise ApiError(404, f"Port {port_id} could not be found.", "PortNotFound")
        v4 = [ip["ip_address"] for ip in port["fixed_ips"]
              if ipaddress.ip_address(ip["ip_address"]).version == 4]
        if fixed_ip is None:
            if not v4:
                raise ApiError(400, f"Bad floatingip request: Port {port_id} does not have "
                                    "any IPv4 address.", "BadRequest")
            fixed_ip = v4[0]
        elif fixed_ip not in v4:
            raise ApiError(400, f"Bad floatingip request: Port {port_id} does not have fixed "
                                f"ip {fixed_ip}.", "BadRequest")
        for other in self.floating_ips.values():
            if other is not record and other["port_id"] == port["id"] \
                    and other["fixed_ip_address"] == fixed_ip:
                raise ApiError(409, f"Cannot associate floating IP "
                                    f"{record['floating_ip_address']} with port {port_id} "
                                    f"using fixed IP {fixed_ip}, as that fixed IP already has "
                                    "a floating IP on external network "
                                    f"{other['floating_network_id']}.",
                               "FloatingIPPortAlreadyAssociated")
        record.update(port_id=port["id"], fixed_ip_address=fixed_ip, status="ACTIVE")

    def update_floating_ip(self, request: Request) -> Response:
        record = self.owned(request.ctx, "floatingip", request.params["item_id"])
        body = request.json_object("floatingip")
        if "port_id" in body:
            self._associate(request.ctx, record, body["port_id"], body.get("fixed_ip_address"))
        if "description" in body:
            record["description"] = body["description"]
        self._touch(record, {})
        return Response.json(200, {"floatingip": self.render(request.ctx, record)})

    def delete_floating_ip(self, request: Request) -> Response:
        record = self.owned(request.ctx, "floatingip", request.params["item_id"])
        self._drop_floating_ip(record)
        return Response.empty(204)

    def _drop_floating_ip(self, record: dict) -> None:
        subnet = self.subnets.get(record["_subnet"])
        if subnet is not None:
            subnet["_used"].discard(record["floating_ip_address"])
        self.floating_ips.pop(record["id"], None)

    def remove_subnet(self, subnet_id: str) -> None:
        record = self.subnets[subnet_id]
        if any(ip["subnet_id"] == subnet_id for p in self.ports.values()
               for ip in p["fixed_ips"]):
            raise ApiError(409, f"Unable to complete operation on subnet {subnet_id}: One or "
                                "more ports have an IP allocation from this subnet.",
                           "SubnetInUse")
        del self.subnets[subnet_id]
        net = self.networks.get(record["network_id"])
        if net is not None and subnet_id in net["subnets"]:
            net["subnets"].remove(subnet_id)

    # -- ports --------------------------------------------------------------------

    def create_ports(self, request: Request) -> Response:
        return self._create_each(request, "port", PORT_FIELDS, self.create_port)

    def create_port(self, ctx, body: dict) -> dict:
        """Create a port for `ctx` from a Neutron request body (Nova and Heat use it)."""
        self._check_fields(ctx, body, PORT_FIELDS, "port", True)
        net = self._usable_network(ctx, body)
        net_id = net["id"]
        owner = self._owner(ctx, body)
        self._check_quota(owner, "port", 1)
        mac = body.get("mac_address")
        if mac is None:
            mac = self._new_mac()
        else:
            mac = str(mac).lower()
            if any(p["mac_address"] == mac and p["network_id"] == net_id
                   for p in self.ports.values()):
                raise ApiError(409, f"Unable to complete operation for network {net_id}. The "
                                    f"mac address {mac} is in use.", "MacAddressInUse")
            self._macs.add(mac)
        fixed_ips = self._allocate(net, body.get("fixed_ips"))
        now = iso(self.store.now())
        groups = body.get("security_groups")
        if groups is None:
            groups = [self.default_security_group(owner)["id"]]
        device_id = body.get("device_id", "")
        record = {
            "id": new_id(), "name": body.get("name", ""), "network_id": net_id,
            "tenant_id": owner, "project_id": owner, "mac_address": mac,
            "admin_state_up": _bool(body.get("admin_state_up", True), "admin_state_up"),
            "status": "DOWN", "device_id": device_id,
            "device_owner": body.get("device_owner", ""), "fixed_ips": fixed_ips,
            "allowed_address_pairs": list(body.get("allowed_address_pairs", [])),
            "extra_dhcp_opts": list(body.get("extra_dhcp_opts", [])),
            "security_groups": list(groups), "description": body.get("description", ""),
            "port_security_enabled": _bool(body.get("port_security_enabled",
                                                    net["port_security_enabled"]),
                                           "port_security_enabled"),
            "binding:host_id": body.get("binding:host_id", ""),
            "binding:vnic_type": body.get("binding:vnic_type", "normal"),
            "binding:profile": body.get("binding:profile", {}),
            "binding:vif_type": "unbound", "binding:vif_details": {},
            "qos_policy_id": body.get("qos_policy_id"), "dns_name": body.get("dns_name", ""),
            "dns_assignment": [], "propagate_uplink_status": False,
            "tags": list(body.get("tags", [])), "created_at": now, "updated_at": now,
            "revision_number": 1, "_seq": self.store.seq(),
        }
        self.ports[record["id"]] = record
        return record

    def _allocate(self, net: dict, requested: Any) -> list[dict]:
        subnets = [self.subnets[s] for s in net["subnets"]]
        if requested is None:
            v4 = [s for s in subnets if s["ip_version"] == 4]
            v6 = [s for s in subnets if s["ip_version"] == 6]
            wanted = [{"subnet_id": s["id"]} for s in v4[:1] + v6]
        elif isinstance(requested, list) and all(isinstance(r, dict) for r in requested):
            wanted = requested
        else:
            raise ApiError(400, "Invalid input for fixed_ips. Reason: not a list of objects.",
                           "HTTPBadRequest")
        result: list[dict] = []
        try:
            for want in wanted:
                subnet = self._subnet_for(net, subnets, want)
                address = self._take_address(subnet, want.get("ip_address"), net["id"])
                result.append({"subnet_id": subnet["id"], "ip_address": address})
        except ApiError:
            self._release(result)
            raise
        return result

    def _subnet_for(self, net: dict, subnets: list[dict], want: dict) -> dict:
        subnet_id = want.get("subnet_id")
        if subnet_id is not None:
            for subnet in subnets:
                if subnet["id"] == subnet_id:
                    return subnet
            raise ApiError(400, f"Invalid input for operation: Failed to create port on "
                                f"network {net['id']}, because fixed_ips included invalid "
                                f"subnet {subnet_id}.", "InvalidInput")
        address = want.get("ip_address")
        if address is None:
            raise ApiError(400, "Invalid input for operation: Exactly one of subnet_id or "
                                "ip_address is needed in fixed_ips.", "InvalidInput")
        for subnet in subnets:
            try:
                if ipaddress.ip_address(str(address)) in ipaddress.ip_network(subnet["cidr"]):
                    return subnet
            except ValueError:
                break
        raise ApiError(400, f"Invalid input for operation: IP address {address} is not a valid "
                            f"IP for any subnet on network {net['id']}.", "InvalidIpForNetwork")

    def _take_address(self, subnet: dict, wanted: Any, net_id: str) -> str:
        used = subnet["_used"]
        if wanted is not None:
            try:
                address = ipaddress.ip_address(str(wanted))
            except ValueError:
                raise ApiError(400, f"Invalid input for ip_address. Reason: '{wanted}' is not a "
                                    "valid IP address.", "HTTPBadRequest") from None
            if address not in ipaddress.ip_network(subnet["cidr"]):
                raise ApiError(400, f"IP address {wanted} is not a valid IP for the specified "
                                    "subnet.", "InvalidIpForSubnet")
            text = str(address)
            if text in used or text == subnet["gateway_ip"]:
                raise ApiError(409, f"IP address {text} already allocated in subnet "
                                    f"{subnet['id']}", "IpAddressAlreadyAllocated")
            used.add(text)
            return text
        for start, end in subnet["_pools"]:
            candidate = start
            while candidate <= end:
                text = str(candidate)
                if text not in used:
                    used.add(text)
                    return text
                candidate += 1
        raise ApiError(409, f"No more IP addresses available on network {net_id}.",
                       "IpAddressGenerationFailure")

    def _release(self, fixed_ips: list[dict]) -> None:
        for ip in fixed_ips:
            subnet = self.subnets.get(ip["subnet_id"])
            if subnet is not None:
                subnet["_used"].discard(ip["ip_address"])

    def _new_mac(self) -> str:
        while True:
            mac = "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
            if mac not in self._macs:
                self._macs.add(mac)
                return mac

    def update_port(self, request: Request) -> Response:
        record = self.owned(request.ctx, "port", request.params["item_id"])
        body = request.json_object("port")
        fixed = {"network_id", "tenant_id", "project_id", "mac_address"}
        self._check_fields(request.ctx, body, PORT_FIELDS - fixed, "port", False)
        if "fixed_ips" in body:
            net = self.networks[record["network_id"]]
            old = record["fixed_ips"]
            self._release(old)
            try:
                record["fixed_ips"] = self._allocate(net, body.pop("fixed_ips"))
            except ApiError:
                for ip in old:
                    self.subnets[ip["subnet_id"]]["_used"].add(ip["ip_address"])
                raise
        self._touch(record, body)
        return Response.json(200, {"port": self.render(request.ctx, record)})

    def delete_port(self, request: Request) -> Response:
        record = self.owned(request.ctx, "port", request.params["item_id"])
        self._drop_port(record)
        return Response.empty(204)

    def _drop_port(self, record: dict) -> None:
        for fip in self.floating_ips.values():
            if fip["port_id"] == record["id"]:
                fip.update(port_id=None, fixed_ip_address=None, status="DOWN")
        self._release(record["fixed_ips"])
        self._macs.discard(record["mac_address"])
        self.ports.pop(record["id"], None)
        if record["device_id"]:
            self.cloud.compute.port_deleted(record["device_id"], record["id"])

    def remove_port(self, port_id: str) -> None:
        record = self.ports.get(port_id)
        if record is not None:
            self._drop_port(record)

    # -- ports as Nova uses them ------------------------------------------------

    def bind_port(self, port: dict, server_id: str, host: str, owner: str) -> None:
        port.update({"device_id": server_id, "device_owner": owner, "binding:host_id": host,
                     "binding:vif_type": "ovs",
                     "binding:vif_details": {"port_filter": True, "connectivity": "l2"}})
        self._touch(port, {})

    def unbind_port(self, port: dict) -> None:
        port.update({"device_id": "", "device_owner": "", "binding:host_id": "",
                     "binding:vif_type": "unbound", "binding:vif_details": {},
                     "status": "DOWN"})
        self._touch(port, {})

    def set_port_status(self, port_id: str, status: str) -> None:
        port = self.ports.get(port_id)
        if port is not None and port["status"] != status:
            self._touch(port, {"status": status})

    def _touch(self, record: dict, changes: dict) -> None:
        record.update(changes)
        record["updated_at"] = iso(self.store.now())
        record["revision_number"] = record.get("revision_number", 0) + 1

    # -- security groups ----------------------------------------------------------

    def default_security_group(self, project_id: str) -> dict:
        for group in self.security_groups.values():
            if group["project_id"] == project_id and group["name"] == "default":
                return group
        now = iso(self.store.now())
        group_id = new_id()
        rules = [{"id": new_id(), "direction": direction, "ethertype": ethertype,
                  "protocol": None, "port_range_min": None, "port_range_max": None,
                  "remote_ip_prefix": None,
                  "remote_group_id": group_id if direction == "ingress" else None,
                  "security_group_id": group_id, "tenant_id": project_id,
                  "project_id": project_id, "description": "", "created_at": now,
                  "updated_at": now, "revision_number": 0}
                 for direction in ("ingress", "egress") for ethertype in ("IPv4", "IPv6")]
        group = {"id": group_id, "name": "default", "description": "Default security group",
                 "tenant_id": project_id, "project_id": project_id, "stateful": True,
                 "shared": False,
                 "security_group_rules": rules, "tags": [], "created_at": now,
                 "updated_at": now, "revision_number": 1, "_seq": self.store.seq()}
        self.security_groups[group_id] = group
        return group

    # -- quotas -------------------------------------------------------------------

    def quota_of(self, project_id: str) -> dict[str, int]:
        return {**self.store.config.network_quota, **self.quotas.get(project_id, {})}

    def _usage(self, project_id: str) -> dict[str, int]:
        return {"floatingip": sum(f["project_id"] == project_id
                                  for f in self.floating_ips.values()),
                "network": sum(n["project_id"] == project_id for n in self.networks.values()),
                "subnet": sum(s["project_id"] == project_id for s in self.subnets.values()),
                "port": sum(p["project_id"] == project_id for p in self.ports.values()),
                "security_group": sum(g["project_id"] == project_id
                                      for g in self.security_groups.values())}

    def _check_quota(self, project_id: str, resource: str, count: int) -> None:
        limit = self.quota_of(project_id).get(resource, -1)
        if limit >= 0 and self._usage(project_id)[resource] + count > limit:
            raise ApiError(409, f"Quota exceeded for resources: ['{resource}'].", "OverQuota")

    def _quota_access(self, request: Request) -> str:
        project_id = request.params["project_id"]
        if project_id != request.ctx.project_id and not request.ctx.is_admin:
            raise ApiError(403, "(rule:get_quota) is disallowed by policy", "PolicyNotAuthorized")
        return project_id

    def show_quota(self, request: Request) -> Response:
        return Response.json(200, {"quota": self.quota_of(self._quota_access(request))})

    def show_quota_details(self, request: Request) -> Response:
        project_id = self._quota_access(request)
        usage = self._usage(project_id)
        return Response.json(200, {"quota": {
            name: {"limit": limit, "used": usage.get(name, 0), "reserved": 0}
            for name, limit in self.quota_of(project_id).items()}})

    def update_quota(self, request: Request) -> Response:
        self.require_admin(request, "update_quota")
        body = request.json_object("quota")
        known = self.store.config.network_quota
        for name, value in body.items():
            if name not in known or isinstance(value, bool) or not isinstance(value, int) \
                    or value < -1:
                raise ApiError(400, f"Invalid input for {name}.", "HTTPBadRequest")
        self.quotas.setdefault(request.params["project_id"], {}).update(body)
        return Response.json(200, {"quota": self.quota_of(request.params["project_id"])})

    def reset_quota(self, request: Request) -> Response:
        self.require_admin(request, "delete_quota")
        self.quotas.pop(request.params["project_id"], None)
        return Response.empty(204)

    # -- for the other services ---------------------------------------------------

    def addresses_of(self, port_ids: list[str]) -> dict[str, list[dict]]:
        """Nova's `addresses` for a server's ports: {network name: [...]}."""
        addresses: dict[str, list[dict]] = {}
        for port_id in port_ids:
            port = self.ports.get(port_id)
            if port is None:
                continue
            net = self.networks.get(port["network_id"], {})
            entries = addresses.setdefault(net.get("name") or port["network_id"], [])
            for ip in port["fixed_ips"]:
                entries.append({"version": ipaddress.ip_address(ip["ip_address"]).version,
                                "addr": ip["ip_address"], "OS-EXT-IPS:type": "fixed",
                                "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
            for fip in self.floating_ips.values():
                if fip["port_id"] == port_id:
                    entries.append({"version": 4, "addr": fip["floating_ip_address"],
                                    "OS-EXT-IPS:type": "floating",
                                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
        return addresses


def _default_pools(cidr, gateway: str | None) -> list[tuple]:
    if cidr.num_addresses <= 2:
        return []
    first = cidr.network_address + 1
    last = cidr.broadcast_address - 1 if cidr.version == 4 else cidr.broadcast_address
    gw = ipaddress.ip_address(gateway) if gateway else None
    if gw == first:
        first += 1
    elif gw == last:
        last -= 1
    elif gw is not None and first < gw < last:
        return [(first, gw - 1), (gw + 1, last)]
    return [(first, last)] if first <= last else []


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ApiError(400, f"Invalid input for {name}. Reason: '{value}' is not a valid boolean "
                        "value.", "HTTPBadRequest")


def _same(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() in (("true", "1") if value else ("false", "0"))
    return str(value) == wanted if value is not None else wanted in ("", "None")


def _sortable(value: Any) -> tuple:
    return (value is None, str(value) if value is not None else "")
