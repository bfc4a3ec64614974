"""`multicloud-broker demo volte`: deploy and remove a VoLTE service through
the broker, the way a VNF manager does, printing each step and its outcome.

API v0 drives the cloud resource by resource (networks, subnets, ports,
servers); API v1 deploys the same topology as one infra_workload (a Heat
stack).  The first failure ends the run with a non-zero exit status, after a
best-effort removal of what was already created.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import urllib3

POLL_SECONDS = 0.5

# The VoLTE service: an IMS core (vIMS) and an EPC (vEPC) on three networks.
NETWORKS = (("mgmt", "10.10.0.0/24"), ("signaling", "10.10.1.0/24"),
            ("media", "10.10.2.0/24"))
# name, networks it has a port on, (vCPUs, memory MB) it needs
VMS = (("vims-pcscf", ("mgmt", "signaling", "media"), (2, 4096)),
       ("vims-scscf", ("mgmt", "signaling"), (2, 4096)),
       ("vims-hss", ("mgmt", "signaling"), (1, 2048)),
       ("vepc-mme", ("mgmt", "signaling"), (2, 4096)),
       ("vepc-spgw", ("mgmt", "signaling", "media"), (4, 8192)))


class Failure(Exception):
    """A step did not do what it should; the message says what and why."""


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any


class Api:
    """JSON calls to `{broker}/api/{prefix}/...`; transport faults are Failures."""

    def __init__(self, broker: str, prefix: str, timeout: float) -> None:
        self.broker = broker.rstrip("/")
        self.prefix = prefix
        self.token: str | None = None
        self.http = urllib3.PoolManager(
            retries=False, timeout=urllib3.Timeout(connect=5.0, read=timeout))

    def call(self, method: str, path: str, body: Any = None,
             expect: tuple[int, ...] = (200,)) -> Answer:
        url = f"{self.broker}/api/{self.prefix}/{path}"
        headers = {"Accept": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            resp = self.http.request(method, url, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise Failure(f"cannot reach the broker at {self.broker}: {_reason(exc)}") from None
        answer = Answer(resp.status, _json(resp.data), resp.headers)
        if resp.status not in expect:
            raise Failure(f"{method} {url} answered HTTP {resp.status}: {_message(answer.body)}")
        return answer


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "refused" in text.lower():
        return "connection refused (is it running?)"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "no answer in time"
    return text.split(": ", 1)[-1] if "object at 0x" in text else text


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode("utf-8", "replace")[:200]


def _message(body: Any) -> str:
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return json.dumps(body)[:300] if body is not None else "(no body)"


class Steps:
    """Numbered steps printed as they finish."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.count = out, 0

    def run(self, title: str, action: Callable[[], Any],
            outcome: Callable[[Any], str] = lambda _: "ok") -> Any:
        self.count += 1
        try:
            result = action()
        except Failure as exc:
            print(f"[{self.count:2d}] {title}: FAILED - {exc}", file=self.out, flush=True)
            raise
        print(f"[{self.count:2d}] {title}: {outcome(result)}", file=self.out, flush=True)
        return result


@dataclass
class Options:
    api: str
    broker: str
    prefix: str
    owner: str
    region: str
    timeout: float

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
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "admin", "domain": {"name": "Default"}, "password": "secret"}}}}}
    answer = api.call("POST", f"{opts.scope}/identity/v3/auth/tokens", body, expect=(200, 201))
    token = answer.headers.get("X-Subject-Token")
    if not token:
        raise Failure("the token answer has no X-Subject-Token header")
    api.token = token
    return token


def pick_tenant(api: Api, opts: Options) -> dict[str, Any]:
    tenants = _items(api.call("GET", f"{opts.scope}/tenants").body, "tenants")
    if not tenants:
        raise Failure("the cloud region has no tenants")
    return tenants[0]


def pick_flavors(api: Api, opts: Options, tenant: str) -> dict[str, dict[str, Any]]:
    """The smallest flavor meeting each VM's needs, by VM name."""
    flavors = _items(api.call("GET", f"{opts.scope}/{tenant}/flavors").body, "flavors")
    chosen = {}
    for name, _, (vcpus, memory) in VMS:
        fitting = [fl for fl in flavors
                   if fl.get("vcpu", 0) >= vcpus and fl.get("memory", 0) >= memory]
        if not fitting:
            raise Failure(f"no flavor has {vcpus} vCPUs and {memory} MB for {name}")
        chosen[name] = min(fitting, key=lambda fl: (fl["vcpu"], fl["memory"], fl.get("disk", 0)))
    return chosen


def pick_image(api: Api, opts: Options, tenant: str) -> dict[str, Any]:
    images = [i for i in _items(api.call("GET", f"{opts.scope}/{tenant}/images").body, "images")
              if str(i.get("status", "")).lower() == "active"]
    if not images:
        raise Failure("the cloud region has no active image")
    preferred = [i for i in images if "ubuntu" in i.get("name", "").lower()]
    return (preferred or images)[0]


def _field(body: Any, key: str) -> Any:
    if not isinstance(body, dict) or key not in body:
        raise Failure(f"the answer has no {key}: {json.dumps(body)[:200]}")
    return body[key]


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise Failure(f"the answer has no {key} list: {json.dumps(body)[:200]}")
    return body[key]


def check_capacity(api: Api, opts: Options, steps: Steps,
                   flavors: dict[str, dict[str, Any]]) -> None:
    """Is there room for one more VoLTE service? Asked of the broker (which
    asks every listed VIM) and of the VIM directly."""
    need = {"vCPU": sum(fl["vcpu"] for fl in flavors.values()),
            "Memory": sum(fl["memory"] for fl in flavors.values()) / 1024,
            "Storage": sum(fl.get("disk", 0) for fl in flavors.values())}
    what = f"{need['vCPU']} vCPUs, {need['Memory']:g} GB memory, {need['Storage']} GB disk"
    if opts.via_broker:
        vims = ([opts.vimid] if opts.api == "v0"
                else [{"cloud-owner": opts.owner, "cloud-region-id": opts.region}])
        steps.run(f"broker check_vim_capacity for another VoLTE service ({what})",
                  lambda: api.call("POST", f"{opts.api}/check_vim_capacity",
                                   {**need, "VIMs": vims}).body,
                  lambda body: "room" if _items(body, "VIMs") else "no room")
    steps.run(f"VIM capacity_check for another VoLTE service ({what})",
              lambda: api.call("POST", f"{opts.scope}/capacity_check", need).body,
              lambda body: _capacity_outcome(body))


def _capacity_outcome(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("result"), bool):
        raise Failure(f"capacity_check answered without a result: {json.dumps(body)[:200]}")
    return "room" if body["result"] else "no room"


# -- API v0: resource by resource ---------------------------------------------

@dataclass
class Created:
    kind: str
    id: str
    name: str


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
            raise Failure(f"creating {kind} answered without an id: {_message(doc)}")
        self.created.append(Created(kind, doc["id"], body["name"]))
        return doc

    def deploy(self, tenant: str, flavors: dict[str, dict[str, Any]],
               image: dict[str, Any]) -> None:
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
        ports: dict[str, list[str]] = {}
        for vm, roles, _ in VMS:
            for role in roles:
                name = f"{self.run_id}-{vm}-{role}"
                port = self.steps.run(f"create port {name}", lambda: self.create(
                    tenant, "ports", {"name": name, "networkId": nets[role]}),
                    lambda doc: f"{_created(doc)}, ip {doc.get('ip')}")
                ports.setdefault(vm, []).append(port["id"])
        servers = []
        for vm, _, _ in VMS:
            name = f"{self.run_id}-{vm}"
            body = {"name": name, "flavorId": flavors[vm]["id"],
                    "boot": {"type": 2, "imageId": image["id"]},
                    "nicArray": [{"portId": p} for p in ports[vm]]}
            server = self.steps.run(
                f"boot server {name} ({flavors[vm]['name']}, {len(ports[vm])} ports)",
                lambda: self.create(tenant, "servers", body), _created)
            servers.append(server["id"])
        self.steps.run(f"wait until the {len(servers)} servers are ACTIVE",
                       lambda: self.wait_active(tenant, servers),
                       lambda secs: f"all ACTIVE after {secs:.1f} s")

    def wait_active(self, tenant: str, servers: list[str]) -> float:
        start = time.monotonic()
        pending = list(servers)
        for _ in range(int(self.opts.timeout / POLL_SECONDS) + 1):
            for sid in list(pending):
                status = _field(self.api.call("GET", self.path(tenant, "servers", sid)).body,
                                "status")
                if status == "ACTIVE":
                    pending.remove(sid)
                elif status == "ERROR":
                    raise Failure(f"server {sid} went to ERROR")
            if not pending:
                return time.monotonic() - start
            time.sleep(POLL_SECONDS)
        raise Failure(f"{len(pending)} server(s) not ACTIVE after {self.opts.timeout:g} s")

    def teardown(self, tenant: str, best_effort: bool = False) -> None:
        """Delete what was created, newest first (servers, ports, subnets, networks)."""
        while self.created:
            item = self.created[-1]
            title = f"delete {item.kind[:-1]} {item.name}"
            try:
                self.steps.run(title, lambda: self.delete(tenant, item))
            except Failure:
                if not best_effort:
                    raise
            self.created.pop()

    def delete(self, tenant: str, item: Created) -> None:
        self.api.call("DELETE", self.path(tenant, item.kind, item.id), expect=(200, 202, 204))
        if item.kind == "servers":  # its ports are busy until it is gone
            for _ in range(int(self.opts.timeout / POLL_SECONDS) + 1):
                answer = self.api.call("GET", self.path(tenant, "servers", item.id),
                                       expect=(200, 404))
                if answer.status == 404:
                    return
                time.sleep(POLL_SECONDS)
            raise Failure(f"server {item.id} still exists after {self.opts.timeout:g} s")


def _created(doc: dict[str, Any]) -> str:
    verb = "already existed" if doc.get("returnCode") == 0 else "created"
    return f"{verb}, id {doc['id']}"


def run_v0(api: Api, opts: Options, steps: Steps, run_id: str) -> None:
    tenant, flavors, image = prepare(api, opts, steps)
    deployment = V0Deployment(api, opts, steps, run_id)
    try:
        deployment.deploy(tenant, flavors, image)
        check_capacity(api, opts, steps, flavors)
    except Failure:
        if deployment.created:
            print("removing what was created so far ...", flush=True)
            deployment.teardown(tenant, best_effort=True)
        raise
    deployment.teardown(tenant)


def prepare(api: Api, opts: Options,
            steps: Steps) -> tuple[str, dict[str, dict[str, Any]], dict[str, Any]]:
    steps.run(f"get a token from {opts.vimid}", lambda: get_token(api, opts),
              lambda token: f"token {token[:8]}...")
    tenant = steps.run("list tenants and pick one", lambda: pick_tenant(api, opts),
                       lambda t: f"tenant {t.get('name')} ({t['id']})")["id"]
    flavors = steps.run("pick flavors", lambda: pick_flavors(api, opts, tenant),
                        lambda chosen: ", ".join(f"{vm}={fl['name']}"
                                                 for vm, fl in chosen.items()))
    image = steps.run("pick an image", lambda: pick_image(api, opts, tenant),
                      lambda img: f"{img.get('name')} ({img['id']})")
    return tenant, flavors, image


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
            res[f"{key}_{role}_port"] = {"type": "OS::Neutron::Port", "properties": {
                "name": f"{run_id}-{vm}-{role}", "network": {"get_resource": f"{role}_net"}}}
        res[key] = {"type": "OS::Nova::Server", "properties": {
            "name": f"{run_id}-{vm}", "flavor": flavors[vm]["name"],
            "image": {"get_param": "image"},
            "networks": [{"port": {"get_resource": f"{key}_{r}_port"}} for r in roles]}}
    return {"heat_template_version": "2016-10-14",
            "description": "VoLTE service: vIMS and vEPC",
            "parameters": {"image": {"type": "string"}}, "resources": res}


def run_v1(api: Api, opts: Options, steps: Steps, run_id: str) -> None:
    _, flavors, image = prepare(api, opts, steps)
    body = {"template_type": "heat", "template_data": {
        "stack_name": run_id, "template": heat_template(run_id, flavors),
        "parameters": {"image": image["name"]}, "timeout_mins": 10}}
    base = f"{opts.scope}/infra_workload"
    workload = steps.run(f"create infra_workload {run_id} (3 networks, 12 ports, 5 servers)",
                         lambda: _workload_id(api.call("POST", base, body,
                                                       expect=(200, 201, 202)).body),
                         lambda wid: f"workload {wid}")
    try:
        steps.run("wait until the workload is CREATE_COMPLETE",
                  lambda: wait_workload(api, opts, f"{base}/{workload}"),
                  lambda secs: f"CREATE_COMPLETE after {secs:.1f} s")
        check_capacity(api, opts, steps, flavors)
    except Failure:
        print("removing the workload ...", flush=True)
        try:
            api.call("DELETE", f"{base}/{workload}", expect=(200, 202, 204, 404))
        except Failure:
            pass
        raise
    steps.run(f"delete infra_workload {workload}",
              lambda: api.call("DELETE", f"{base}/{workload}", expect=(200, 202, 204)))
    steps.run("check the workload is gone",
              lambda: wait_workload_gone(api, opts, f"{base}/{workload}"),
              lambda _: "gone")


def _workload_id(body: Any) -> str:
    if not isinstance(body, dict) or not body.get("workload_id"):
        raise Failure(f"the workload answer has no workload_id: {_message(body)}")
    return str(body["workload_id"])


def wait_workload(api: Api, opts: Options, path: str) -> float:
    start = time.monotonic()
    status = None
    for _ in range(int(opts.timeout / POLL_SECONDS) + 1):
        status = _field(api.call("GET", path).body, "workload_status")
        if status == "CREATE_COMPLETE":
            return time.monotonic() - start
        if str(status).endswith("_FAILED"):
            reason = _field(api.call("GET", path).body, "workload_status_reason")
            if isinstance(reason, dict):  # a Heat stack: say why, not all of it
                reason = reason.get("stack_status_reason", reason)
            raise Failure(f"the workload is {status}: {json.dumps(reason)[:300]}")
        time.sleep(POLL_SECONDS)
    raise Failure(f"the workload is still {status} after {opts.timeout:g} s")


def wait_workload_gone(api: Api, opts: Options, path: str) -> None:
    for _ in range(int(opts.timeout / POLL_SECONDS) + 1):
        answer = api.call("GET", path, expect=(200, 404))
        if answer.status == 404 or _field(answer.body, "workload_status") == "DELETE_COMPLETE":
            return
        time.sleep(POLL_SECONDS)
    raise Failure(f"the workload still exists after {opts.timeout:g} s")


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
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for servers or the workload, and for "
                             "each answer")
    # Talk to a plugin directly (e.g. multicloud-ocata): broker-only steps are skipped.
    parser.add_argument("--api-prefix", default="multicloud", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    if "_" in args.cloud_owner:
        print("volte demo: --cloud-owner must not contain '_'", file=sys.stderr)
        return 2
    opts = Options(args.api, args.broker, args.api_prefix, args.cloud_owner,
                   args.cloud_region_id, args.timeout)
    run_id = f"volte-{uuid.uuid4().hex[:6]}"
    print(f"VoLTE demo {run_id}: API {opts.api} via {opts.broker}/api/{opts.prefix}/, "
          f"cloud region {opts.owner}/{opts.region}", file=out, flush=True)
    api = Api(opts.broker, opts.prefix, opts.timeout)
    steps = Steps(out)
    try:
        (run_v0 if opts.api == "v0" else run_v1)(api, opts, steps, run_id)
    except Failure as exc:
        print(f"volte demo failed: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("volte demo interrupted", file=sys.stderr)
        return 130
    except (KeyError, TypeError, ValueError) as exc:  # an answer of an unexpected shape
        print(f"volte demo failed: unexpected answer ({type(exc).__name__}: {exc})",
              file=sys.stderr, flush=True)
        return 1
    print(f"VoLTE demo {run_id}: deployed, checked and removed ({steps.count} steps)",
          file=out, flush=True)
    return 0


if __name__ == "__main__":
    from multicloud_broker.logs import setup_plain_logging
    setup_plain_logging()
    sys.exit(main())
