"""Heat (orchestration, v1): stacks from HOT templates that make real
simulated servers, networks, subnets, ports and volumes.

Catalog URL ``{root}/heat/v1/$(project_id)s``. A template (JSON or YAML,
parsed with PyYAML keeping dates as text as Heat does) may use
``parameters`` (string, number, boolean, json, comma_delimited_list; default,
allowed_values, range), ``resources`` of the types in RESOURCE_TYPES with
``depends_on``, and ``outputs``; the functions get_param, get_resource,
get_attr, get_file, list_join and str_replace.

Resources are created in dependency order, each once those it depends on
are complete (a server is complete when ACTIVE, a volume when available), by
the stack engine that runs at every request; the stack is
CREATE_IN_PROGRESS at least `build_seconds`, then CREATE_COMPLETE, or
CREATE_FAILED with Heat's reason. DELETE deletes in reverse order, the
stack DELETE_IN_PROGRESS at least `build_seconds`, then gone. ``GET /stacks/{name}`` (and
``/stacks/{name}/resources`` and the like) redirect with 302 to
``/stacks/{name}/{id}...`` as Heat does. Errors are Heat's
``{"code", "title", "explanation", "error": {"message", "type", "traceback"}}``.
Stack update, preview, adopt and abandon are not simulated.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
from typing import Any

import yaml

from multicloud_broker.simulators.openstack.service import Service
from multicloud_broker.simulators.openstack.state import iso
from multicloud_broker.simulators.openstack.web import (
    ApiError, Request, Response, new_id, page, quoted, status_line)

LOG = logging.getLogger(__name__)
TEMPLATE_VERSIONS = ("2013-05-23", "2014-10-16", "2015-04-30", "2015-10-15", "2016-04-08",
                     "2016-10-14", "newton", "2017-02-24", "ocata", "2017-09-01", "pike",
                     "2018-03-02", "queens", "2018-08-31", "rocky", "2021-04-16", "wallaby")
STACK_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$")
SUBRESOURCES = ("resources", "events", "outputs", "template", "environment", "files")
FUNCTIONS = ("get_param", "get_resource", "get_attr", "get_file", "list_join", "str_replace")
ERROR_TYPES = {400: "StackValidationFailed", 404: "EntityNotFound", 409: "StackExists"}


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: `heat_template_version: 2018-08-31`
    stays a string, as Heat's own loader keeps it."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


class StackContext:
    """Who a stack acts as: the creating token's project, user and roles."""

    def __init__(self, ctx):
        self.project_id = ctx.project_id
        self.user_id = ctx.user_id
        self.roles = tuple(ctx.roles)
        self.is_admin = ctx.is_admin


class ResourceFailed(Exception):
    """A resource's create or delete failed; the message is Heat's reason."""


# -- resource types ------------------------------------------------------------------------


class ResourceType:
    """How the stack engine drives one resource type."""

    def __init__(self, heat: "Orchestration"):
        self.heat = heat
        self.cloud = heat.cloud

    def create(self, stack: dict, res: dict, props: dict) -> str | None:
        """Make the resource; its physical id."""
        raise NotImplementedError

    def check_create(self, stack: dict, res: dict) -> bool:
        """Whether a resource being created is complete; ResourceFailed if it failed."""
        return True

    def delete(self, stack: dict, res: dict) -> None:
        """Start deleting the resource (already gone: nothing to do)."""

    def check_delete(self, stack: dict, res: dict) -> bool:
        return True

    def attribute(self, stack: dict, res: dict, name: str) -> Any:
        if name == "show":
            return self.show(stack, res)
        raise KeyError(name)

    def show(self, stack: dict, res: dict) -> Any:
        return None

    def physical_name(self, stack: dict, res: dict) -> str:
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits)
                         for _ in range(12))
        return f"{stack['name']}-{res['name']}-{suffix}"


class NeutronNet(ResourceType):
    def create(self, stack, res, props):
        body = {"name": props.get("name") or self.physical_name(stack, res)}
        for key in ("admin_state_up", "shared", "port_security_enabled", "dns_domain", "tags"):
            if props.get(key) is not None:
                body[key] = props[key]
        body.update(props.get("value_specs") or {})
        return self.cloud.network.create_network(stack["_ctx"], body)["id"]

    def delete(self, stack, res):
        net = self.cloud.network
        if res["physical_id"] in net.networks:
            net.remove_network(res["physical_id"])

    def _net(self, res) -> dict:
        return self.cloud.network.networks.get(res["physical_id"]) or {}

    def attribute(self, stack, res, name):
        net = self._net(res)
        if name in ("name", "status", "subnets", "mtu", "admin_state_up", "tenant_id",
                    "port_security_enabled", "qos_policy_id"):
            return net.get(name)
        return super().attribute(stack, res, name)

    def show(self, stack, res):
        return self.cloud.network.render(stack["_ctx"], self._net(res)) if self._net(res) else None


class NeutronSubnet(ResourceType):
    def create(self, stack, res, props):
        network = self.heat.find_network(stack, props.get("network") or props.get("network_id"))
        body: dict[str, Any] = {"network_id": network["id"],
                                "name": props.get("name") or self.physical_name(stack, res),
                                "ip_version": props.get("ip_version", 4)}
        for key in ("cidr", "gateway_ip", "enable_dhcp", "allocation_pools", "dns_nameservers",
                    "host_routes", "ipv6_ra_mode", "ipv6_address_mode", "tags"):
            if key in props and props[key] is not None:
                body[key] = props[key]
        body.update(props.get("value_specs") or {})
        return self.cloud.network.create_subnet(stack["_ctx"], body)["id"]

    def delete(self, stack, res):
        net = self.cloud.network
        if res["physical_id"] in net.subnets:
            net.remove_subnet(res["physical_id"])

    def attribute(self, stack, res, name):
        subnet = self.cloud.network.subnets.get(res["physical_id"]) or {}
        if name in ("name", "network_id", "cidr", "gateway_ip", "allocation_pools",
                    "ip_version", "enable_dhcp", "dns_nameservers", "host_routes", "tenant_id"):
            return subnet.get(name)
        return super().attribute(stack, res, name)

    def show(self, stack, res):
        subnet = self.cloud.network.subnets.get(res["physical_id"])
        return self.cloud.network.render(stack["_ctx"], subnet) if subnet else None


class NeutronPort(ResourceType):
    def create(self, stack, res, props):
        network = self.heat.find_network(stack, props.get("network") or props.get("network_id"))
        body: dict[str, Any] = {"network_id": network["id"],
                                "name": props.get("name") or self.physical_name(stack, res)}
        if props.get("fixed_ips") is not None:
            fixed = []
            for entry in props["fixed_ips"]:
                item = {}
                subnet_ref = entry.get("subnet") or entry.get("subnet_id")
                if subnet_ref:
                    item["subnet_id"] = self.heat.find_subnet(stack, subnet_ref)["id"]
                if entry.get("ip_address"):
                    item["ip_address"] = entry["ip_address"]
                fixed.append(item)
            body["fixed_ips"] = fixed
        if props.get("security_groups") is not None:
            body["security_groups"] = [self.heat.find_security_group(stack, ref)
                                       for ref in props["security_groups"]]
        for key in ("mac_address", "admin_state_up", "device_id", "device_owner",
                    "binding:vnic_type", "port_security_enabled", "allowed_address_pairs",
                    "tags", "description"):
            if props.get(key) is not None:
                body[key] = props[key]
        body.update(props.get("value_specs") or {})
        return self.cloud.network.create_port(stack["_ctx"], body)["id"]

    def delete(self, stack, res):
        self.cloud.network.remove_port(res["physical_id"])

    def attribute(self, stack, res, name):
        port = self.cloud.network.ports.get(res["physical_id"]) or {}
        if name in ("fixed_ips", "mac_address", "name", "network_id", "device_id",
                    "device_owner", "status", "admin_state_up", "security_groups",
                    "allowed_address_pairs", "tenant_id"):
            return port.get(name)
        if name == "subnets":
            return [self.cloud.network.subnets.get(ip["subnet_id"])
                    for ip in port.get("fixed_ips", ())]
        return super().attribute(stack, res, name)

    def show(self, stack, res):
        port = self.cloud.network.ports.get(res["physical_id"])
        return self.cloud.network.render(stack["_ctx"], port) if port else None


class NovaServer(ResourceType):
    def create(self, stack, res, props):
        ctx = stack["_ctx"]
        compute = self.cloud.compute
        flavor = compute.find_flavor(str(props.get("flavor", "")))
        if flavor is None:
            raise ApiError(400, f"Flavor {props.get('flavor')} could not be found.",
                           "NotFound")
        body: dict[str, Any] = {"name": props.get("name") or self.physical_name(stack, res),
                                "flavorRef": flavor["id"]}
        if props.get("image"):
            image = self.cloud.image.find_by_name_or_id(ctx, str(props["image"]))
            if image is None:
                raise ApiError(400, f"Image {props['image']} could not be found.", "NotFound")
            body["imageRef"] = image["id"]
        networks = []
        for entry in props.get("networks") or []:
            if entry.get("port"):
                networks.append({"port": str(entry["port"])})
            elif entry.get("network") or entry.get("subnet"):
                if entry.get("network"):
                    net = self.heat.find_network(stack, entry["network"])
                else:
                    net_id = self.heat.find_subnet(stack, entry["subnet"])["network_id"]
                    net = self.cloud.network.networks[net_id]
                item = {"uuid": net["id"]}
                if entry.get("fixed_ip"):
                    item["fixed_ip"] = entry["fixed_ip"]
                networks.append(item)
            else:
                raise ApiError(400, "Property error: networks: one of network, port or subnet "
                                    "is needed")
        body["networks"] = networks or "auto"
        mappings = []
        for entry in props.get("block_device_mapping_v2") or []:
            mapping = {"boot_index": entry.get("boot_index", 0 if not mappings else -1),
                       "delete_on_termination": bool(entry.get("delete_on_termination",
                                                               False))}
            if entry.get("volume_id"):
                mapping.update(source_type="volume", destination_type="volume",
                               uuid=str(entry["volume_id"]))
            elif entry.get("image") or entry.get("image_id"):
                image = self.cloud.image.find_by_name_or_id(
                    ctx, str(entry.get("image") or entry.get("image_id")))
                if image is None:
                    raise ApiError(400, f"Image {entry.get('image')} could not be found.",
                                   "NotFound")
                mapping.update(source_type="image", destination_type="volume",
                               uuid=image["id"], volume_size=entry.get("volume_size"))
            else:
                mapping.update(source_type="blank", destination_type="volume",
                               volume_size=entry.get("volume_size"))
            mappings.append(mapping)
        if mappings:
            body["block_device_mapping_v2"] = mappings
        for key in ("metadata", "availability_zone", "key_name", "user_data", "config_drive"):
            if props.get(key) is not None:
                body[key] = props[key]
        if props.get("security_groups"):
            body["security_groups"] = [{"name": str(name)} for name in props["security_groups"]]
        servers, _ = compute.create_servers(ctx, body, (2, 79))
        return servers[0]["id"]

    def check_create(self, stack, res):
        server = self.cloud.compute.servers.get(res["physical_id"])
        if server is None:
            raise ResourceFailed(f"ResourceInError: resources.{res['name']}: the server is gone")
        if server["status"] == "ERROR":
            fault = server["fault"] or {}
            raise ResourceFailed(
                f"ResourceInError: resources.{res['name']}: Went to status ERROR due to "
                f"\"Message: {fault.get('message', 'Unknown')}, Code: {fault.get('code', 500)}\"")
        return server["status"] == "ACTIVE"

    def delete(self, stack, res):
        self.cloud.compute.request_delete(res["physical_id"])

    def check_delete(self, stack, res):
        return res["physical_id"] not in self.cloud.compute.servers

    def attribute(self, stack, res, name):
        server = self.cloud.compute.servers.get(res["physical_id"])
        if server is None:
            return None
        network = self.cloud.network
        ports = [p["port_id"] for p in server["ports"]]
        if name == "first_address":
            for entries in network.addresses_of(ports).values():
                for entry in entries:
                    return entry["addr"]
            return ""
        if name == "networks":
            result: dict[str, list[str]] = {}
            for port_id in ports:
                port = network.ports.get(port_id)
                if port is None:
                    continue
                net = network.networks.get(port["network_id"], {})
                ips = [ip["ip_address"] for ip in port["fixed_ips"]]
                result.setdefault(net.get("name") or port["network_id"], []).extend(ips)
                result.setdefault(port["network_id"], []).extend(ips)
            return result
        if name == "addresses":
            addresses = network.addresses_of(ports)
            for port_id in ports:
                port = network.ports.get(port_id)
                if port is None:
                    continue
                net = network.networks.get(port["network_id"], {})
                for entry in addresses.get(net.get("name") or port["network_id"], []):
                    if entry["OS-EXT-IPS-MAC:mac_addr"] == port["mac_address"]:
                        entry["port"] = port_id
            return addresses
        if name == "name":
            return server["name"]
        if name == "instance_name":
            return server["instance_name"]
        if name in ("accessIPv4", "accessIPv6"):
            return server["access_ipv4" if name == "accessIPv4" else "access_ipv6"]
        return super().attribute(stack, res, name)

    def show(self, stack, res):
        server = self.cloud.compute.servers.get(res["physical_id"])
        if server is None:
            return None
        return {"id": server["id"], "name": server["name"], "status": server["status"],
                "addresses": self.cloud.network.addresses_of(
                    [p["port_id"] for p in server["ports"]]),
                "flavor": {"id": server["flavor"]["id"]}, "metadata": dict(server["metadata"])}


class CinderVolume(ResourceType):
    def create(self, stack, res, props):
        image_id = None
        if props.get("image"):
            image = self.cloud.image.find_by_name_or_id(stack["_ctx"], str(props["image"]))
            if image is None:
                raise ApiError(400, f"Image {props['image']} could not be found.", "NotFound")
            image_id = image["id"]
        volume = self.cloud.volume.create_for(
            stack["_ctx"], props.get("size"),
            name=props.get("name") or self.physical_name(stack, res),
            description=props.get("description"), image_id=image_id,
            volume_type=props.get("volume_type"), zone=props.get("availability_zone"),
            metadata=props.get("metadata") or {})
        return volume["id"]

    def check_create(self, stack, res):
        volume = self.cloud.volume.volumes.get(res["physical_id"])
        if volume is None or volume["status"] == "error":
            raise ResourceFailed(f"ResourceInError: resources.{res['name']}: Went to status "
                                 "error due to \"Unknown\"")
        return volume["status"] in ("available", "in-use")

    def delete(self, stack, res):
        volume = self.cloud.volume.volumes.get(res["physical_id"])
        if volume is not None:
            self.cloud.volume.request_delete(volume)

    def check_delete(self, stack, res):
        return res["physical_id"] not in self.cloud.volume.volumes

    def attribute(self, stack, res, name):
        volume = self.cloud.volume.volumes.get(res["physical_id"]) or {}
        if name in ("size", "status", "name", "availability_zone", "volume_type",
                    "metadata", "attachments"):
            return volume.get(name)
        if name == "display_name":
            return volume.get("name")
        if name == "bootable":
            return volume.get("bootable")
        return super().attribute(stack, res, name)


class HeatNone(ResourceType):
    def create(self, stack, res, props):
        return new_id()


class HeatValue(ResourceType):
    def create(self, stack, res, props):
        res["data"] = {"value": props.get("value")}
        return new_id()

    def attribute(self, stack, res, name):
        if name == "value":
            return res.get("data", {}).get("value")
        return super().attribute(stack, res, name)


class HeatRandomString(ResourceType):
    def create(self, stack, res, props):
        length = int(props.get("length", 32))
        alphabet = string.ascii_letters + string.digits
        res["data"] = {"value": "".join(secrets.choice(alphabet) for _ in range(length))}
        return res["data"]["value"]

    def attribute(self, stack, res, name):
        if name == "value":
            return res.get("data", {}).get("value")
        return super().attribute(stack, res, name)


RESOURCE_TYPES = {"OS::Neutron::Net": NeutronNet, "OS::Neutron::Subnet": NeutronSubnet,
                  "OS::Neutron::Port": NeutronPort, "OS::Nova::Server": NovaServer,
                  "OS::Cinder::Volume": CinderVolume, "OS::Heat::None": HeatNone,
                  "OS::Heat::Value": HeatValue, "OS::Heat::RandomString": HeatRandomString}


# -- the service --------------------------------------------------------------------------


class Orchestration(Service):
    name = "orchestration"
    prefix = "/heat"

    def __init__(self, cloud):
        super().__init__(cloud)
        self.types = {name: kind(self) for name, kind in RESOURCE_TYPES.items()}
        self.store.on_tick(self.run_engine)

    @property
    def stacks(self) -> dict[str, dict]:
        return self.store.table("stacks")

    def routes(self) -> None:
        add = self.router.add
        add("GET", "", self.versions, public=True)
        add("GET", "/", self.versions, public=True)
        base = "/v1/{project_id}"
        add("GET", base + "/stacks", self.list_stacks)
        add("POST", base + "/stacks", self.create_stack)
        add("GET", base + "/stacks/{stack_name}", self.lookup)
        add("DELETE", base + "/stacks/{stack_name}", self.delete_by_name)
        add("GET", base + "/stacks/{stack_name}/{stack_id}", self.show_stack)
        add("DELETE", base + "/stacks/{stack_name}/{stack_id}", self.delete_stack)
        add("GET", base + "/stacks/{stack_name}/{stack_id}/resources", self.list_resources)
        add("GET", base + "/stacks/{stack_name}/{stack_id}/resources/{resource_name}",
            self.show_resource)
        add("GET", base + "/stacks/{stack_name}/{stack_id}/events", self.list_events)
        add("GET", base + "/stacks/{stack_name}/{stack_id}/outputs", self.list_outputs)
        add("GET", base + "/stacks/{stack_name}/{stack_id}/outputs/{output_key}",
            self.show_output)
        add("GET", base + "/stacks/{stack_name}/{stack_id}/template", self.show_template)
        add("POST", base + "/validate", self.validate)

    def error(self, request: Request, err: ApiError) -> Response:
        title = status_line(err.status).split(" ", 1)[1]
        kind = err.kind or ERROR_TYPES.get(err.status, "HTTP" + title.replace(" ", ""))
        return Response.json(err.status, {
            "code": err.status, "title": title,
            "explanation": {404: "The resource could not be found.",
                            400: "The server could not comply with the request since it is "
                                 "either malformed or otherwise incorrect.",
                            409: "There was a conflict when trying to complete your request."
                            }.get(err.status, err.message),
            "error": {"message": err.message, "type": kind, "traceback": None}}, err.headers)

    def versions(self, request: Request) -> Response:
        return Response.json(300, {"versions": [
            {"id": "v1.0", "status": "CURRENT",
             "links": [{"href": request.url("/v1/"), "rel": "self"}]}]})

    def _check_project(self, request: Request) -> str:
        project_id = request.params["project_id"]
        if project_id != request.ctx.project_id and not request.ctx.is_admin:
            raise ApiError(403, "You are not authorized to use this project.", "Forbidden")
        return project_id

    # -- lookup -----------------------------------------------------------------

    def _visible(self, request: Request) -> list[dict]:
        project_id = self._check_project(request)
        return [s for s in self.stacks.values() if s["project_id"] == project_id]

    def _find(self, request: Request, name_or_id: str) -> dict:
        for stack in self._visible(request):
            if name_or_id in (stack["id"], stack["name"]):
                return stack
        raise ApiError(404, f"The Stack ({name_or_id}) could not be found.")

    def _get(self, request: Request) -> dict:
        stack = self._find(request, request.params["stack_id"])
        if request.params["stack_name"] not in (stack["name"], stack["id"]):
            raise ApiError(404, f"The Stack ({request.params['stack_name']}) could not be "
                                "found.")
        return stack

    def _stack_path(self, stack: dict) -> str:
        return f"/v1/{stack['project_id']}/stacks/{quoted(stack['name'])}/{stack['id']}"

    def lookup(self, request: Request) -> Response:
        stack = self._find(request, request.params["stack_name"])
        location = request.url(self._stack_path(stack))
        if request.environ.get("QUERY_STRING"):
            location += "?" + request.environ["QUERY_STRING"]
        return self._redirect(location)

    @staticmethod
    def _redirect(location: str) -> Response:
        body = json.dumps({"location": location}).encode()
        return Response(302, body, [("Location", location), ("Content-Type", "application/json")])

    # -- create -------------------------------------------------------------------

    def create_stack(self, request: Request) -> Response:
        project_id = self._check_project(request)
        body = request.json_object()
        name = body.get("stack_name")
        if not isinstance(name, str) or not STACK_NAME.match(name):
            raise ApiError(400, f'Invalid stack name {name} must contain only alphanumeric or '
                                '"_-." characters, must start with alpha and must be 255 '
                                'characters or less.')
        if any(s["name"] == name and s["project_id"] == project_id
               for s in self.stacks.values()):
            raise ApiError(409, f"The Stack ({name}) already exists.", "StackExists")
        if body.get("template_url") and not body.get("template"):
            raise ApiError(400, "template_url is not simulated: send the template itself")
        template = self.parse_template(body.get("template"))
        files = body.get("files") or {}
        environment = body.get("environment") or {}
        if isinstance(environment, str):
            environment = yaml.load(environment, Loader=_Loader) or {}
        given = dict(environment.get("parameters") or {})
        given.update(body.get("parameters") or {})
        parameters = self.resolve_parameters(template, given)
        order, depends = self.plan(template)
        now = self.store.now()
        stack_id = new_id()
        stack = {
            "id": stack_id, "name": name, "project_id": project_id,
            "_ctx": StackContext(request.ctx), "template": template, "files": files,
            "parameters": parameters, "given": given, "status": "CREATE_IN_PROGRESS",
            "reason": "Stack CREATE started", "created": now, "updated": None,
            "timeout_mins": body.get("timeout_mins"), "disable_rollback": bool(
                body.get("disable_rollback", True)), "tags": _tags(body.get("tags")),
            "order": order, "events": [], "seq": self.store.seq(),
            "resources": {res_name: {
                "name": res_name, "type": template["resources"][res_name]["type"],
                "status": "INIT_COMPLETE", "reason": "", "physical_id": "",
                "depends": depends[res_name], "updated": now}
                for res_name in order},
            "forced_failure": None, "delete_after": None, "deleted": None,
        }
        fault = self.cloud.faults.take_behaviour("stack_failed", "orchestration")
        if fault is not None:
            stack["forced_failure"] = fault.message or "Resource CREATE failed: simulated fault"
        self.stacks[stack_id] = stack
        self._event(stack, None, "CREATE_IN_PROGRESS", "Stack CREATE started")
        self._advance_create(stack)
        return Response.json(201, {"stack": {"id": stack_id, "links": [
            {"href": request.url(self._stack_path(stack)), "rel": "self"}]}})

    def parse_template(self, raw: Any) -> dict:
        if isinstance(raw, str):
            try:
                template = yaml.load(raw, Loader=_Loader)
            except yaml.YAMLError as exc:
                raise ApiError(400, f"Error parsing template: {exc}") from None
        else:
            template = raw
        if not isinstance(template, dict):
            raise ApiError(400, "The template is not a JSON object or YAML mapping.")
        version = template.get("heat_template_version")
        if version is None:
            raise ApiError(400, "Template format version not found.")
        if str(version) not in TEMPLATE_VERSIONS:
            raise ApiError(400, f'The template version is invalid: "heat_template_version: '
                                f'{version}". "heat_template_version" should be one of: '
                                f'{", ".join(TEMPLATE_VERSIONS)}')
        resources = template.get("resources") or {}
        if not isinstance(resources, dict):
            raise ApiError(400, "The template section resources must be a mapping.")
        for res_name, res in resources.items():
            if not isinstance(res, dict) or "type" not in res:
                raise ApiError(400, f'Resource {res_name} is missing "type"')
            if res["type"] not in RESOURCE_TYPES:
                raise ApiError(400, f"Failed to validate: resources.{res_name}: The Resource "
                                    f"Type ({res['type']}) could not be found.",
                               "StackValidationFailed")
            props = res.get("properties") or {}
            if not isinstance(props, dict):
                raise ApiError(400, f"Resource {res_name}: properties must be a mapping.")
        template["resources"] = resources
        for section in ("parameters", "outputs"):
            if not isinstance(template.get(section) or {}, dict):
                raise ApiError(400, f"The template section {section} must be a mapping.")
            template[section] = template.get(section) or {}
        return template

    def resolve_parameters(self, template: dict, given: dict) -> dict:
        declared = template["parameters"]
        for key in given:
            if key not in declared:
                raise ApiError(400, f"The Parameter ({key}) was not defined in template.",
                               "StackValidationFailed")
        values = {}
        for key, spec in declared.items():
            spec = spec or {}
            if key in given:
                raw = given[key]
            elif "default" in spec:
                raw = spec["default"]
            else:
                raise ApiError(400, f"The Parameter ({key}) was not provided.",
                               "UserParameterMissing")
            value = _convert(key, spec.get("type", "string"), raw)
            for constraint in spec.get("constraints") or []:
                _constrain(key, value, constraint)
            values[key] = value
        return values

    def plan(self, template: dict) -> tuple[list[str], dict[str, list[str]]]:
        """Resources in an order where each comes after those it depends on."""
        resources = template["resources"]
        depends: dict[str, list[str]] = {}
        for res_name, res in resources.items():
            refs = set(_references(res.get("properties") or {}))
            extra = res.get("depends_on") or []
            refs.update([extra] if isinstance(extra, str) else extra)
            for ref in refs:
                if ref not in resources:
                    raise ApiError(400, f'The specified reference "{ref}" (in {res_name}) is '
                                        'incorrect.', "InvalidTemplateReference")
            depends[res_name] = sorted(refs)
        for output_key, output in template["outputs"].items():
            for ref in _references((output or {}).get("value")):
                if ref not in resources:
                    raise ApiError(400, f'The specified reference "{ref}" (in {output_key}) '
                                        'is incorrect.', "InvalidTemplateReference")
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> None:
            if state.get(node) == 2:
                return
            if state.get(node) == 1:
                raise ApiError(400, "Circular Dependency Found: " + " -> ".join(trail + [node]),
                               "CircularDependencyException")
            state[node] = 1
            for dep in depends[node]:
                visit(dep, trail + [node])
            state[node] = 2
            order.append(node)

        for node in resources:
            visit(node, [])
        return order, depends

    # -- the engine -----------------------------------------------------------------

    def run_engine(self) -> None:
        """Move every stack in progress on (a tick hook: runs under the lock)."""
        for stack in list(self.stacks.values()):
            try:
                if stack["status"] == "CREATE_IN_PROGRESS":
                    self._advance_create(stack)
                elif stack["status"] == "DELETE_IN_PROGRESS":
                    self._advance_delete(stack)
            except Exception as exc:  # a bug must fail one stack, not every request
                LOG.exception("stack %s failed in the simulator", stack["id"])
                action = stack["status"].split("_", 1)[0]
                self._finish(stack, f"{action}_FAILED", f"Simulator error: {exc!r}")

    def _advance_create(self, stack: dict) -> None:
        now = self.store.now()
        failure = None
        for res_name in stack["order"]:
            res = stack["resources"][res_name]
            kind = self.types[res["type"]]
            if res["status"] == "INIT_COMPLETE":
                if not all(stack["resources"][d]["status"] == "CREATE_COMPLETE"
                           for d in res["depends"]):
                    continue
                self._set(stack, res, "CREATE_IN_PROGRESS", "state changed")
                try:
                    props = self.resolve(stack, stack["template"]["resources"][res_name].get(
                        "properties") or {})
                    res["physical_id"] = kind.create(stack, res, props) or ""
                except (ApiError, ResourceFailed, _Unresolvable) as exc:
                    failure = self._fail_resource(stack, res, exc)
                    break
                except (TypeError, ValueError, KeyError, AttributeError) as exc:
                    # A property of the wrong shape, as Heat's validation would say.
                    failure = self._fail_resource(stack, res, ResourceFailed(
                        f"StackValidationFailed: resources.{res_name}: Property error: "
                        f"{exc!r}"))
                    break
            if res["status"] == "CREATE_IN_PROGRESS":
                try:
                    done = kind.check_create(stack, res)
                except ResourceFailed as exc:
                    failure = self._fail_resource(stack, res, exc)
                    break
                if done:
                    self._set(stack, res, "CREATE_COMPLETE", "state changed")
        if failure is not None:
            self._finish(stack, "CREATE_FAILED", f"Resource CREATE failed: {failure}")
            return
        timeout = stack["timeout_mins"]
        if isinstance(timeout, (int, float)) and now > stack["created"] + timeout * 60:
            self._finish(stack, "CREATE_FAILED", "Create timed out")
            return
        if now < stack["created"] + self.store.config.build_seconds:
            return
        if stack["forced_failure"] is not None:
            self._finish(stack, "CREATE_FAILED", stack["forced_failure"])
            return
        if all(r["status"] == "CREATE_COMPLETE" for r in stack["resources"].values()):
            self._finish(stack, "CREATE_COMPLETE", "Stack CREATE completed successfully")

    def _fail_resource(self, stack: dict, res: dict, exc: Exception) -> str:
        if isinstance(exc, ApiError):
            kind = exc.kind or {400: "BadRequest", 403: "Forbidden", 404: "NotFound",
                                409: "Conflict", 413: "OverLimit"}.get(exc.status, "HTTPError")
            reason = f"{kind}: resources.{res['name']}: {exc.message} (HTTP {exc.status})"
        else:
            reason = str(exc)
        self._set(stack, res, "CREATE_FAILED", reason)
        return reason

    def _finish(self, stack: dict, status: str, reason: str) -> None:
        stack.update(status=status, reason=reason, updated=self.store.now())
        self._event(stack, None, status, reason)

    def _set(self, stack: dict, res: dict, status: str, reason: str) -> None:
        res.update(status=status, reason=reason, updated=self.store.now())
        self._event(stack, res, status, reason)

    def _event(self, stack: dict, res: dict | None, status: str, reason: str) -> None:
        stack["events"].append({
            "id": new_id(), "event_time": iso(self.store.now()),
            "resource_name": res["name"] if res else stack["name"],
            "logical_resource_id": res["name"] if res else stack["name"],
            "physical_resource_id": (res["physical_id"] if res else stack["id"]) or "",
            "resource_status": status, "resource_status_reason": reason,
            "resource_type": res["type"] if res else "OS::Heat::Stack"})

    # -- intrinsic functions ------------------------------------------------------------

    def resolve(self, stack: dict, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(stack, item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (func, arg), = value.items()
            if func in FUNCTIONS:
                return getattr(self, "_fn_" + func)(stack, arg)
        return {key: self.resolve(stack, item) for key, item in value.items()}

    def _fn_get_param(self, stack: dict, arg: Any) -> Any:
        path = arg if isinstance(arg, list) else [arg]
        path = [self.resolve(stack, item) for item in path]
        pseudo = {"OS::stack_name": stack["name"], "OS::stack_id": stack["id"],
                  "OS::project_id": stack["project_id"]}
        name = path[0]
        if name in pseudo:
            value = pseudo[name]
        elif name in stack["parameters"]:
            value = stack["parameters"][name]
        else:
            raise _Unresolvable(f'The Parameter ({name}) was not provided.')
        for step in path[1:]:
            try:
                value = value[int(step) if isinstance(value, list) else step]
            except (KeyError, IndexError, ValueError, TypeError):
                raise _Unresolvable(f"get_param: {arg!r} does not exist") from None
        return value

    def _fn_get_resource(self, stack: dict, arg: Any) -> Any:
        res = stack["resources"].get(arg)
        if res is None:
            raise _Unresolvable(f'The specified reference "{arg}" is incorrect.')
        return res["physical_id"] or None

    def _fn_get_attr(self, stack: dict, arg: Any) -> Any:
        if not isinstance(arg, list) or len(arg) < 2:
            raise _Unresolvable(f"Arguments to get_attr must be [resource, attribute, ...]: "
                                f"{arg!r}")
        res_name, attribute, *path = [self.resolve(stack, item) for item in arg]
        res = stack["resources"].get(res_name)
        if res is None:
            raise _Unresolvable(f'The specified reference "{res_name}" is incorrect.')
        if not res["physical_id"]:
            return None
        try:
            value = self.types[res["type"]].attribute(stack, res, attribute)
        except KeyError:
            raise _Unresolvable(f"The Referenced Attribute ({res_name} {attribute}) is "
                                "incorrect.") from None
        for step in path:
            try:
                value = value[int(step) if isinstance(value, list) else step]
            except (KeyError, IndexError, ValueError, TypeError):
                return None
        return value

    def _fn_get_file(self, stack: dict, arg: Any) -> Any:
        if arg not in stack["files"]:
            raise _Unresolvable(f"No content found in the \"files\" section for get_file path: "
                                f"{arg}")
        return stack["files"][arg]

    def _fn_list_join(self, stack: dict, arg: Any) -> Any:
        arg = self.resolve(stack, arg)
        if not isinstance(arg, list) or len(arg) < 2 or not isinstance(arg[0], str):
            raise _Unresolvable("Arguments to list_join must be [delimiter, list, ...]")
        items: list[str] = []
        for part in arg[1:]:
            if not isinstance(part, list):
                raise _Unresolvable("list_join joins lists")
            items.extend("" if item is None else (item if isinstance(item, str)
                                                  else json.dumps(item)) for item in part)
        return arg[0].join(items)

    def _fn_str_replace(self, stack: dict, arg: Any) -> Any:
        arg = self.resolve(stack, arg)
        if not isinstance(arg, dict) or "template" not in arg:
            raise _Unresolvable("Arguments to str_replace must be {template, params}")
        text = str(arg["template"])
        params = arg.get("params") or {}
        for key in sorted(params, key=len, reverse=True):
            value = params[key]
            if value is None:
                value = ""
            elif not isinstance(value, str):
                value = str(value) if isinstance(value, (int, float)) else json.dumps(value)
            text = text.replace(str(key), value)
        return text

    # -- lookups for resources -------------------------------------------------------

    def find_network(self, stack: dict, ref: Any) -> dict:
        net = self.cloud.network
        ctx = stack["_ctx"]
        if isinstance(ref, str) and ref in net.networks and net.can_see(
                ctx, "network", net.networks[ref]):
            return net.networks[ref]
        named = [n for n in net.networks.values()
                 if n["name"] == ref and net.can_see(ctx, "network", n)]
        if len(named) != 1:
            raise ApiError(404, f"Unable to find network with name or id '{ref}'",
                           "NotFound")
        return named[0]

    def find_subnet(self, stack: dict, ref: Any) -> dict:
        net = self.cloud.network
        ctx = stack["_ctx"]
        if isinstance(ref, str) and ref in net.subnets and net.can_see(
                ctx, "subnet", net.subnets[ref]):
            return net.subnets[ref]
        named = [s for s in net.subnets.values()
                 if s["name"] == ref and net.can_see(ctx, "subnet", s)]
        if len(named) != 1:
            raise ApiError(404, f"Unable to find subnet with name or id '{ref}'", "NotFound")
        return named[0]

    def find_security_group(self, stack: dict, ref: Any) -> str:
        net = self.cloud.network
        default = net.default_security_group(stack["project_id"])
        if ref in ("default", default["id"]):
            return default["id"]
        for group in net.security_groups.values():
            if ref in (group["id"], group["name"]) and group["project_id"] == stack["project_id"]:
                return group["id"]
        raise ApiError(404, f"Unable to find security_group with name or id '{ref}'",
                       "NotFound")

    # -- show -------------------------------------------------------------------

    def _outputs(self, stack: dict, resolve: bool = True) -> list[dict]:
        outputs = []
        for key, spec in stack["template"]["outputs"].items():
            spec = spec or {}
            entry: dict[str, Any] = {"output_key": key, "description": spec.get(
                "description", "No description given")}
            if resolve:
                try:
                    entry["output_value"] = self.resolve(stack, spec.get("value"))
                except _Unresolvable as exc:
                    entry["output_value"] = None
                    entry["output_error"] = str(exc)
            outputs.append(entry)
        return outputs

    def render(self, request: Request, stack: dict, detail: bool) -> dict:
        doc: dict[str, Any] = {
            "id": stack["id"], "stack_name": stack["name"],
            "description": stack["template"].get("description", "No description"),
            "stack_status": stack["status"], "stack_status_reason": stack["reason"],
            "creation_time": iso(stack["created"]),
            "updated_time": iso(stack["updated"]) if stack["updated"] else None,
            "deletion_time": iso(stack["deleted"]) if stack["deleted"] else None,
            "stack_owner": None, "parent": None, "tags": stack["tags"],
            "stack_user_project_id": stack["project_id"],
            "links": [{"href": request.url(self._stack_path(stack)), "rel": "self"}],
        }
        if request.ctx.is_admin:
            doc["project"] = stack["project_id"]
        if detail:
            params = {"OS::stack_id": stack["id"], "OS::stack_name": stack["name"],
                      "OS::project_id": stack["project_id"]}
            for key, value in stack["parameters"].items():
                hidden = (stack["template"]["parameters"].get(key) or {}).get("hidden")
                params[key] = "******" if hidden else (
                    value if isinstance(value, str) else json.dumps(value)
                    if isinstance(value, (dict, list)) else str(value))
            doc.update({
                "parameters": params, "disable_rollback": stack["disable_rollback"],
                "notification_topics": [], "capabilities": [],
                "timeout_mins": stack["timeout_mins"],
                "template_description": stack["template"].get("description",
                                                              "No description"),
                "outputs": self._outputs(stack, request.arg("resolve_outputs", "true")
                                         .lower() not in ("false", "0"))})
        return doc

    def list_stacks(self, request: Request) -> Response:
        stacks = self._visible(request)
        for arg, key in (("stack_name", "name"), ("name", "name"), ("status", "status"),
                         ("id", "id")):
            wanted = request.args(arg)
            if wanted:
                stacks = [s for s in stacks if s[key] in wanted
                          or (key == "status" and any(s[key].endswith("_" + w) for w in wanted))]
        key_name = request.arg("sort_keys", "created_at")
        key = {"stack_name": lambda s: (s["name"], s["seq"]),
               "stack_status": lambda s: (s["status"], s["seq"]),
               "updated_at": lambda s: (s["updated"] or 0, s["seq"])}.get(
                   key_name, lambda s: (s["created"], s["seq"]))
        stacks.sort(key=key, reverse=request.arg("sort_dir", "desc").lower() == "desc")
        limit = request.int_arg("limit", None)
        chunk, found, _ = page(stacks, request.arg("marker"), limit)
        if not found:
            raise ApiError(404, f"The Stack ({request.arg('marker')}) could not be found.")
        return Response.json(200, {"stacks": [self.render(request, s, False) for s in chunk]})

    def show_stack(self, request: Request) -> Response:
        if request.params["stack_id"] in SUBRESOURCES:
            stack = self._find(request, request.params["stack_name"])
            return self._redirect(request.url(self._stack_path(stack) + "/"
                                              + request.params["stack_id"]))
        stack = self._get(request)
        return Response.json(200, {"stack": self.render(request, stack, True)})

    def _resource_doc(self, request: Request, stack: dict, res: dict) -> dict:
        required_by = [r["name"] for r in stack["resources"].values()
                       if res["name"] in r["depends"]]
        path = self._stack_path(stack)
        return {"resource_name": res["name"], "logical_resource_id": res["name"],
                "physical_resource_id": res["physical_id"], "resource_type": res["type"],
                "resource_status": res["status"], "resource_status_reason": res["reason"],
                "updated_time": iso(res["updated"]), "creation_time": iso(stack["created"]),
                "required_by": required_by, "links": [
                    {"href": request.url(f"{path}/resources/{res['name']}"), "rel": "self"},
                    {"href": request.url(path), "rel": "stack"}]}

    def list_resources(self, request: Request) -> Response:
        stack = self._get(request)
        items = [self._resource_doc(request, stack, stack["resources"][n])
                 for n in stack["order"]]
        for arg, key in (("type", "resource_type"), ("status", "resource_status"),
                         ("name", "resource_name")):
            wanted = request.args(arg)
            if wanted:
                items = [i for i in items if i[key] in wanted]
        return Response.json(200, {"resources": items})

    def show_resource(self, request: Request) -> Response:
        stack = self._get(request)
        res = stack["resources"].get(request.params["resource_name"])
        if res is None:
            raise ApiError(404, f"The Resource ({request.params['resource_name']}) could not be "
                                f"found.", "ResourceNotFound")
        doc = self._resource_doc(request, stack, res)
        doc["attributes"] = {}
        doc["description"] = ""
        return Response.json(200, {"resource": doc})

    def list_events(self, request: Request) -> Response:
        stack = self._get(request)
        path = self._stack_path(stack)
        events = []
        for event in stack["events"]:
            doc = dict(event)
            doc["links"] = [{"href": request.url(f"{path}/resources/{event['resource_name']}"
                                                 f"/events/{event['id']}"), "rel": "self"},
                            {"href": request.url(path), "rel": "stack"}]
            events.append(doc)
        for arg, key in (("resource_status", "resource_status"),
                         ("resource_name", "resource_name"),
                         ("resource_type", "resource_type")):
            wanted = request.args(arg)
            if wanted:
                events = [e for e in events if e[key] in wanted]
        if request.arg("sort_dir", "asc").lower() == "desc":
            events.reverse()
        chunk, found, _ = page(events, request.arg("marker"), request.int_arg("limit", None))
        if not found:
            raise ApiError(404, f"The Event ({request.arg('marker')}) could not be found.")
        return Response.json(200, {"events": chunk})

    def list_outputs(self, request: Request) -> Response:
        stack = self._get(request)
        return Response.json(200, {"outputs": self._outputs(stack, resolve=False)})

    def show_output(self, request: Request) -> Response:
        stack = self._get(request)
        for output in self._outputs(stack):
            if output["output_key"] == request.params["output_key"]:
                return Response.json(200, {"output": output})
        raise ApiError(404, f"Specified output key {request.params['output_key']} not found.",
                       "NotFound")

    def show_template(self, request: Request) -> Response:
        return Response.json(200, self._get(request)["template"])

    def validate(self, request: Request) -> Response:
        self._check_project(request)
        body = request.json_object()
        template = self.parse_template(body.get("template"))
        self.plan(template)
        return Response.json(200, {
            "Description": template.get("description", "No description"),
            "Parameters": {key: {"Type": _type_label((spec or {}).get("type", "string")),
                                 "Description": (spec or {}).get("description", ""),
                                 "Label": (spec or {}).get("label", key),
                                 "NoEcho": "true" if (spec or {}).get("hidden") else "false",
                                 **({"Default": spec["default"]} if "default" in (spec or {})
                                    else {})}
                           for key, spec in template["parameters"].items()}})

    # -- delete -------------------------------------------------------------------

    def delete_by_name(self, request: Request) -> Response:
        stack = self._find(request, request.params["stack_name"])
        self.request_delete(stack, self._delete_stuck())
        return Response.empty(204)

    def delete_stack(self, request: Request) -> Response:
        stack = self._get(request)
        self.request_delete(stack, self._delete_stuck())
        return Response.empty(204)

    def _delete_stuck(self) -> bool:
        return self.cloud.faults.take_behaviour("delete_stuck", "orchestration") is not None

    def request_delete(self, stack: dict, stuck: bool = False) -> None:
        """Start deleting a stack (`stuck`: it stays DELETE_IN_PROGRESS until a
        delete that is not stuck)."""
        if stack["status"] == "DELETE_IN_PROGRESS":
            stack["delete_stuck"] = stack.get("delete_stuck", False) and stuck
            return
        stack["delete_stuck"] = stuck
        now = self.store.now()
        # A Heat action takes build_seconds, creating or deleting.
        stack.update(status="DELETE_IN_PROGRESS", reason="Stack DELETE started", updated=now,
                     delete_after=now + self.store.config.build_seconds)
        self._event(stack, None, "DELETE_IN_PROGRESS", "Stack DELETE started")
        self._advance_delete(stack)

    def _advance_delete(self, stack: dict) -> None:
        if stack.get("delete_stuck"):
            return  # the engine never gets to it
        for res_name in reversed(stack["order"]):
            res = stack["resources"][res_name]
            kind = self.types[res["type"]]
            if res["status"] in ("DELETE_COMPLETE",):
                continue
            if not res["physical_id"]:
                res["status"] = "DELETE_COMPLETE"
                continue
            dependents = [r for r in stack["resources"].values() if res_name in r["depends"]]
            if any(r["status"] != "DELETE_COMPLETE" for r in dependents):
                continue
            if res["status"] != "DELETE_IN_PROGRESS":
                self._set(stack, res, "DELETE_IN_PROGRESS", "state changed")
                try:
                    kind.delete(stack, res)
                except ApiError as exc:
                    reason = f"{exc.kind or 'Conflict'}: resources.{res_name}: {exc.message}"
                    self._set(stack, res, "DELETE_FAILED", reason)
                    self._finish(stack, "DELETE_FAILED", f"Resource DELETE failed: {reason}")
                    return
            if kind.check_delete(stack, res):
                self._set(stack, res, "DELETE_COMPLETE", "state changed")
        if all(r["status"] == "DELETE_COMPLETE" for r in stack["resources"].values()) \
                and self.store.now() >= stack["delete_after"]:
            self.stacks.pop(stack["id"], None)


class _Unresolvable(Exception):
    """An intrinsic function could not be resolved."""


def _references(value: Any) -> list[str]:
    """The resources a property value refers to with get_resource or get_attr."""
    found: list[str] = []
    if isinstance(value, list):
        for item in value:
            found.extend(_references(item))
    elif isinstance(value, dict):
        if len(value) == 1:
            (func, arg), = value.items()
            if func == "get_resource" and isinstance(arg, str):
                return [arg]
            if func == "get_attr" and isinstance(arg, list) and arg and isinstance(arg[0], str):
                return [arg[0]] + [r for item in arg[1:] for r in _references(item)]
        for item in value.values():
            found.extend(_references(item))
    return found


def _convert(key: str, kind: str, raw: Any) -> Any:
    try:
        if kind == "string":
            if isinstance(raw, (dict, list)):
                raise ValueError("not a string")
            return raw if isinstance(raw, str) else str(raw)
        if kind == "number":
            if isinstance(raw, bool):
                raise ValueError("not a number")
            if isinstance(raw, (int, float)):
                return raw
            return int(raw) if re.fullmatch(r"-?\d+", str(raw).strip()) else float(raw)
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw
            text = str(raw).lower()
            if text in ("true", "t", "on", "y", "yes", "1"):
                return True
            if text in ("false", "f", "off", "n", "no", "0"):
                return False
            raise ValueError("not a boolean")
        if kind == "comma_delimited_list":
            if isinstance(raw, list):
                return [str(item) for item in raw]
            return [part.strip() for part in str(raw).split(",")] if str(raw) else []
        if kind == "json":
            return json.loads(raw) if isinstance(raw, str) else raw
    except (ValueError, TypeError) as exc:
        raise ApiError(400, f'Parameter \'{key}\' is invalid: Value "{raw}" is invalid for '
                            f'type {kind}: {exc}', "StackValidationFailed") from None
    raise ApiError(400, f"Invalid type ({kind}) of parameter {key}", "StackValidationFailed")


def _constrain(key: str, value: Any, constraint: dict) -> None:
    if not isinstance(constraint, dict):
        return
    message = constraint.get("description")
    if "allowed_values" in constraint and value not in constraint["allowed_values"]:
        raise ApiError(400, f'Parameter \'{key}\' is invalid: ' + (
            message or f'"{value}" is not an allowed value {constraint["allowed_values"]}'),
                       "StackValidationFailed")
    if "range" in constraint and isinstance(value, (int, float)):
        low, high = constraint["range"].get("min"), constraint["range"].get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ApiError(400, f"Parameter '{key}' is invalid: " + (
                message or f"{value} is out of range (min: {low}, max: {high})"),
                           "StackValidationFailed")
    if "length" in constraint and isinstance(value, (str, list)):
        low, high = constraint["length"].get("min"), constraint["length"].get("max")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise ApiError(400, f"Parameter '{key}' is invalid: " + (
                message or f"length must be in range (min: {low}, max: {high})"),
                           "StackValidationFailed")


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part for part in str(value).split(",") if part]


def _type_label(kind: str) -> str:
    return {"string": "String", "number": "Number", "boolean": "Boolean",
            "comma_delimited_list": "CommaDelimitedList", "json": "Json"}.get(kind, kind)
