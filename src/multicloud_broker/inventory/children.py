"""What the OpenStack plugin records under a cloud region: A&AI's children of
a cloud-region (tenants and their vservers with l-interfaces, flavors with
hpa-capabilities, images, availability zones) and the hypervisors as
pservers.

Each object is one flat document at a *key*: its path below the region in
A&AI's REST layout, every segment percent-encoded (so an id holding '/' or a
space stays one segment), e.g. `flavors/flavor/42`,
`tenants/tenant/T/vservers/vserver/V/l-interfaces/l-interface/eth0`. Pservers
are not below a region in A&AI (`/cloud-infrastructure/pservers/pserver/H`);
they are kept at `pservers/pserver/H` and related to the region and its
availability zone by relationship-lists.

Two homes, one interface (RegionChildren):

- StoreChildren: the broker's own inventory (SQLite, PostgreSQL), a table of
  documents per region; a write is one transaction (all or nothing).
- AaiChildren: A&AI itself, object by object with A&AI's REST (GET for the
  resource-version, then PUT or DELETE with it, inventory/aai.py). A&AI has
  no transaction across objects: a failure half-way leaves the objects
  already written (each one whole) and is answered 503; running the same
  write again completes it.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote, unquote

from multicloud_broker.inventory import RegionNotFound

LOG = logging.getLogger(__name__)

RESOURCE_VERSION = "resource-version"
# The field that names an object of each kind (its last path segment).
ID_FIELDS = {
    "tenant": "tenant-id", "vserver": "vserver-id", "l-interface": "interface-name",
    "flavor": "flavor-id", "hpa-capability": "hpa-capability-id", "image": "image-id",
    "availability-zone": "availability-zone-name", "pserver": "hostname",
}
# Containers that hold children in a document: never compared or merged as
# the object's own fields.
CONTAINERS = {"tenants", "vservers", "l-interfaces", "flavors", "hpa-capabilities",
              "images", "availability-zones", "pservers"}
Keep = Callable[[str], bool]


def key(*segments: str) -> str:
    """The key of the object at these raw path segments."""
    return "/".join(quote(str(s), safe="") for s in segments)


def segments(child_key: str) -> list[str]:
    return [unquote(s) for s in child_key.split("/")]


def depth(child_key: str) -> int:
    return child_key.count("/")


def under(prefix: str) -> Keep:
    """A predicate: the key is `prefix` or below it."""
    return lambda k: k == prefix or k.startswith(prefix + "/")


def own_fields(doc: dict) -> dict:
    """A document without its children and its resource-version."""
    return {k: v for k, v in doc.items() if k not in CONTAINERS and k != RESOURCE_VERSION}


def nest(docs: dict[str, dict], base: dict | None = None) -> dict:
    """A&AI's tree of flat documents: each under its parent's container
    (`{"flavors": {"flavor": [...]}}`), parents first; a parent that is not
    recorded (a vserver's tenant that was never discovered) is shown by its
    id alone."""
    tree = copy.deepcopy(base) if base else {}
    nodes: dict[str, dict] = {"": tree}
    for child_key in sorted(docs, key=lambda k: (depth(k), k)):
        _node(nodes, child_key, docs)
    return tree


def _node(nodes: dict[str, dict], child_key: str, docs: dict[str, dict]) -> dict:
    found = nodes.get(child_key)
    if found is not None:
        return found
    parts = child_key.split("/")
    parent = _node(nodes, "/".join(parts[:-3]), docs) if len(parts) > 3 else nodes[""]
    container, kind, ident = parts[-3], parts[-2], unquote(parts[-1])
    doc = copy.deepcopy(docs.get(child_key) or {ID_FIELDS.get(kind, "id"): ident})
    parent.setdefault(container, {}).setdefault(kind, []).append(doc)
    nodes[child_key] = doc
    return doc


def walk(tree: dict, path: list[str]) -> dict | None:
    """The object or container at A&AI's `path` (raw segments) below `tree`."""
    node: object = tree
    at = 0
    while at < len(path):
        if not isinstance(node, dict):
            return None
        container = node.get(path[at])
        if at + 1 == len(path):
            return container if isinstance(container, dict) else None
        if not isinstance(container, dict) or path[at + 1] not in ID_FIELDS \
                or at + 2 >= len(path):
            return None
        field = ID_FIELDS[path[at + 1]]
        node = next((item for item in container.get(path[at + 1]) or []
                     if isinstance(item, dict) and str(item.get(field)) == path[at + 2]),
                    None)
        at += 3
    return node if isinstance(node, dict) else None


def prune(doc: dict, levels: float) -> dict:
    """`doc` with `levels` levels of children (A&AI's depth: 0 none)."""
    shown = {}
    for name, value in doc.items():
        if name not in CONTAINERS:
            shown[name] = value
        elif levels >= 1 and isinstance(value, dict):
            shown[name] = {kind: [prune(item, levels - 1) for item in items]
                           if isinstance(items, list) else items
                           for kind, items in value.items()}
    return shown


def flatten(tree: dict, prefix: str = "") -> dict[str, dict]:
    """The flat documents of an A&AI tree (nest's inverse, for the known kinds)."""
    found: dict[str, dict] = {}
    for container in CONTAINERS:
        holder = tree.get(container)
        if not isinstance(holder, dict):
            continue
        for kind, items in holder.items():
            if kind not in ID_FIELDS or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict) or ID_FIELDS[kind] not in item:
                    continue
                child_key = (prefix + "/" if prefix else "") + key(container, kind,
                                                                   item[ID_FIELDS[kind]])
                found[child_key] = own_fields(item) | (
                    {RESOURCE_VERSION: item[RESOURCE_VERSION]}
                    if RESOURCE_VERSION in item else {})
                found.update(flatten(item, child_key))
    return found


class RegionChildren(Protocol):
    """Where a region's children are kept."""

    schema: str  # A&AI's schema version, for related-links

    def read(self, owner: str, region: str, transaction_id: str = "") -> dict[str, dict]:
        """Every recorded child of the region, by key."""

    def write(self, owner: str, region: str, docs: dict[str, dict], stale: Keep,
              transaction_id: str = "") -> None:
        """Record `docs`, and remove the recorded children that `stale` selects
        and `docs` does not hold (with what is below them)."""

    def remove(self, owner: str, region: str, doomed: Keep, transaction_id: str = "") -> int:
        """Remove the children `doomed` selects (and what is below them); how many."""


class ChildRows(Protocol):
    """What a broker-owned store (sqlite.py, postgresql.py) offers for children."""

    def get(self, owner: str, region: str, transaction_id: str = ""): ...

    def children(self, owner: str, region: str) -> dict[str, dict]: ...

    def change_children(self, owner: str, region: str,
                        change: Callable[[dict[str, dict]],
                                         tuple[dict[str, dict], list[str]]]) -> int: ...


class StoreChildren:
    """Children in the broker's own inventory: each change is one transaction."""

    def __init__(self, store: ChildRows, schema: str = ""):
        self.store = store
        self.schema = schema  # A&AI's schema version, for related-links

    def read(self, owner: str, region: str, transaction_id: str = "") -> dict[str, dict]:
        return self.store.children(owner, region)

    def write(self, owner: str, region: str, docs: dict[str, dict], stale: Keep,
              transaction_id: str = "") -> None:
        def change(current: dict[str, dict]) -> tuple[dict[str, dict], list[str]]:
            gone = _below_any(current, [k for k in current if stale(k) and k not in docs])
            changed = {k: d for k, d in docs.items() if current.get(k) != d}
            return changed, [k for k in gone if k not in docs]
        self.store.get(owner, region, transaction_id)  # RegionNotFound if it is not there
        self.store.change_children(owner, region, change)

    def remove(self, owner: str, region: str, doomed: Keep, transaction_id: str = "") -> int:
        def change(current: dict[str, dict]) -> tuple[dict[str, dict], list[str]]:
            return {}, _below_any(current, [k for k in current if doomed(k)])
        return self.store.change_children(owner, region, change)


def _below_any(current: dict[str, dict], roots: list[str]) -> list[str]:
    """`roots` and every recorded key below one of them."""
    picked = set(roots)
    for root in roots:
        picked.update(k for k in current if k.startswith(root + "/"))
    return sorted(picked)


class AaiObjects(Protocol):
    """A&AI's REST for one object at a path below /cloud-infrastructure/."""

    def get(self, path: str, transaction_id: str, query: str = "") -> dict | None: ...

    def put(self, path: str, doc: dict, transaction_id: str) -> None: ...

    def delete(self, path: str, resource_version: str, transaction_id: str) -> bool: ...


class AaiChildren:
    """Children in A&AI, written object by object as ONAP's plugin writes them:
    GET, merge (fields others wrote are kept: relationships, ...), PUT with the
    resource-version; unchanged objects are not written again."""

    def __init__(self, objects: AaiObjects, schema: str = ""):
        self.objects = objects
        self.schema = schema

    def read(self, owner: str, region: str, transaction_id: str = "") -> dict[str, dict]:
        tree = self.objects.get(_region_path(owner, region), transaction_id, "depth=all")
        if tree is None:
            raise RegionNotFound(owner, region)
        docs = flatten(tree)
        # Pservers live outside the region: those its zones relate to.
        for host in sorted(_related_pservers(docs)):
            pserver = self.objects.get(_path(owner, region, key("pservers", "pserver", host)),
                                       transaction_id)
            if pserver is not None:
                docs[key("pservers", "pserver", host)] = pserver
        return docs

    def write(self, owner: str, region: str, docs: dict[str, dict], stale: Keep,
              transaction_id: str = "") -> None:
        current = self.read(owner, region, transaction_id)
        for child_key in sorted(docs, key=lambda k: (depth(k), k)):
            self._put(owner, region, child_key, docs[child_key], transaction_id)
        gone = _below_any(current, [k for k in current if stale(k) and k not in docs])
        self._delete(owner, region, current, [k for k in gone if k not in docs],
                     transaction_id)

    def remove(self, owner: str, region: str, doomed: Keep, transaction_id: str = "") -> int:
        current = self.read(owner, region, transaction_id)
        gone = _below_any(current, [k for k in current if doomed(k)])
        return self._delete(owner, region, current, gone, transaction_id)

    def _put(self, owner: str, region: str, child_key: str, doc: dict,
             transaction_id: str) -> None:
        path = _path(owner, region, child_key)
        found = self.objects.get(path, transaction_id)
        if found is not None and own_fields(found) == own_fields(found | doc):
            return  # A&AI holds it already: running twice changes nothing
        # Its own fields only: children sent without their resource-versions
        # would be refused (412); they are written at their own paths.
        merged = {**own_fields(found or {}), **doc}
        if found is not None and RESOURCE_VERSION in found:
            merged[RESOURCE_VERSION] = found[RESOURCE_VERSION]
        self.objects.put(path, merged, transaction_id)

    def _delete(self, owner: str, region: str, current: dict[str, dict], keys: list[str],
                transaction_id: str) -> int:
        removed = 0
        for child_key in sorted(keys, key=lambda k: (-depth(k), k)):  # deepest first
            path = _path(owner, region, child_key)
            version = (current.get(child_key) or {}).get(RESOURCE_VERSION)
            if version is None:  # read without one (a nested answer): ask for it
                found = self.objects.get(path, transaction_id)
                if found is None:
                    continue
                version = found.get(RESOURCE_VERSION, "")
            removed += self.objects.delete(path, str(version), transaction_id)
        return removed


def _region_path(owner: str, region: str) -> str:
    return "cloud-regions/cloud-region/" + key(owner, region)


def _path(owner: str, region: str, child_key: str) -> str:
    """The path below /cloud-infrastructure/ of a child's key."""
    if child_key.startswith("pservers/"):
        return child_key
    return _region_path(owner, region) + "/" + child_key


def _related_pservers(docs: dict[str, dict]) -> set[str]:
    hosts = set()
    for child_key, doc in docs.items():
        if not child_key.startswith("availability-zones/"):
            continue
        for relation in (doc.get("relationship-list") or {}).get("relationship") or []:
            if isinstance(relation, dict) and relation.get("related-to") == "pserver":
                for data in relation.get("relationship-data") or []:
                    if isinstance(data, dict) and \
                            data.get("relationship-key") == "pserver.hostname":
                        hosts.add(str(data.get("relationship-value")))
    return hosts


def region_children(conf, store: ChildRows | None) -> RegionChildren:
    """Where the plugin records children: A&AI when it is the inventory, else
    the broker's own store (`store`, the sqlite or PostgreSQL one)."""
    if conf.inventory.backend == "aai":
        from multicloud_broker.inventory.aai import AaiObjects
        return AaiChildren(AaiObjects(conf), conf.aai.schema_version)
    assert store is not None
    return StoreChildren(store, conf.aai.schema_version)
