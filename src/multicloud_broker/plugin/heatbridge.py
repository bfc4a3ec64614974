"""heatbridge: a completed stack's servers and their ports, recorded in the
inventory as A&AI's vservers and l-interfaces under the tenant, as ONAP's
plugin (and SO's heatbridge before it) records them:

    tenants/tenant/{tenant}/vservers/vserver/{server id}
        vserver-id, vserver-name, vserver-name2, prov-status, vserver-selflink
        .../l-interfaces/l-interface/{port name, or id if it has none}
            interface-name, interface-id, macaddr, network-name, and the
            port's addresses as l3-interface-ipv4/ipv6-address-list

The servers are the stack's OS::Nova::Server resources; their ports are
Neutron's ports of each server (device_id), so ports a server made itself
(`networks: [{network: ...}]`) are recorded too, not only the stack's
OS::Neutron::Port resources as ONAP's plugin records them.

When: the first GET of the workload that sees CREATE_COMPLETE (SO polls it
until then), not in a background thread after the create as ONAP's plugin
does: the work is bound to a call that already waits on the cloud, nothing
runs after a worker stops, and a failure is reported where the caller looks.
Each worker remembers the stacks it recorded (bounded), so later GETs cost
nothing; the writes are PUTs, so two workers recording one stack record it
once. `POST .../infra_workload/{id}` (ONAP's "update the workload in A&AI")
records it again on demand. DELETE of the workload removes the records.

A failure (A&AI down, the cloud failing a read) never costs the workload's
answer: it carries `"heatbridge": {"status": "UPDATE_FAILED", "reason": ...}`
(`DELETE_FAILED` on delete), the failure is logged, and the next GET tries
again.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections import OrderedDict
from urllib.parse import quote

from multicloud_broker.core.errors import ApiError, BadGateway
from multicloud_broker.inventory.children import RegionChildren, key, under
from multicloud_broker.plugin.openstack.sessions import RegionSession

LOG = logging.getLogger(__name__)
SERVER = "OS::Nova::Server"
REMEMBERED = 10000  # stacks a worker remembers as recorded


class Heatbridge:
    """Records stacks' servers in `children`."""

    def __init__(self, children: RegionChildren):
        self.children = children
        self._done: OrderedDict[tuple, None] = OrderedDict()
        self._lock = threading.Lock()

    def on_status(self, session: RegionSession, stack: dict, transaction_id: str) -> dict | None:
        """What heatbridge says of a stack read by a GET: recorded once it is
        CREATE_COMPLETE (None before)."""
        if stack.get("stack_status") != "CREATE_COMPLETE":
            return None
        if self._known(session, stack):
            return {"status": "UPDATE_COMPLETE"}
        return self.update(session, stack, transaction_id)

    def update(self, session: RegionSession, stack: dict, transaction_id: str) -> dict:
        """Record the stack's servers and ports now: UPDATE_COMPLETE, or
        UPDATE_FAILED with the reason."""
        try:
            self.record(session, stack, transaction_id)
        except ApiError as exc:
            return _failed("UPDATE_FAILED", session, stack, exc)
        return {"status": "UPDATE_COMPLETE"}

    def record(self, session: RegionSession, stack: dict, transaction_id: str) -> int:
        """Record the stack's servers and ports; how many servers. ApiError
        naming the cloud service or the inventory that failed."""
        tenant, docs, servers = self._documents(session, stack)
        region = session.region
        self.children.write(region.cloud_owner, region.cloud_region_id, docs,
                            _below(tenant, servers, "/l-interfaces/"), transaction_id)
        with self._lock:
            self._done[_memo(session, stack)] = None
            while len(self._done) > REMEMBERED:
                self._done.popitem(last=False)
        LOG.info("heatbridge: stack %s of cloud region %s: %d servers recorded",
                 stack.get("id"), session.name, len(servers))
        return len(servers)

    def servers_of(self, session: RegionSession, stack: dict) -> list[str]:
        """The stack's server ids (read before the stack is deleted)."""
        answer = session.call("orchestration", "GET", _stack_path(stack) + "/resources")
        if answer.status_code >= 400:
            raise BadGateway(f"cloud region {session.name}: Heat answered "
                             f"{answer.status_code} to the stack's resources")
        resources = answer.json_object().get("resources") or []
        return [r["physical_resource_id"] for r in resources
                if isinstance(r, dict) and r.get("resource_type") == SERVER
                and isinstance(r.get("physical_resource_id"), str)
                and r["physical_resource_id"]]

    def remove(self, session: RegionSession, stack: dict, servers: list[str] | ApiError,
               transaction_id: str) -> dict:
        """Remove the records of the stack's servers (as servers_of read them
        before the delete, or its error): DELETE_COMPLETE, or DELETE_FAILED
        with the reason."""
        with self._lock:
            self._done.pop(_memo(session, stack), None)
        if isinstance(servers, ApiError):
            return _failed("DELETE_FAILED", session, stack, servers)
        if not servers:
            return {"status": "DELETE_COMPLETE"}
        try:
            tenant = session.project_id()
            region = session.region
            self.children.remove(region.cloud_owner, region.cloud_region_id,
                                 _below(tenant, servers, ""), transaction_id)
        except ApiError as exc:
            return _failed("DELETE_FAILED", session, stack, exc)
        return {"status": "DELETE_COMPLETE"}

    def _known(self, session: RegionSession, stack: dict) -> bool:
        with self._lock:
            return _memo(session, stack) in self._done

    def _documents(self, session: RegionSession, stack: dict
                   ) -> tuple[str, dict[str, dict], list[str]]:
        tenant = session.project_id()
        tenant_key = key("tenants", "tenant", tenant)
        # The tenant first: A&AI takes no vserver under a tenant it lacks.
        docs = {tenant_key: {"tenant-id": tenant,
                             "tenant-name": _project_name(session) or tenant}}
        networks: dict[str, dict] = {}
        subnets: dict[str, dict] = {}
        servers = []
        for server_id in self.servers_of(session, stack):
            server = _get(session, "compute", f"/servers/{quote(server_id, safe='')}",
                          "server")
            if server is None:  # gone since Heat made it: nothing to record
                continue
            servers.append(server_id)
            server_key = tenant_key + "/" + key("vservers", "vserver", server_id)
            docs[server_key] = _vserver(server)
            ports = _get(session, "network",
                         f"/v2.0/ports?device_id={quote(server_id, safe='')}", "ports")
            for port in ports or []:
                interface = _interface(session, port, networks, subnets)
                docs[server_key + "/" + key("l-interfaces", "l-interface",
                                            interface["interface-name"])] = interface
        return tenant, docs, servers


def _vserver(server: dict) -> dict:
    selflink = next((link.get("href") for link in server.get("links") or []
                     if isinstance(link, dict) and link.get("rel") == "self"), "")
    return {"vserver-id": server["id"], "vserver-name": server.get("name") or "",
            "vserver-name2": server.get("name") or "", "prov-status": server.get("status"),
            "vserver-selflink": selflink, "in-maint": False,
            "is-closed-loop-disabled": False}


def _interface(session: RegionSession, port: dict, networks: dict, subnets: dict) -> dict:
    network_id = port.get("network_id")
    network = _cached(session, networks, "networks", network_id)
    v4, v6 = [], []
    for fixed in port.get("fixed_ips") or []:
        address = fixed.get("ip_address")
        if not isinstance(address, str):
            continue
        subnet = _cached(session, subnets, "subnets", fixed.get("subnet_id"))
        cidr = subnet.get("cidr")
        prefix = ipaddress.ip_network(cidr, strict=False).prefixlen if cidr else None
        ip = ipaddress.ip_address(address)
        name = "ipv4" if ip.version == 4 else "ipv6"
        entry = {f"l3-interface-{name}-address": address,
                 "neutron-network-id": network_id, "neutron-subnet-id": fixed.get("subnet_id"),
                 "is-floating": False}
        if prefix is not None:
            entry[f"l3-interface-{name}-prefix-length"] = prefix
        (v4 if ip.version == 4 else v6).append(entry)
    doc = {"interface-name": port.get("name") or port["id"], "interface-id": port["id"],
           "macaddr": port.get("mac_address"), "network-name": network.get("name"),
           "is-port-mirrored": False, "in-maint": False, "is-ip-unnumbered": False}
    if v4:
        doc["l3-interface-ipv4-address-list"] = v4
    if v6:
        doc["l3-interface-ipv6-address-list"] = v6
    return {k: v for k, v in doc.items() if v is not None}


def _cached(session: RegionSession, seen: dict, kind: str, ident: object) -> dict:
    """A network or subnet, read once per heatbridge run ({} if unknown)."""
    if not isinstance(ident, str):
        return {}
    if ident not in seen:
        seen[ident] = _get(session, "network", f"/v2.0/{kind}/{quote(ident, safe='')}",
                           kind[:-1]) or {}
    return seen[ident]


def _get(session: RegionSession, service: str, path: str, field: str):
    """The answer's `field`; None for a 404; 502 for another refusal."""
    answer = session.call(service, "GET", path)
    if answer.status_code == 404:
        return None
    if answer.status_code >= 400:
        raise BadGateway(f"cloud region {session.name}: {service} answered "
                         f"{answer.status_code} to GET {path.split('?')[0]}")
    return answer.json_object().get(field)


def _below(tenant: str, servers: list[str], inside: str):
    """Keys below the servers' vservers (`inside` "/l-interfaces/": only their
    interfaces; "": the vservers too)."""
    roots = [key("tenants", "tenant", tenant, "vservers", "vserver", s) for s in servers]
    if inside:
        return lambda k: any(k.startswith(root + inside) for root in roots)
    checks = [under(root) for root in roots]
    return lambda k: any(check(k) for check in checks)


def _project_name(session: RegionSession) -> str | None:
    ref = getattr(getattr(session.session, "auth", None), "auth_ref", None)
    return getattr(ref, "project_name", None)


def _stack_path(stack: dict) -> str:
    return f"/stacks/{quote(stack['stack_name'], safe='')}/{quote(stack['id'], safe='')}"


def _memo(session: RegionSession, stack: dict) -> tuple:
    return (session.name, stack.get("id"))


def _failed(status: str, session: RegionSession, stack: dict, exc: ApiError) -> dict:
    LOG.warning("heatbridge: stack %s of cloud region %s: %s (%s)", stack.get("id"),
                session.name, status, exc.message)
    return {"status": status, "reason": exc.message}
