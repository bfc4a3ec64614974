"""Resource declarations: which MultiCloud resources a plugin exposes, read
from YAML files, one resource per file, checked when they are loaded.

A declaration says how one MultiCloud resource (``networks``, ``servers``,
...) is served by a cloud: the cloud's service and collection, and how every
MultiCloud field is found in, and written to, the cloud's JSON documents.
The plugin reads the built-in declarations (``plugin/openstack/declarations``)
and then the operators' directories, in order: a later file replaces a
resource of the same name, or adds a new one. ``declarations/README.md``
describes the format for operators; this docstring is the reference.

The native format
=================

Top level (``*`` = required)::

    resource: networks        * MultiCloud name, plural: the path segment
    singular: network         * one item (operation ids, path parameter name)
    list_key: networks          key of the list in the MultiCloud list answer
                                (default: the resource name)
    description: ...            free text
    operations: [list, get, create, delete]   * any of list, get, create,
                                delete, update
    scope: tenant               tenant (``/{vimid}/{tenantid}/networks``, the
                                default) or region (``/{vimid}/tenants``)
    singleton: false            true: the collection path answers one
                                document and ``get`` is the only operation
                                (``limits``)
    id_field: id                the MultiCloud field named by the path's
                                ``{id}`` (``name`` for hosts)
    match_on: [name]            on create, an existing resource whose fields
                                all equal the request's is answered instead
                                (``returnCode`` 0); default ``[name]`` when
                                the resource has create and a ``name`` field
                                with a source
    hook: servers               names code for what the declaration cannot
                                say; the executor resolves the name
    cloud:                    * the cloud side:
      service: network        *   service type, as in the Keystone catalog
      path: /v2.0/networks    *   collection path, relative to the service
                                  endpoint; an item is ``{path}/{id}``
      list_path: /servers/detail  the list's path when it is not ``path``
      list_key: networks          key of the list in the cloud's list answer
                                  (required with ``list``)
      item_key: network       *   key of the item in the cloud's item answers
                                  and create bodies; ``null`` when the item is
                                  the document itself (Glance)
      name_filter: name           query parameter that finds items by name;
                                  ``null``: the list is filtered here
                                  (default ``name``)
      tenant_filter: project_id   query parameter carrying the tenant id on
                                  every list (default: none)
      list_query: [limit, marker] MultiCloud list query parameters passed on
                                  to the cloud unchanged
    fields:                   * MultiCloud field name -> field

A field::

    type: integer             * string, integer, number, boolean, object,
                                array
    source: provider:segmentation_id
                                path in the cloud document, both ways: keys
                                separated by ``.``, a key may hold ``:`` or
                                ``-``, ``[n]`` indexes an array
                                (``fixed_ips[0].ip_address``)
    create_source: flavorRef    path used on create instead of ``source``;
                                ``null``: validated on create but not sent
                                (a hook uses it)
    description: ...
    required: true              required on create (null and "" count as
                                missing)
    default: 0                  used on create when the request has no value,
                                and answered when the cloud has none
                                (a null default is never sent)
    answer_default: null        answered when the cloud has no value (wins
                                over ``default`` on the answer side)
    minimum: 0                  numbers only; also ``maximum``
    enum: [flat, vlan]
    read_only: true             answered, never taken from a request
    write_only: true            taken from a request and sent, never answered
    aliases: [networkName]      other names a request may use for the field
    fields: {...}               type object: the object's own fields, their
                                paths relative to the object
    items: {...}                type array: the elements, a field without
                                name (``type``, ``source``: the path inside
                                each cloud element for a scalar element,
                                ``fields`` for objects, ``enum``, ...)
    pairs: {key: keyName, value: value}
                                type array: the MultiCloud list of
                                ``{keyName, value}`` objects is the cloud's
                                object (``extra_specs``); a request may give
                                the object itself

A field with neither ``source`` nor ``create_source`` is local: validated on
create, never sent, answered only through its default (or by a hook).

ONAP VIO's format
=================

A file with ``paths`` and ``definitions`` is read as VMware VIO's API
definition (``vio/api_v2/api_definition``): one path
``/{vimid}/{tenantid}/<resource>/{id}`` whose ``get``, ``get_all`` (= list),
``post`` (= create) and ``delete`` keys are the operations and whose
``vim_path`` is ``/<service type><collection path>``; one definition with
``vim_resource`` (item key), ``plural_vim_resource`` (cloud list key),
``plural`` (MultiCloud list key) and ``properties``, each with a ``source``
``<vim_resource>.<path>``, optional ``type``, ``required``, ``default``
(answer side only, as VIO does; the string ``None`` is null) and
``minimal`` (= minimum). As VIO does, values are not checked on create
(only the presence of required fields), every property may be sent, no
query goes to the cloud (``name_filter`` is null), and a create looks for
an existing item by ``name`` when the resource has that field.
Glance is the one service whose items are not wrapped: VIO's ``image``
item key is dropped for the ``image`` service.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

TYPES = ("string", "integer", "number", "boolean", "object", "array")
OPERATIONS = ("list", "get", "create", "delete", "update")
SCOPES = ("tenant", "region")
BUILTIN_DIR = Path(__file__).resolve().parent / "openstack" / "declarations"

_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_HOOK = re.compile(r"[a-z][a-z0-9_]*")
_SERVICE = re.compile(r"[a-z][a-z0-9_-]*")
_CLOUD_PATH = re.compile(r"(/[A-Za-z0-9._~:@!$&'()*+,;=-]+)+")
_STEP = re.compile(r"([^.\[\]\s]+)((?:\[\d+\])*)")


class _Missing:
    """The absence of a value (a default that was not declared)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __deepcopy__(self, memo: dict) -> _Missing:
        return self


MISSING: Any = _Missing()


class DeclarationError(ValueError):
    """A declaration file that cannot be used; ``str()`` is one line:
    ``<file>: <where>: <what>``."""

    def __init__(self, file: str, where: str, message: str):
        self.file = str(file)
        self.where = where
        self.message = " ".join(str(message).split())
        text = f"{self.file}: {where}: {self.message}" if where else f"{self.file}: {self.message}"
        super().__init__(text)


# -- source paths ---------------------------------------------------------------


@dataclass(frozen=True)
class SourcePath:
    """A path into a cloud document: keys and array indexes, in order."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: object) -> SourcePath:
        """The path of ``text``; ValueError says what is wrong with it."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"must be a non-empty string (got {text!r})")
        steps: list[str | int] = []
        for part in text.split("."):
            match = _STEP.fullmatch(part)
            if not match:
                raise ValueError(f"bad path {text!r}: each part is a key, optionally "
                                 "followed by [n] indexes (e.g. fixed_ips[0].subnet_id)")
            steps.append(match.group(1))
            steps.extend(int(n) for n in re.findall(r"\[(\d+)\]", match.group(2)))
        return cls(text, tuple(steps))

    def __str__(self) -> str:
        return self.text

    def get(self, doc: Any) -> tuple[bool, Any]:
        """(True, value) at this path in ``doc``, or (False, None) when any
        step is missing or is not the container the path expects."""
        steps = self.steps
        if len(steps) == 1:  # most fields: one key (a path starts with a key)
            if isinstance(doc, dict) and steps[0] in doc:
                return True, doc[steps[0]]
            return False, None
        node = doc
        for step in steps:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return False, None
            elif not isinstance(node, dict) or step not in node:
                return False, None
            node = node[step]
        return True, node

    def put(self, doc: dict, value: Any) -> None:
        """Set the value at this path in ``doc``, making the objects and
        arrays on the way (missing lower array elements are ``{}`` on the
        way, ``null`` at the end)."""
        node: Any = doc
        for step, following in zip(self.steps, self.steps[1:], strict=False):
            container = list if isinstance(following, int) else dict
            if isinstance(step, int):
                while len(node) <= step:
                    node.append({})
                child = node[step]
            else:
                child = node.get(step)
            if not isinstance(child, container):
                child = container()
                node[step] = child
            node = child
        last = self.steps[-1]
        if isinstance(last, int):
            while len(node) <= last:
                node.append(None)
        node[last] = value

    def overlaps(self, other: SourcePath) -> bool:
        """Whether writing both paths would write one inside the other."""
        n = min(len(self.steps), len(other.steps))
        return self.steps[:n] == other.steps[:n]


# -- the model ------------------------------------------------------------------


@dataclass(frozen=True)
class Pairs:
    """A MultiCloud list of ``{key: ..., value: ...}`` objects that is an
    object in the cloud document."""

    key: str
    value: str


@dataclass(frozen=True)
class Field:
    """One MultiCloud field and where the cloud keeps it.

    ``source`` is read for answers; ``create_path`` is written on create
    (``None``: not sent). An array's ``items`` is a Field too (named
    ``[]``), whose ``source`` is the path inside each cloud element."""

    name: str
    type: str | None
    source: SourcePath | None = None
    create_path: SourcePath | None = None
    description: str = ""
    required: bool = False
    default: Any = MISSING
    answer_default: Any = MISSING
    minimum: int | float | None = None
    maximum: int | float | None = None
    enum: tuple[Any, ...] | None = None
    read_only: bool = False
    write_only: bool = False
    aliases: tuple[str, ...] = ()
    fields: tuple[Field, ...] | None = None
    items: Field | None = None
    pairs: Pairs | None = None

    @property
    def answered(self) -> bool:
        """Whether answers carry this field (when it has a value)."""
        return not self.write_only

    @property
    def accepted(self) -> bool:
        """Whether a create request may give this field."""
        return not self.read_only

    def answer_fallback(self) -> Any:
        """What an answer says when the cloud has no value (MISSING: nothing)."""
        value = self.answer_default if self.answer_default is not MISSING else self.default
        if value is MISSING or value is None or isinstance(value, (str, int, float)):
            return value  # nothing to copy (asked for each field a cloud item lacks)
        return copy.deepcopy(value)


@dataclass(frozen=True)
class CloudSide:
    """Where the cloud keeps a resource."""

    service: str
    path: str
    item_key: str | None
    list_key: str | None = None
    list_path: str | None = None
    name_filter: str | None = "name"
    tenant_filter: str | None = None
    list_query: tuple[str, ...] = ()

    @property
    def collection_path(self) -> str:
        """The path listed: ``list_path`` or ``path``."""
        return self.list_path or self.path

    def item_path(self, item_id: str) -> str:
        """The path of one item (its id quoted as one path segment)."""
        return f"{self.path}/{quote(str(item_id), safe='')}"


@dataclass(frozen=True)
class Resource:
    """One MultiCloud resource as declared (see the module docstring)."""

    name: str
    singular: str
    list_key: str
    operations: tuple[str, ...]
    cloud: CloudSide
    fields: tuple[Field, ...]
    scope: str = "tenant"
    singleton: bool = False
    id_field: str = "id"
    match_on: tuple[str, ...] = ()
    hook: str | None = None
    description: str = ""
    check_values: bool = True
    origin: str = ""
    format: str = "native"

    def field(self, name: str) -> Field | None:
        """The top-level field called ``name`` (not an alias), or None."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def validate(self, body: Any, *, partial: bool = False) -> dict:
        """The create (or, ``partial``, update) request checked: canonical
        names, converted values, defaults; RequestError if it is wrong."""
        from multicloud_broker.plugin.convert import validate
        return validate(self, body, partial=partial)

    def to_cloud(self, body: Any, *, partial: bool = False) -> dict:
        """The cloud document for a MultiCloud create (or update) body."""
        from multicloud_broker.plugin.convert import to_cloud
        return to_cloud(self, body, partial=partial)

    def from_cloud(self, doc: Any) -> dict:
        """The MultiCloud view of one cloud document; never raises."""
        from multicloud_broker.plugin.convert import from_cloud
        return from_cloud(self, doc)

    def wrap(self, doc: dict) -> dict:
        """A cloud request body: the document under ``item_key`` (if any)."""
        return {self.cloud.item_key: doc} if self.cloud.item_key else doc

    def unwrap(self, answer: Any) -> Any:
        """The item in a cloud item answer (None when it is not there)."""
        if self.cloud.item_key is None:
            return answer
        return answer.get(self.cloud.item_key) if isinstance(answer, dict) else None

    def unwrap_list(self, answer: Any) -> list:
        """The items of a cloud list answer ([] when it has none)."""
        items = answer.get(self.cloud.list_key) if isinstance(answer, dict) else None
        return items if isinstance(items, list) else []


# -- loading --------------------------------------------------------------------


def load_declarations(dirs: Sequence[Path]) -> dict[str, Resource]:
    """Every ``*.yaml`` / ``*.yml`` of each directory, by resource name; a
    later directory's resource replaces an earlier one of the same name.
    DeclarationError on the first bad file (or a missing directory)."""
    resources: dict[str, Resource] = {}
    for directory in dirs:
        directory = Path(directory)
        if not directory.is_dir():
            raise DeclarationError(str(directory), "", "not a directory")
        here: dict[str, Resource] = {}
        files = sorted(p for p in directory.iterdir()
                       if p.suffix in (".yaml", ".yml") and p.is_file())
        for path in files:
            resource = load_file(path)
            if resource.name in here:
                raise DeclarationError(str(path), "resource", (
                    f"{resource.name!r} is already declared by {here[resource.name].origin}"))
            here[resource.name] = resource
        resources.update(here)
    return resources


def load_builtin() -> dict[str, Resource]:
    """The declarations shipped with the OpenStack plugin."""
    return load_declarations([BUILTIN_DIR])


def load_file(path: Path) -> Resource:
    """One declaration file, native or VIO format."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeclarationError(str(path), "", f"cannot read: {exc}") from None
    return parse_declaration(text, str(path))


def parse_declaration(text: str, file: str = "<declaration>") -> Resource:
    """One declaration from its YAML text; ``file`` names it in errors."""
    data = _load_yaml(text, file)
    if not isinstance(data, dict):
        raise DeclarationError(file, "", f"must be a mapping (got {_kind(data)})")
    if "paths" in data and "definitions" in data:
        return _VioReader(file).resource(data)
    return _NativeReader(file).resource(data)


def _load_yaml(text: str, file: str) -> Any:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise DeclarationError(file, _yaml_where(exc), _yaml_problem(exc)) from None
    if node is None:
        raise DeclarationError(file, "", "empty file")
    _no_duplicate_keys(node, "", file)
    try:
        return yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        raise DeclarationError(file, _yaml_where(exc), _yaml_problem(exc)) from None


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    text = problem or str(exc)
    if context:
        text = f"{context}: {text}"
    return f"not valid YAML: {text}"


def _no_duplicate_keys(node: yaml.Node, where: str, file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            child = f"{where}.{name}" if where else str(name)
            if name is not None and name in seen:
                raise DeclarationError(file, child, (
                    f"duplicate key (lines {seen[name]} and {key.start_mark.line + 1})"))
            if name is not None:
                seen[name] = key.start_mark.line + 1
            _no_duplicate_keys(value, child, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            _no_duplicate_keys(value, f"{where}[{index}]", file)


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value),
                                                                         type(value).__name__)


def _join(words: Iterable[str]) -> str:
    return ", ".join(words)


# -- checking values against a field (shared by the loader and convert) ---------


def check_value(f: Field, value: Any, label: str) -> Any:
    """``value`` converted to ``f``'s type and checked (enum, bounds, nested
    fields), as a request's value is; RequestError (a ValueError) naming
    ``label``. The loader checks declared defaults and enums with it."""
    from multicloud_broker.plugin.convert import check_value as check
    return check(f, value, label)


# -- the native format ----------------------------------------------------------

_TOP_KEYS = ("resource", "singular", "list_key", "description", "operations", "scope",
             "singleton", "id_field", "match_on", "hook", "cloud", "fields")
_TOP_REQUIRED = ("resource", "singular", "operations", "cloud", "fields")
_CLOUD_KEYS = ("service", "path", "list_path", "list_key", "item_key", "name_filter",
               "tenant_filter", "list_query")
_CLOUD_REQUIRED = ("service", "path", "item_key")
_FIELD_KEYS = ("type", "source", "create_source", "description", "required", "default",
               "answer_default", "minimum", "maximum", "enum", "read_only", "write_only",
               "aliases", "fields", "items", "pairs")
_ITEM_KEYS = ("type", "source", "description", "minimum", "maximum", "enum", "fields",
              "items", "pairs")


class _Reader:
    """Shared checks; every failure is a DeclarationError naming the file."""

    def __init__(self, file: str):
        self.file = file

    def fail(self, where: str, message: str) -> DeclarationError:
        return DeclarationError(self.file, where, message)

    def mapping(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping (got {_kind(value)})")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where, f"keys must be strings (got {key!r})")
        return value

    def keys(self, value: dict, where: str, allowed: Sequence[str],
             required: Sequence[str] = ()) -> None:
        for key in value:
            if key not in allowed:
                raise self.fail(_at(where, key),
                                f"unknown key (expected one of {_join(allowed)})")
        for key in required:
            if key not in value:
                raise self.fail(_at(where, key), "required key is missing")

    def string(self, value: Any, where: str, pattern: re.Pattern[str] | None = None,
               hint: str = "") -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty string (got {_kind(value)})")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(where, f"{hint} (got {value!r})")
        return value

    def opt_string(self, data: dict, key: str, where: str, default: str | None = None,
                   pattern: re.Pattern[str] | None = None, hint: str = "") -> str | None:
        if key not in data or data[key] is None:
            return default if key not in data else None
        return self.string(data[key], _at(where, key), pattern, hint)

    def boolean(self, data: dict, key: str, where: str, default: bool = False) -> bool:
        if key not in data:
            return default
        if not isinstance(data[key], bool):
            raise self.fail(_at(where, key), f"must be true or false (got {data[key]!r})")
        return data[key]

    def number(self, data: dict, key: str, where: str) -> int | float | None:
        if key not in data or data[key] is None:
            return None
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(_at(where, key), f"must be a number (got {value!r})")
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list (got {_kind(value)})")
        for index, item in enumerate(value):
            self.string(item, f"{where}[{index}]")
        return tuple(value)

    def path(self, value: Any, where: str) -> SourcePath:
        try:
            return SourcePath.parse(value)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    def type_name(self, value: Any, where: str) -> str:
        if value not in TYPES:
            raise self.fail(where, f"must be one of {_join(TYPES)} (got {value!r})")
        return value

    def default_value(self, f: Field, value: Any, where: str) -> Any:
        """A declared default, checked as a request value would be."""
        if value is None:
            return None
        try:
            return check_value(f, copy.deepcopy(value), f.name)
        except ValueError as exc:
            raise self.fail(where, f"not a valid value: {exc}") from None

    def unique_names(self, fields: Sequence[Field], where: str) -> None:
        seen: dict[str, str] = {}
        for f in fields:
            for name in (f.name, *f.aliases):
                if name in seen:
                    what = "field" if seen[name] == name else f"alias of {seen[name]}"
                    raise self.fail(_at(where, f.name), (
                        f"MultiCloud name {name!r} is already used (by {what})"))
                seen[name] = f.name

    def no_overlap(self, fields: Sequence[Field], where: str) -> None:
        """No two fields write into each other on create (or read the
        same place with different meanings)."""
        written = [(f, f.create_path) for f in fields if f.create_path is not None
                   and f.accepted]
        for i, (a, pa) in enumerate(written):
            for b, pb in written[i + 1:]:
                if pa.overlaps(pb):
                    raise self.fail(_at(_at(where, b.name), "source"), (
                        f"{pb} overlaps {pa}, written by field {a.name}"))

    def resource_checks(self, res: dict[str, Any], where_fields: str) -> None:
        """Checks that need the whole resource (native and VIO alike)."""
        fields: tuple[Field, ...] = res["fields"]
        names = {f.name for f in fields}
        ops = res["operations"]
        if res["singleton"] and set(ops) != {"get"}:
            raise self.fail("operations", "a singleton has exactly one operation: get")
        if not res["singleton"] and set(ops) & {"get", "delete", "update"} \
                and res["id_field"] not in names:
            raise self.fail("id_field", f"no field {res['id_field']!r} is declared")
        if "list" in ops and not res["cloud"].list_key:
            raise self.fail("cloud.list_key", "required key is missing (the resource has list)")
        for index, name in enumerate(res["match_on"]):
            f = next((f for f in fields if f.name == name), None)
            if f is None:
                raise self.fail(f"match_on[{index}]", f"no field {name!r} is declared")
            if f.source is None:
                raise self.fail(f"match_on[{index}]", f"field {name!r} has no source")
        self.no_overlap(fields, where_fields)


def _at(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


class _NativeReader(_Reader):

    def resource(self, data: dict) -> Resource:
        self.keys(data, "", _TOP_KEYS, _TOP_REQUIRED)
        name = self.string(data["resource"], "resource", _NAME,
                           "must be lower case letters, digits, _ and -")
        singular = self.string(data["singular"], "singular", _NAME,
                               "must be lower case letters, digits, _ and -")
        list_key = self.opt_string(data, "list_key", "", default=name) or name
        description = self.opt_string(data, "description", "", default="") or ""
        ops = self.operations(data["operations"])
        scope = self.opt_string(data, "scope", "", default="tenant") or "tenant"
        if scope not in SCOPES:
            raise self.fail("scope", f"must be one of {_join(SCOPES)} (got {scope!r})")
        singleton = self.boolean(data, "singleton", "")
        id_field = self.opt_string(data, "id_field", "", default="id") or "id"
        hook = self.opt_string(data, "hook", "", pattern=_HOOK,
                               hint="must be lower case letters, digits and _")
        cloud = self.cloud(data["cloud"])
        fields = self.fields(data["fields"], "fields")
        if not fields:
            raise self.fail("fields", "declares no field")
        if "match_on" in data and data["match_on"] is not None:
            match_on = self.strings(data["match_on"], "match_on")
        else:
            has_name = any(f.name == "name" and f.source is not None for f in fields)
            match_on = ("name",) if "create" in ops and has_name else ()
        res = dict(fields=fields, operations=ops, singleton=singleton, id_field=id_field,
                   cloud=cloud, match_on=match_on)
        self.resource_checks(res, "fields")
        return Resource(name=name, singular=singular, list_key=list_key, operations=ops,
                        cloud=cloud, fields=fields, scope=scope, singleton=singleton,
                        id_field=id_field, match_on=match_on, hook=hook,
                        description=description, check_values=True, origin=self.file,
                        format="native")

    def operations(self, value: Any) -> tuple[str, ...]:
        ops = self.strings(value, "operations")
        if not ops:
            raise self.fail("operations", "declares no operation")
        for index, op in enumerate(ops):
            if op not in OPERATIONS:
                raise self.fail(f"operations[{index}]",
                                f"must be one of {_join(OPERATIONS)} (got {op!r})")
        if len(set(ops)) != len(ops):
            raise self.fail("operations", "lists an operation twice")
        return tuple(op for op in OPERATIONS if op in ops)

    def cloud(self, value: Any) -> CloudSide:
        data = self.mapping(value, "cloud")
        self.keys(data, "cloud", _CLOUD_KEYS, _CLOUD_REQUIRED)
        service = self.string(data["service"], "cloud.service", _SERVICE,
                              "must be a catalog service type such as network or volumev3")
        hint = "must be an absolute path such as /v2.0/networks, without query or {}"
        path = self.string(data["path"], "cloud.path", _CLOUD_PATH, hint)
        list_path = self.opt_string(data, "list_path", "cloud", pattern=_CLOUD_PATH, hint=hint)
        list_key = self.opt_string(data, "list_key", "cloud")
        item_key = self.opt_string(data, "item_key", "cloud")
        name_filter = self.opt_string(data, "name_filter", "cloud", default="name")
        tenant_filter = self.opt_string(data, "tenant_filter", "cloud")
        list_query: tuple[str, ...] = ()
        if data.get("list_query") is not None:
            list_query = self.strings(data["list_query"], "cloud.list_query")
        return CloudSide(service=service, path=path, item_key=item_key, list_key=list_key,
                         list_path=list_path, name_filter=name_filter,
                         tenant_filter=tenant_filter, list_query=list_query)

    def fields(self, value: Any, where: str) -> tuple[Field, ...]:
        data = self.mapping(value, where)
        fields = tuple(self.field(name, raw, _at(where, name)) for name, raw in data.items())
        self.unique_names(fields, where)
        return fields

    def field(self, name: str, raw: Any, where: str) -> Field:
        data = self.mapping(raw, where)
        self.keys(data, where, _FIELD_KEYS, ("type",))
        ftype = self.type_name(data["type"], _at(where, "type"))
        source = None
        if data.get("source") is not None:
            source = self.path(data["source"], _at(where, "source"))
        create_path = source
        if "create_source" in data:
            create_path = None
            if data["create_source"] is not None:
                create_path = self.path(data["create_source"], _at(where, "create_source"))
        required = self.boolean(data, "required", where)
        read_only = self.boolean(data, "read_only", where)
        write_only = self.boolean(data, "write_only", where)
        if read_only and (required or write_only):
            other = "required" if required else "write_only"
            raise self.fail(_at(where, "read_only"), f"a read-only field cannot be {other}")
        if read_only and data.get("create_source") is not None:
            raise self.fail(_at(where, "create_source"), "a read-only field is never sent")
        if required and data.get("default") is not None:
            raise self.fail(_at(where, "default"), "a required field cannot have a default")
        if read_only:
            create_path = None
        aliases: tuple[str, ...] = ()
        if data.get("aliases") is not None:
            aliases = self.strings(data["aliases"], _at(where, "aliases"))
        shape = self.shape(ftype, data, where)
        f = Field(name=name, type=ftype, source=source, create_path=create_path,
                  description=self.opt_string(data, "description", where, default="") or "",
                  required=required, read_only=read_only, write_only=write_only,
                  aliases=aliases, **shape)
        defaults = {}
        for key in ("default", "answer_default"):
            if key in data:
                defaults[key] = self.default_value(f, data[key], _at(where, key))
        if defaults:
            f = replace(f, **defaults)
        return f

    def shape(self, ftype: str, data: dict, where: str) -> dict[str, Any]:
        """type-dependent keys: enum, bounds, fields, items, pairs."""
        out: dict[str, Any] = {}
        for key in ("minimum", "maximum"):
            if data.get(key) is not None:
                if ftype not in ("integer", "number"):
                    raise self.fail(_at(where, key), f"only integers and numbers have a {key}")
                out[key] = self.number(data, key, where)
        if "minimum" in out and "maximum" in out and out["minimum"] > out["maximum"]:
            raise self.fail(_at(where, "maximum"), "is below the minimum")
        if data.get("enum") is not None:
            enum = data["enum"]
            if not isinstance(enum, list) or not enum:
                raise self.fail(_at(where, "enum"), "must be a non-empty list")
            if ftype in ("object", "array"):
                raise self.fail(_at(where, "enum"), f"an {ftype} has no enum")
            probe = Field(name="enum", type=ftype)
            for index, item in enumerate(enum):
                try:
                    check_value(probe, item, "value")
                except ValueError as exc:
                    raise self.fail(f"{_at(where, 'enum')}[{index}]", str(exc)) from None
            out["enum"] = tuple(enum)
        if data.get("fields") is not None:
            if ftype != "object":
                raise self.fail(_at(where, "fields"), "only an object has fields")
            out["fields"] = self.fields(data["fields"], _at(where, "fields"))
            self.no_overlap(out["fields"], _at(where, "fields"))
        if data.get("pairs") is not None:
            if ftype != "array":
                raise self.fail(_at(where, "pairs"), "only an array has pairs")
            if data.get("items") is not None:
                raise self.fail(_at(where, "pairs"), "an array has either items or pairs")
            pairs = self.mapping(data["pairs"], _at(where, "pairs"))
            self.keys(pairs, _at(where, "pairs"), ("key", "value"), ("key", "value"))
            key = self.string(pairs["key"], _at(where, "pairs.key"))
            val = self.string(pairs["value"], _at(where, "pairs.value"))
            if key == val:
                raise self.fail(_at(where, "pairs.value"), "must differ from pairs.key")
            out["pairs"] = Pairs(key, val)
        if data.get("items") is not None:
            if ftype != "array":
                raise self.fail(_at(where, "items"), "only an array has items")
            out["items"] = self.item(data["items"], _at(where, "items"))
        return out

    def item(self, raw: Any, where: str) -> Field:
        data = self.mapping(raw, where)
        self.keys(data, where, _ITEM_KEYS, ("type",))
        itype = self.type_name(data["type"], _at(where, "type"))
        source = None
        if data.get("source") is not None:
            if itype in ("object", "array"):
                raise self.fail(_at(where, "source"), (
                    "only a scalar element has a source (an object's fields have theirs)"))
            source = self.path(data["source"], _at(where, "source"))
        return Field(name="[]", type=itype, source=source, create_path=source,
                     description=self.opt_string(data, "description", where, default="") or "",
                     **self.shape(itype, data, where))


# -- ONAP VIO's format ------------------------------------------------------------

_VIO_OPS = {"get_all": "list", "get": "get", "post": "create", "delete": "delete"}
_VIO_PATH = re.compile(r"/\{[^/{}]+\}/\{[^/{}]+\}/([A-Za-z0-9_-]+)(?:/\{[^/{}]+\})?/?")
_VIO_VIM_PATH = re.compile(r"/([a-z][a-z0-9_-]*)(/.+)")


def _vio_default(value: Any) -> Any:
    """VIO's reading of a default: the strings None, true, false."""
    return {"None": None, "true": True, "false": False}.get(value, value) \
        if isinstance(value, str) else value


class _VioReader(_Reader):

    def resource(self, data: dict) -> Resource:
        paths = self.mapping(data["paths"], "paths")
        if len(paths) != 1:
            raise self.fail("paths", f"must hold exactly one path (got {len(paths)})")
        path, meta = next(iter(paths.items()))
        where = f"paths.{path}"
        match = _VIO_PATH.fullmatch(path)
        if not match:
            raise self.fail(where, "must be /{vimid}/{tenantid}/<resource>[/{id}]")
        name = match.group(1)
        meta = self.mapping(meta, where)
        ops = tuple(op for key, op in _VIO_OPS.items() if key in meta)
        ops = tuple(op for op in OPERATIONS if op in ops)
        if not ops:
            raise self.fail(where, "declares none of get, get_all, post, delete")
        if "vim_path" not in meta:
            raise self.fail(_at(where, "vim_path"), "required key is missing")
        vim_path = self.string(meta["vim_path"], _at(where, "vim_path"))
        split = _VIO_VIM_PATH.fullmatch(vim_path)
        if not split or not _CLOUD_PATH.fullmatch(split.group(2)):
            raise self.fail(_at(where, "vim_path"),
                            f"must be /<service type>/<path> (got {vim_path!r})")
        service, cloud_path = split.group(1), split.group(2)

        definitions = self.mapping(data["definitions"], "definitions")
        if len(definitions) != 1:
            raise self.fail("definitions",
                            f"must hold exactly one definition (got {len(definitions)})")
        singular, rmeta = next(iter(definitions.items()))
        dwhere = f"definitions.{singular}"
        rmeta = self.mapping(rmeta, dwhere)
        for key in ("vim_resource", "properties") + (
                ("plural", "plural_vim_resource") if "list" in ops else ()):
            if key not in rmeta:
                raise self.fail(_at(dwhere, key), "required key is missing")
        vim_resource = self.string(rmeta["vim_resource"], _at(dwhere, "vim_resource"))
        list_key = self.opt_string(rmeta, "plural", dwhere, default=name) or name
        cloud_list_key = self.opt_string(rmeta, "plural_vim_resource", dwhere)
        props = self.mapping(rmeta["properties"], _at(dwhere, "properties"))
        fields = tuple(self.field(pname, raw, f"{dwhere}.properties.{pname}", vim_resource)
                       for pname, raw in props.items())
        if not fields:
            raise self.fail(_at(dwhere, "properties"), "declares no property")
        self.unique_names(fields, f"{dwhere}.properties")
        # Glance answers (and takes) the image itself, not {"image": {...}}.
        item_key = None if service == "image" else vim_resource
        # VIO sends no query: a name is looked for in the whole list.
        cloud = CloudSide(service=service, path=cloud_path, item_key=item_key,
                          list_key=cloud_list_key, name_filter=None)
        has_name = any(f.name == "name" for f in fields)
        match_on = ("name",) if "create" in ops and has_name else ()
        id_field = "id" if any(f.name == "id" for f in fields) else "name"
        res = dict(fields=fields, operations=ops, singleton=False, id_field=id_field,
                   cloud=cloud, match_on=match_on)
        self.resource_checks(res, f"{dwhere}.properties")
        description = data.get("info", {}).get("description", "") \
            if isinstance(data.get("info"), dict) else ""
        return Resource(name=name, singular=str(singular), list_key=list_key, operations=ops,
                        cloud=cloud, fields=fields, scope="tenant", singleton=False,
                        id_field=id_field, match_on=match_on, hook=None,
                        description=str(description or ""), check_values=False,
                        origin=self.file, format="vio")

    def field(self, name: str, raw: Any, where: str, vim_resource: str) -> Field:
        data = self.mapping(raw, where)
        if "source" not in data:
            raise self.fail(_at(where, "source"), "required key is missing")
        source_text = self.string(data["source"], _at(where, "source"))
        head, _, rest = source_text.partition(".")
        if head != vim_resource or not rest:
            raise self.fail(_at(where, "source"), (
                f"must be {vim_resource}.<path> (got {source_text!r})"))
        source = self.path(rest, _at(where, "source"))
        ftype = None
        if data.get("type") is not None:
            ftype = self.type_name(data["type"], _at(where, "type"))
        minimum = None
        if data.get("minimal") is not None:
            minimum = self.number(data, "minimal", where)
        answer_default = MISSING
        if "default" in data:
            answer_default = _vio_default(data["default"])
        if "action" in data:
            self.string(data["action"], _at(where, "action"))
        return Field(name=name, type=ftype, source=source, create_path=source,
                     description=str(data.get("description") or ""),
                     required=self.boolean(data, "required", where), minimum=minimum,
                     answer_default=answer_default)
