"""A flavor's HPA capabilities (OOF's Hardware Platform Awareness), from its
Nova fields and extra specs, with the features, attributes and value texts
ONAP's OpenStack plugin registers in A&AI:

    basicCapabilities        numVirtualCpu, virtualMemSize (MB)          always
    localStorage             diskSize (GB), swapMemSize (MB),
                             ephemeralDiskSize (GB)                      always
    cpuPinning               hw:cpu_thread_policy, hw:cpu_policy
    cpuTopology              hw:cpu_sockets, hw:cpu_cores, hw:cpu_threads
    hugePages                hw:mem_page_size (large: 2 MB, small: 4 KB,
                             a number: KB, any: no attribute)
    numa                     hw:numa_nodes, hw:numa_cpus.N + hw:numa_mem.N
    instructionSetExtensions hw:capabilities:cpu_info:features (Intel64)
    pciePassthrough          pci_passthrough:alias "x-x-ARCH-VENDOR-DEVICE:COUNT"
    sriovNICNetwork          aggregate_instance_extra_specs:sriov_nic
                             "x-x-ARCH-VENDOR-DEVICE-PHYSNET:COUNT"
    ovsDpdk                  the region's cloud-extra-info "ovsDpdk"
                             {libname, libversion} (Intel64)

Each attribute value is JSON text, `{"value":"..."}` or with a `"unit"`.
Unlike ONAP's (a random uuid per run, so every registration added a second
copy), a capability's id is derived from the region, flavor and feature:
registering again writes the same objects.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable

LOG = logging.getLogger(__name__)

Attribute = tuple[str, object, str | None]  # key, value, unit


def capabilities(scope: str, flavor: dict, specs: dict, extra_info: dict) -> list[dict]:
    """The HPA capabilities of a flavor (`scope` makes their ids unique)."""
    found = []
    for feature, read in _FEATURES:
        try:
            got = read(flavor, specs, extra_info)
        except (ValueError, IndexError, TypeError, AttributeError) as exc:
            # A spec this mapping cannot read: that feature is left out, not the flavor.
            LOG.warning("flavor %s: extra specs of %s not readable (%s): left out",
                        flavor.get("id"), feature, exc)
            continue
        if got is None:
            continue
        architecture, attributes = got
        found.append({
            "hpa-capability-id": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                f"{scope}/{flavor.get('id')}/{feature}")),
            "hpa-feature": feature, "architecture": architecture, "hpa-version": "v1",
            "hpa-feature-attributes": [{"hpa-attribute-key": k,
                                        "hpa-attribute-value": _value(v, unit)}
                                       for k, v, unit in attributes]})
    return found


def _value(value: object, unit: str | None) -> str:
    doc = {"value": str(value)}
    if unit:
        doc["unit"] = unit
    return json.dumps(doc, separators=(",", ":"))


Found = tuple[str, list[Attribute]] | None


def _basic(flavor: dict, specs: dict, extra: dict) -> Found:
    return "generic", [("numVirtualCpu", flavor.get("vcpus"), None),
                       ("virtualMemSize", flavor.get("ram"), "MB")]


def _storage(flavor: dict, specs: dict, extra: dict) -> Found:
    return "generic", [("diskSize", flavor.get("disk") or 0, "GB"),
                       ("swapMemSize", flavor.get("swap") or 0, "MB"),
                       ("ephemeralDiskSize", flavor.get("OS-FLV-EXT-DATA:ephemeral") or 0,
                        "GB")]


def _from_specs(*pairs: tuple[str, str]) -> Callable[[dict, dict, dict], Found]:
    """A feature made of the specs present among `pairs` (spec, attribute)."""
    def read(flavor: dict, specs: dict, extra: dict) -> Found:
        attributes = [(name, specs[spec], None) for spec, name in pairs if spec in specs]
        return ("generic", attributes) if attributes else None
    return read


def _huge_pages(flavor: dict, specs: dict, extra: dict) -> Found:
    size = specs.get("hw:mem_page_size")
    if size is None:
        return None
    sizes = {"large": (2, "MB"), "small": (4, "KB")}
    if size == "any":  # no size to tell OOF: the feature, without an attribute
        return "generic", []
    value, unit = sizes.get(size, (size, "KB"))
    return "generic", [("memoryPageSize", value, unit)]


def _numa(flavor: dict, specs: dict, extra: dict) -> Found:
    nodes = specs.get("hw:numa_nodes")
    if nodes is None:
        return None
    attributes: list[Attribute] = [("numaNodes", nodes or 0, None)]
    for n in range(int(nodes)):
        cpus, mem = specs.get(f"hw:numa_cpus.{n}"), specs.get(f"hw:numa_mem.{n}")
        if cpus is not None and mem is not None:
            attributes += [(f"numaCpu-{n}", cpus, None), (f"numaMem-{n}", mem, "MB")]
    return "generic", attributes


def _instruction_sets(flavor: dict, specs: dict, extra: dict) -> Found:
    features = specs.get("hw:capabilities:cpu_info:features")
    if features is None:
        return None
    return "Intel64", [("instructionSetExtensions", features, None)]


def _pci(spec: str, with_network: bool) -> Callable[[dict, dict, dict], Found]:
    """PCI passthrough or SR-IOV: "x-x-ARCH-VENDOR-DEVICE[-PHYSNET]:COUNT"."""
    def read(flavor: dict, specs: dict, extra: dict) -> Found:
        alias = specs.get(spec)
        if alias is None:
            return None
        device, count = alias.split(":")[:2]
        parts = device.split("-", 5)
        attributes: list[Attribute] = [("pciCount", count, None),
                                       ("pciVendorId", parts[3], None),
                                       ("pciDeviceId", parts[4], None)]
        if with_network:
            attributes.append(("physicalNetwork", parts[5], None))
        return parts[2], attributes
    return read


def _ovs_dpdk(flavor: dict, specs: dict, extra: dict) -> Found:
    dpdk = extra.get("ovsDpdk")
    if not isinstance(dpdk, dict) or not dpdk:
        return None
    return "Intel64", [(str(dpdk.get("libname")), dpdk.get("libversion"), None)]


_FEATURES: tuple[tuple[str, Callable[[dict, dict, dict], Found]], ...] = (
    ("basicCapabilities", _basic),
    ("cpuPinning", _from_specs(("hw:cpu_thread_policy", "logicalCpuThreadPinningPolicy"),
                               ("hw:cpu_policy", "logicalCpuPinningPolicy"))),
    ("cpuTopology", _from_specs(("hw:cpu_sockets", "numCpuSockets"),
                                ("hw:cpu_cores", "numCpuCores"),
                                ("hw:cpu_threads", "numCpuThreads"))),
    ("hugePages", _huge_pages),
    ("numa", _numa),
    ("localStorage", _storage),
    ("instructionSetExtensions", _instruction_sets),
    ("pciePassthrough", _pci("pci_passthrough:alias", False)),
    ("sriovNICNetwork", _pci("aggregate_instance_extra_specs:sriov_nic", True)),
    ("ovsDpdk", _ovs_dpdk),
)
