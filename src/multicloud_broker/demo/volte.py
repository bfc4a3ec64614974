"""`multicloud-broker demo volte`: deploy and remove a VoLTE service through
the broker, the way a VNF manager does, printing each step and its outcome.

API v0 drives the cloud resource by resource (networks, subnets, ports, data
volumes, servers); API v1 deploys the same topology as one infra_workload (a
Heat stack). The first failure ends the run with a non-zero exit status,
after removing what was already created; whatever could not be removed is
listed, and `--remove RUN-ID` tries again later.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, TextIO

from multicloud_broker.demo.client import Api, Failure, Steps, field, items, message

POLL_SECONDS = 0.25

# The VoLTE service: an IMS core (vIMS) and an EPC (vEPC) on three networks.
NETWORKS = (("mgmt", "10.10.0.0/24"), ("signaling", "10.10.1.0/24"),
            ("media", "10.10.2.0/24"))
# name, networks it has a port on, (vCPUs, memory MB) it needs
VMS = (("vims-pcscf", ("mgmt", "signaling", "media"), (2, 4096)),
       ("vims-scscf", ("mgmt", "signaling"), (2, 4096)),
       ("vims-hss", ("mgmt", "signaling"), (1, 2048)),
       ("vepc-mme", ("mgmt", "signaling"), (2, 4096)),
       ("vepc-spgw", ("mgmt", "signaling", "media"), (4, 8192)))
# Data volumes (GB) of the VMs that keep state: the HSS's subscriber
# database, the SPGW's charging records.
DATA_VOLUMES = {"vims-hss": 1, "vepc-spgw": 2}
# What a run makes, by kind: the tests and the bench check the cloud against it.
MADE = {"networks": len(NETWORKS), "subnets": len(NETWORKS),
        "ports": sum(len(roles) for _, roles, _ in VMS), "volumes": len(DATA_VOLUMES),
        "servers": len(VMS)}
RUN_ID = re.compile(r"^volte-[0-9a-f]{6}$")
# Removal order: what uses a thing goes before it.
REMOVAL_ORDER = ("servers", "volumes", "ports", "subnets", "networks")


@dataclass
class Options:
    api: str
    broker: str
    prefix: str
    owner: str
    region: str
    timeout: float
    username: str = "admin"
    password: str = ""
    project: str = "admin"
    keep: bool = False

    @property
    def vimid(self) -> str:
        return f"{self.owner}_{self.region}"

    @property
    def scope(self) -> str:
        """The region part of a path: v0 {owner}_{region}, v1 {owner}/{region}."""
        if self.api == "v0":
            return f"v0/{self.vimid}"
        return f"v1/{self.owner}/{self.region}"

    @property
    def via_broker(self) -> bool:
        """False when --api-prefix points the demo straight at a plugin."""
        return self.prefix == "multicloud"


# -- the steps shared by both API versions -------------------------------------

def get_token(api: Api, opts: Options) -> str:
    """A token of the user in the project, as OpenStack's clients get one."""
    domain = {"name": "Default"}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": opts.username, "domain": domain, "password": opts.password}}},
        "scope": {"project": {"name": opts.project, "domain": domain}}}}
    answer = api.call("POST", f"{opts.scope}/identity/v3/auth/tokens", body, expect=(200, 201))
    token = answer.headers.get("X-Subject-Token")
    if not token:
        raise Failure("the token answer has no X-Subject-Token header")
    api.token = token
    catalog = (answer.body.get("token") or {}).get("catalog") \
        if isinstance(answer.body, dict) else None
    for service in catalog or []:
        for endpoint in service.get("endpoints") or []:
            if endpoint.get("interface") == "public":
                api.endpoints[service.get("type")] = str(endpoint.get("url", "")).rstrip("/")
    return token


def pick_tenant(api: Api, opts: Options) -> dict[str, Any]:
    """The tenant named by --os-project-name."""
    tenants = items(api.call("GET", f"{opts.scope}/tenants").body, "tenants")
    for tenant in tenants:
        if tenant.get("name") == opts.project:
            return tenant
    names = ", ".join(str(t.get("name")) for t in tenants) or "none"
    raise Failure(f"project {opts.project} is not a tenant of {opts.vimid} (tenants: {names})")


def pick_flavors(api: Api, opts: Options, tenant: str) -> dict[str, dict[str, Any]]:
    """The smallest flavor meeting each VM's needs, by VM name."""
    flavors = items(api.call("GET", f"{opts.scope}/{tenant}/flavors").body, "flavors")
    chosen = {}
    for name, _, (vcpus, memory) in VMS:
        fitting = [fl for fl in flavors
                   if fl.get("vcpu", 0) >= vcpus and fl.get("memory", 0) >= memory]
        if not fitting:
            raise Failure(f"no flavor has {vcpus} vCPUs and {memory} MB for {name}")
        chosen[name] = min(fitting, key=lambda fl: (fl["vcpu"], fl["memory"], fl.get("disk", 0)))
    return chosen


def pick_image(api: Api, opts: Options, tenant: str) -> dict[str, Any]:
    images = [i for i in items(api.call("GET", f"{opts.scope}/{tenant}/images").body, "images")
              if str(i.get("status", "")).lower() == "active"]
    if not images:
        raise Failure("the cloud region has no active image")
    preferred = [i for i in images if "ubuntu" in i.get("name", "").lower()]
    return (preferred or images)[0]


def prepare(api: Api, opts: Options,
            steps: Steps) -> tuple[str, dict[str, dict[str, Any]], dict[str, Any]]:
    tenant = login(api, opts, steps)
    flavors = steps.run("pick flavors", lambda: pick_flavors(api, opts, tenant),
                        lambda chosen: ", ".join(f"{vm}={fl['name']}"
                                                 for vm, fl in chosen.items()))
    image = steps.run("pick an image", lambda: pick_image(api, opts, tenant),
                      lambda img: f"{img.get('name')} ({img['id']})")
    return tenant, flavors, image


def login(api: Api, opts: Options, steps: Steps) -> str:
    """Token and tenant: the id of the project the user named."""
    steps.run(f"get a token from {opts.vimid} as {opts.username} in {opts.project}",
              lambda: get_token(api, opts), lambda token: f"token {token[:8]}...")
    return steps.run("list tenants and pick the project", lambda: pick_tenant(api, opts),
                     lambda t: f"tenant {t.get('name')} ({t['id']})")["id"]


def check_capacity(api: Api, opts: Options, steps: Steps,
                   flavors: dict[str, dict[str, Any]]) -> None:
    """Is there room for one more VoLTE service? Asked of the broker (which
    asks every listed VIM) and of the VIM directly."""
    need = {"vCPU": sum(fl["vcpu"] for fl in flavors.values()),
            "Memory": sum(fl["memory"] for fl in flavors.values()) / 1024,
            "Storage": sum(fl.get("disk", 0) for fl in flavors.values())
            + sum(DATA_VOLUMES.values())}
    what = f"{need['vCPU']} vCPUs, {need['Memory']:g} GB memory, {need['Storage']} GB disk"
    if opts.via_broker:
        vims = ([opts.vimid] if opts.api == "v0"
                else [{"cloud-owner": opts.owner, "cloud-region-id": opts.region}])
        steps.run(f"broker check_vim_capacity for another VoLTE service ({what})",
                  lambda: api.call("POST", f"{opts.api}/check_vim_capacity",
                                   {**need, "VIMs": vims}).body,
                  lambda body: "room" if items(body, "VIMs") else "no room")
    steps.run(f"VIM capacity_check for another VoLTE service ({what})",
              lambda: api.call("POST", f"{opts.scope}/capacity_check", need).body,
              _capacity_outcome)


def _capacity_outcome(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("result"), bool):
        raise Failure(f"capacity_check answered without a result: {json.dumps(body)[:200]}")
    return "room" if body["result"] else "no room"


def server_fault(api: Api, server_id: str) -> str:
    """Nova's own reason for a server in ERROR, asked through the broker's
    service proxy with the user's token ("" if it cannot be had)."""
    compute = api.endpoints.get("compute")
    if not compute:
        return ""
    try:
        body = api.call_url("GET", f"{compute}/servers/{server_id}").body
    except Failure:
        return ""
    fault = ((body or {}).get("server") or {}).get("fault") if isinstance(body, dict) else None
    return str(fault.get("message", "")) if isinstance(fault, dict) else ""


def wait_until(opts: Options, what: str, done: Any) -> float:
    """Poll `done()` until true; seconds taken, or a Failure after --timeout."""
    start = time.monotonic()
    deadline = start + opts.timeout
    while not done():
        if time.monotonic() >= deadline:
            raise Failure(f"{what} after {opts.timeout:g} s")
        time.sleep(POLL_SECONDS)
    return time.monotonic() - start


def report_left(steps: Steps, left: list[str], remove_hint: str) -> Failure | None:
    """List what could not be removed; the Failure that says so, if any."""
    if not left:
        return None
    steps.say(f"could not remove {len(left)} resource(s):")
    for line in left:
        steps.say(f"  - {line}")
    return Failure(f"{len(left)} resource(s) left behind; try again later with: {remove_hint}")


# -- API v0: resource by resource ---------------------------------------------

@dataclass
class Created:
    kind: str
    id: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind[:-1]} {self.name} ({self.id})"


class V0Deployment:
    def __init__(self, api: Api, opts: Options, steps: Steps, run_id: str) -> None:
        self.api, self.opts, self.steps, self.run_id = api, opts, steps, run_id
        self.created: list[Created] = []

    def path(self, tenant: str, kind: str, rid: str = "") -> str:
        return f"{self.opts.scope}/{tenant}/{kind}" + (f"/{rid}" if rid else "")

    def create(self, tenant: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.api.call("POST", self.path(tenant, kind), body, expect=(200, 201, 202))
        doc = answer.body if isinstance(answer.body, dict) else {}
        if not doc.get("id"):
            raise Failure(f"creating {kind} answered without an id: {message(doc)}")
        self.created.append(Created(kind, doc["id"], body["name"]))
        return doc

    def deploy(self, tenant: str, flavors: dict[str, dict[str, Any]],
               image: dict[str, Any]) -> None:
        nets = self.make_networks(tenant)
        ports = self.make_ports(tenant, nets)
        volumes = self.make_volumes(tenant)
        servers = []
        for vm, _, _ in VMS:
            name = f"{self.run_id}-{vm}"
            body = {"name": name, "flavorId": flavors[vm]["id"],
                    "boot": {"type": 2, "imageId": image["id"]},
                    "nicArray": [{"portId": p} for p in ports[vm]]}
            extra = ""
            if vm in volumes:  # attached by the plugin once the server is ACTIVE
                body["volumeArray"] = [{"volumeId": volumes[vm]}]
                extra = ", 1 volume"
            server = self.steps.run(
                f"boot server {name} ({flavors[vm]['name']}, {len(ports[vm])} ports{extra})",
                lambda: self.create(tenant, "servers", body), _created)
            servers.append(Created("servers", server["id"], name))
        self.steps.run(f"wait until the {len(servers)} servers are ACTIVE",
                       lambda: self.wait_active(tenant, servers),
                       lambda secs: f"all ACTIVE after {secs:.1f} s")

    def make_networks(self, tenant: str) -> dict[str, str]:
        nets: dict[str, str] = {}
        for role, cidr in NETWORKS:
            name = f"{self.run_id}-{role}"
            net = self.steps.run(f"create network {name}", lambda: self.create(
                tenant, "networks", {"name": name, "shared": False, "networkType": "vxlan"}),
                _created)
            nets[role] = net["id"]
            self.steps.run(f"create subnet {name}-subnet {cidr}", lambda: self.create(
                tenant, "subnets", {"name": f"{name}-subnet", "networkId": net["id"],
                                    "cidr": cidr, "ipVersion": 4, "enableDhcp": True}),
                _created)
        return nets

    def make_ports(self, tenant: str, nets: dict[str, str]) -> dict[str, list[str]]:
        ports: dict[str, list[str]] = {}
        for vm, roles, _ in VMS:
            for role in roles:
                name = f"{self.run_id}-{vm}-{role}"
                port = self.steps.run(f"create port {name}", lambda: self.create(
                    tenant, "ports", {"name": name, "networkId": nets[role]}),
                    lambda doc: f"{_created(doc)}, ip {doc.get('ip')}")
                ports.setdefault(vm, []).append(port["id"])
        return ports

    def make_volumes(self, tenant: str) -> dict[str, str]:
        """The data volumes, available: by VM name, their ids."""
        volumes = {}
        for vm, size in DATA_VOLUMES.items():
            name = f"{self.run_id}-{vm}-data"
            volume = self.steps.run(f"create volume {name} ({size} GB)", lambda: self.create(
                tenant, "volumes", {"name": name, "volumeSize": size}), _created)
            volumes[vm] = Created("volumes", volume["id"], name)
        self.steps.run(f"wait until the {len(volumes)} volumes are available",
                       lambda: self.wait_available(tenant, list(volumes.values())),
                       lambda secs: f"all available after {secs:.1f} s")
        return {vm: v.id for vm, v in volumes.items()}

    def status(self, tenant: str, item: Created) -> str:
        return str(field(self.api.call("GET", self.path(tenant, item.kind, item.id)).body,
                         "status"))

    def wait_active(self, tenant: str, servers: list[Created]) -> float:
        pending = list(servers)

        def done() -> bool:
            for server in list(pending):
                status = self.status(tenant, server)
                if status == "ERROR":
                    reason = server_fault(self.api, server.id)
                    raise Failure(f"server {server.name} ({server.id}) went to ERROR"
                                  + (f": {reason}" if reason else ""))
                if status == "ACTIVE":
                    pending.remove(server)
            return not pending
        return wait_until(self.opts, f"{len(servers)} server(s) not ACTIVE", done)

    def wait_available(self, tenant: str, volumes: list[Created]) -> float:
        pending = list(volumes)

        def done() -> bool:
            for volume in list(pending):
                status = self.status(tenant, volume)
                if status.startswith("error"):
                    raise Failure(f"volume {volume.name} ({volume.id}) went to {status}")
                if status == "available":
                    pending.remove(volume)
            return not pending
        return wait_until(self.opts, f"{len(volumes)} volume(s) not available", done)

    def teardown(self, tenant: str) -> list[str]:
        """Delete what was created, newest first (servers, volumes, ports,
        subnets, networks), going on past failures; what is left, one line each."""
        left = []
        while self.created:
            item = self.created.pop()
            try:
                self.steps.run(f"delete {item.kind[:-1]} {item.name}",
                               lambda: self.delete(tenant, item))
            except Failure as exc:
                left.append(f"{item}: {exc}")
        return left

    def delete(self, tenant: str, item: Created) -> None:
        path = self.path(tenant, item.kind, item.id)
        if self.api.call("DELETE", path, expect=(200, 202, 204, 404)).status == 404:
            return  # already gone (the plugin removes a server it could not finish)
        if item.kind in ("servers", "volumes"):  # what uses them is busy until they go
            wait_until(self.opts, f"{item.kind[:-1]} {item.id} still exists",
                       lambda: self.api.call("GET", path, expect=(200, 404)).status == 404)


def _created(doc: dict[str, Any]) -> str:
    verb = "already existed" if doc.get("returnCode") == 0 else "created"
    return f"{verb}, id {doc['id']}"


def run_v0(api: Api, opts: Options, steps: Steps, run_id: str) -> None:
    tenant, flavors, image = prepare(api, opts, steps)
    deployment = V0Deployment(api, opts, steps, run_id)
    failure = None
    try:
        deployment.deploy(tenant, flavors, image)
        check_capacity(api, opts, steps, flavors)
    except Failure as exc:
        failure = exc
        steps.say("removing what was created so far ...")
    if opts.keep and failure is None:
        return
    left = report_left(steps, deployment.teardown(tenant), remove_command(opts, run_id))
    if failure is not None or left is not None:
        raise failure or left  # type: ignore[misc]


def remove_command(opts: Options, run_id: str) -> str:
    return (f"multicloud-broker demo volte --api {opts.api} --cloud-owner {opts.owner} "
            f"--cloud-region-id {opts.region} --remove {run_id}")


# -- API v1: one infra_workload -------------------------------------------------

def heat_template(run_id: str, flavors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The VoLTE topology as a Heat template (JSON form)."""
    res: dict[str, Any] = {}
    for role, cidr in NETWORKS:
        res[f"{role}_net"] = {"type": "OS::Neutron::Net",
                              "properties": {"name": f"{run_id}-{role}"}}
        res[f"{role}_subnet"] = {"type": "OS::Neutron::Subnet", "properties": {
            "name": f"{run_id}-{role}-subnet", "network": {"get_resource": f"{role}_net"},
            "cidr": cidr, "ip_version": 4}}
    for vm, roles, _ in VMS:
        key = vm.replace("-", "_")
        for role in roles:
            # The subnet named: the port gets its address, and goes before it.
            res[f"{key}_{role}_port"] = {"type": "OS::Neutron::Port", "properties": {
                "name": f"{run_id}-{vm}-{role}", "network": {"get_resource": f"{role}_net"},
                "fixed_ips": [{"subnet": {"get_resource": f"{role}_subnet"}}]}}
        server = {"name": f"{run_id}-{vm}", "flavor": flavors[vm]["name"],
                  "image": {"get_param": "image"},
                  "networks": [{"port": {"get_resource": f"{key}_{r}_port"}} for r in roles]}
        if vm in DATA_VOLUMES:
            res[f"{key}_data"] = {"type": "OS::Cinder::Volume", "properties": {
                "name": f"{run_id}-{vm}-data", "size": DATA_VOLUMES[vm]}}
            server["block_device_mapping_v2"] = [{
                "volume_id": {"get_resource": f"{key}_data"}, "boot_index": -1,
                "delete_on_termination": False}]
        res[key] = {"type": "OS::Nova::Server", "properties": server}
    return {"heat_template_version": "2016-10-14",
            "description": "VoLTE service: vIMS and vEPC",
            "parameters": {"image": {"type": "string"}}, "resources": res}


def run_v1(api: Api, opts: Options, steps: Steps, run_id: str) -> None:
    _, flavors, image = prepare(api, opts, steps)
    body = {"template_type": "heat", "template_data": {
        "stack_name": run_id, "template": heat_template(run_id, flavors),
        "parameters": {"image": image["name"]}, "timeout_mins": 10}}
    base = f"{opts.scope}/infra_workload"
    made = ", ".join(f"{n} {kind}" for kind, n in MADE.items() if kind != "subnets")
    workload = steps.run(f"create infra_workload {run_id} ({made})",
                         lambda: _workload_id(api.call("POST", base, body,
                                                       expect=(200, 201, 202)).body),
                         lambda wid: f"workload {wid}")
    failure = None
    try:
        steps.run("wait until the workload is CREATE_COMPLETE",
                  lambda: wait_workload(api, opts, f"{base}/{workload}"),
                  lambda secs: f"CREATE_COMPLETE after {secs:.1f} s")
        check_capacity(api, opts, steps, flavors)
    except Failure as exc:
        failure = exc
        steps.say("removing the workload ...")
    if opts.keep and failure is None:
        return
    left = report_left(steps, remove_workload(api, opts, steps, f"{base}/{workload}", run_id),
                       remove_command(opts, run_id))
    if failure is not None or left is not None:
        raise failure or left  # type: ignore[misc]


def remove_workload(api: Api, opts: Options, steps: Steps, path: str, name: str) -> list[str]:
    """Delete the workload and wait until it is gone; what is left, if anything."""
    try:
        steps.run(f"delete infra_workload {name}",
                  lambda: api.call("DELETE", path, expect=(200, 202, 204, 404)))
        steps.run("wait until the workload is gone", lambda: wait_workload_gone(api, opts, path),
                  lambda secs: f"gone after {secs:.1f} s")
    except Failure as exc:
        return [f"workload {name} ({path.rsplit('/', 1)[-1]}): {exc}"]
    return []


def _workload_id(body: Any) -> str:
    if not isinstance(body, dict) or not body.get("workload_id"):
        raise Failure(f"the workload answer has no workload_id: {message(body)}")
    return str(body["workload_id"])


def wait_workload(api: Api, opts: Options, path: str) -> float:
    last: list[Any] = [None]

    def done() -> bool:
        answer = api.call("GET", path).body
        status = last[0] = field(answer, "workload_status")
        if str(status).endswith("_FAILED"):
            reason = field(answer, "workload_status_reason")
            if isinstance(reason, dict):  # a Heat stack: say why, not all of it
                reason = reason.get("stack_status_reason", reason)
            raise Failure(f"the workload is {status}: {json.dumps(reason)[:300]}")
        return status == "CREATE_COMPLETE"
    try:
        return wait_until(opts, "the workload is not CREATE_COMPLETE", done)
    except Failure as exc:
        if str(exc).startswith("the workload is not"):
            raise Failure(f"the workload is still {last[0]} after {opts.timeout:g} s") from None
        raise


def wait_workload_gone(api: Api, opts: Options, path: str) -> float:
    last: list[Any] = [None]

    def done() -> bool:
        answer = api.call("GET", path, expect=(200, 404))
        if answer.status == 404:
            return True
        last[0] = field(answer.body, "workload_status")
        if last[0] == "DELETE_FAILED":
            reason = field(answer.body, "workload_status_reason")
            if isinstance(reason, dict):
                reason = reason.get("stack_status_reason", reason)
            raise Failure(f"the workload is DELETE_FAILED: {json.dumps(reason)[:300]}")
        return last[0] == "DELETE_COMPLETE"
    try:
        return wait_until(opts, "still there", done)
    except Failure as exc:
        if str(exc).startswith("still there"):
            raise Failure(f"the workload still exists ({last[0]}) after "
                          f"{opts.timeout:g} s") from None
        raise


# -- removing a run later -------------------------------------------------------

def remove_run(api: Api, opts: Options, steps: Steps, run_id: str) -> None:
    """Remove what a run left: its workload (the stack named after it) and
    every resource named after it, in removal order."""
    tenant = login(api, opts, steps)
    base = f"{opts.scope}/infra_workload"
    left = []
    if api.call("GET", f"{base}?name={run_id}", expect=(200, 404)).status == 200:
        left += remove_workload(api, opts, steps, f"{base}/{run_id}", run_id)
    sweep = V0Deployment(api, opts, steps, run_id)
    for kind in reversed(REMOVAL_ORDER):  # teardown takes them from the end
        listed = items(api.call("GET", sweep.path(tenant, kind)).body, kind)
        sweep.created += [Created(kind, str(x["id"]), str(x.get("name")))
                          for x in listed if str(x.get("name", "")).startswith(run_id + "-")]
    steps.say(f"found {len(sweep.created)} resource(s) named {run_id}-*")
    failure = report_left(steps, left + sweep.teardown(tenant), remove_command(opts, run_id))
    if failure is not None:
        raise failure


# -- command line ---------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multicloud-broker demo volte",
        description="Deploy a VoLTE service (vIMS + vEPC) through the broker and "
                    "remove it again, printing every step.")
    parser.add_argument("--api", choices=("v0", "v1"), default="v0",
                        help="v0: resource by resource; v1: one infra_workload")
    parser.add_argument("--broker", default="http://127.0.0.1:9001",
                        help="the broker's base URL")
    parser.add_argument("--cloud-owner", default="demo")
    parser.add_argument("--cloud-region-id", default="RegionOne")
    parser.add_argument("--os-username", default=os.environ.get("OS_USERNAME") or "admin",
                        help="the cloud user (default: $OS_USERNAME, else admin)")
    parser.add_argument("--os-password-env", default="OS_PASSWORD", metavar="NAME",
                        help="the environment variable holding the user's password "
                             "(default OS_PASSWORD)")
    parser.add_argument("--os-project-name",
                        default=os.environ.get("OS_PROJECT_NAME") or "admin",
                        help="the project (tenant) to deploy in (default: $OS_PROJECT_NAME, "
                             "else admin); user and project are in domain Default")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for servers, volumes or the workload to be "
                             "made or gone, and for each answer")
    parser.add_argument("--keep", action="store_true",
                        help="deploy and check, but do not remove (see --remove)")
    parser.add_argument("--remove", metavar="RUN-ID",
                        help="only remove what the run RUN-ID (volte-xxxxxx) left")
    # Talk to a plugin directly (e.g. multicloud-ocata): broker-only steps are skipped.
    parser.add_argument("--api-prefix", default="multicloud", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    if "_" in args.cloud_owner:
        print("volte demo: --cloud-owner must not contain '_'", file=sys.stderr)
        return 2
    password = os.environ.get(args.os_password_env, "")
    if not password:
        print(f"volte demo: no password: set the environment variable {args.os_password_env} "
              "(or name another with --os-password-env)", file=sys.stderr)
        return 2
    if args.remove is not None and not RUN_ID.match(args.remove):
        print(f"volte demo: --remove takes a run id as the demo prints it (volte- and 6 hex "
              f"digits), not {args.remove!r}", file=sys.stderr)
        return 2
    opts = Options(args.api, args.broker, args.api_prefix, args.cloud_owner,
                   args.cloud_region_id, args.timeout, args.os_username, password,
                   args.os_project_name, args.keep)
    run_id = args.remove or f"volte-{uuid.uuid4().hex[:6]}"
    doing = "removal" if args.remove else "demo"
    print(f"VoLTE {doing} {run_id}: API {opts.api} via {opts.broker}/api/{opts.prefix}/, "
          f"cloud region {opts.owner}/{opts.region}", file=out, flush=True)
    api = Api(opts.broker, opts.prefix, opts.timeout)
    steps = Steps(out)
    try:
        if args.remove:
            remove_run(api, opts, steps, run_id)
        else:
            (run_v0 if opts.api == "v0" else run_v1)(api, opts, steps, run_id)
    except Failure as exc:
        print(f"volte {doing} failed: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"volte {doing} interrupted: {run_id} may be left; remove it with: "
              f"{remove_command(opts, run_id)}", file=sys.stderr)
        return 130
    except (KeyError, TypeError, ValueError) as exc:  # an answer of an unexpected shape
        print(f"volte {doing} failed: unexpected answer ({type(exc).__name__}: {exc})",
              file=sys.stderr, flush=True)
        return 1
    if args.remove:
        done = "removed"
    elif opts.keep:
        done = f"deployed and checked, kept; remove it with: {remove_command(opts, run_id)}"
    else:
        done = "deployed, checked and removed"
    print(f"VoLTE {doing} {run_id}: {done} ({steps.count} steps; {api.calls} calls, "
          f"answered in {api.waited:.2f} s)", file=out, flush=True)
    return 0


if __name__ == "__main__":
    from multicloud_broker.logs import setup_plain_logging
    setup_plain_logging()
    sys.exit(main())
