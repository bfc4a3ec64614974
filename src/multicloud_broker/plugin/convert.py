"""The field mapping of a declared resource, both ways.

``to_cloud`` takes a MultiCloud create (or update) body, checks it against
the declared fields and builds the cloud document; ``from_cloud`` makes the
MultiCloud view of a cloud document. Requests are checked strictly (a bad
one raises RequestError, which names the field); cloud documents are read
leniently (a value of an unexpected type is answered as it is, a missing
one gives the declared default or is left out).

Values a request may give, by declared type (ONAP's clients send both forms
of integers and booleans; the simulated cloud accepts the same):

- string: a JSON string;
- integer: a JSON integer (or an integral number), or a decimal string;
- number: a JSON number;
- boolean: true/false, 0/1, or the strings "true"/"false" (any case);
- object: a JSON object; array: a JSON array.

A null value counts as not given, and so does "" for a required field.
Fields a request gives that are not declared (or are read-only) are
ignored. Resources read from ONAP VIO's format are not checked beyond the
presence of required fields (VIO passes values on unchanged).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from multicloud_broker.plugin.declarations import MISSING, Field

if TYPE_CHECKING:  # pragma: no cover
    from multicloud_broker.plugin.declarations import Resource

_INTEGER = re.compile(r"[+-]?[0-9]+")


class RequestError(ValueError):
    """A MultiCloud request body that does not fit the declaration.

    ``field`` is the field's path in the body (``hostRoutes[1].nexthop``);
    the message names it too (``segmentationId must be an integer``)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


# -- requests -------------------------------------------------------------------


def validate(resource: Resource, body: Any, *, partial: bool = False) -> dict:
    """The request body checked and normalised: canonical field names
    (aliases resolved), converted values, defaults applied (not when
    ``partial``, an update's body), undeclared and read-only fields dropped."""
    if not isinstance(body, dict):
        raise RequestError("", "the request body must be a JSON object")
    return _check_fields(resource.fields, copy.deepcopy(body), "", partial,
                         strict=resource.check_values)


def to_cloud(resource: Resource, body: Any, *, partial: bool = False) -> dict:
    """The cloud document for a create (or update) body: every field with a
    create path, at that path. RequestError if the body is wrong."""
    return _build(resource.fields, validate(resource, body, partial=partial))


def check_value(f: Field, value: Any, label: str) -> Any:
    """One given (non-null) value checked against ``f`` and converted:
    type, enum, bounds, and the fields or items inside it."""
    if f.pairs is not None:
        return _check_pairs(f, value, label)
    value = _coerce(f.type, value, label)
    if f.enum is not None and not any(_same(value, choice) for choice in f.enum):
        raise RequestError(label, f"{label} must be one of "
                                  f"{', '.join(str(c) for c in f.enum)}")
    if f.minimum is not None and value < f.minimum:
        raise RequestError(label, f"{label} must be at least {f.minimum}")
    if f.maximum is not None and value > f.maximum:
        raise RequestError(label, f"{label} must be at most {f.maximum}")
    if f.fields is not None:
        return _check_fields(f.fields, value, f"{label}.", False, strict=True)
    if f.items is not None:
        return [check_value(f.items, item, f"{label}[{index}]")
                for index, item in enumerate(value)]
    return value


def _same(value: Any, choice: Any) -> bool:
    # 1 == True in Python; an enum of integers does not take booleans.
    return value == choice and isinstance(value, bool) == isinstance(choice, bool)


_NOT = object()  # a value that does not convert


def _as_string(value: Any) -> Any:
    return value if isinstance(value, str) else _NOT


def _as_integer(value: Any) -> Any:
    if isinstance(value, bool):
        return _NOT
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value)
    return _NOT


def _as_number(value: Any) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value if ok else _NOT


def _as_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return _NOT


_CONVERT = {
    "string": _as_string,
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
    "object": lambda value: value if isinstance(value, dict) else _NOT,
    "array": lambda value: value if isinstance(value, list) else _NOT,
}


def _coerce(ftype: str | None, value: Any, label: str) -> Any:
    if ftype is None:
        return value
    converted = _CONVERT[ftype](value)
    if converted is _NOT:
        article = "an" if ftype[0] in "aeiou" else "a"
        raise RequestError(label, f"{label} must be {article} {ftype}")
    return converted


def _check_pairs(f: Field, value: Any, label: str) -> list[dict]:
    """A key/value list, given as such or as an object; as a list."""
    assert f.pairs is not None
    key, val = f.pairs.key, f.pairs.value
    if isinstance(value, dict):
        return [{key: str(k), val: v} for k, v in value.items()]
    if not isinstance(value, list):
        raise RequestError(label, f"{label} must be an array of {{{key}, {val}}} objects")
    out = []
    for index, item in enumerate(value):
        where = f"{label}[{index}]"
        if not isinstance(item, dict):
            raise RequestError(where, f"{where} must be an object")
        name = item.get(key)
        if not isinstance(name, str) or not name:
            raise RequestError(f"{where}.{key}", f"{where}.{key} must be a non-empty string")
        out.append({key: name, val: item.get(val)})
    return out


def _pick(body: dict, f: Field, strict: bool) -> tuple[bool, Any]:
    for name in (f.name, *f.aliases):
        value = body.get(name)
        if value is None or (strict and f.required and value == ""):
            continue
        return True, value
    return False, None


def _check_fields(fields: Sequence[Field], body: dict, prefix: str, partial: bool,
                  *, strict: bool) -> dict:
    out: dict = {}
    for f in fields:
        if not f.accepted:
            continue
        label = prefix + f.name
        present, value = _pick(body, f, strict)
        if not present:
            if partial:
                continue
            if f.required:
                raise RequestError(label, f"{label} is required")
            if f.default is not MISSING and f.default is not None:
                out[f.name] = copy.deepcopy(f.default)
            continue
        out[f.name] = check_value(f, value, label) if strict else value
    return out


def _build(fields: Sequence[Field], values: dict) -> dict:
    doc: dict = {}
    for f in fields:
        if f.create_path is None or not f.accepted or f.name not in values:
            continue
        f.create_path.put(doc, _cloud_value(f, values[f.name]))
    return doc


def _cloud_value(f: Field, value: Any) -> Any:
    if f.pairs is not None and isinstance(value, list):
        return {item[f.pairs.key]: item.get(f.pairs.value) for item in value
                if isinstance(item, dict) and f.pairs.key in item}
    if f.fields is not None and isinstance(value, dict):
        return _build(f.fields, value)
    if f.items is not None and isinstance(value, list):
        return [_cloud_item(f.items, item) for item in value]
    return value


def _cloud_item(items: Field, value: Any) -> Any:
    value = _cloud_value(items, value)
    if items.create_path is not None:
        element: dict = {}
        items.create_path.put(element, value)
        return element
    return value


# -- answers --------------------------------------------------------------------


def from_cloud(resource: Resource, doc: Any) -> dict:
    """The MultiCloud view of one cloud document (the item, unwrapped).
    Never raises: odd values are answered as they are."""
    if not isinstance(doc, dict):
        return {}
    return _read(resource.fields, doc)


def _read(fields: Sequence[Field], doc: dict) -> dict:
    out: dict = {}
    for f, name, key, native, simple in _plan(fields):
        if key is not None:  # a one-key path (most): SourcePath.get without the call
            found = key in doc
            value = doc[key] if found else None
        elif f.source is not None:
            found, value = f.source.get(doc)
        else:
            found, value = False, None
        if not found:
            fallback = f.answer_fallback()
            if fallback is not MISSING:
                out[name] = fallback
        elif native is not None and (value is None or type(value) in native):
            out[name] = value  # already what _as_declared would make of it
        else:
            out[name] = _as_declared(f.type, value) if simple else _answer_value(f, value)
    return out


# What a value of each declared type needs no conversion as (bool is no int here).
_NATIVE = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
           "object": (dict,), "array": (list,)}
# Field lists (a resource's, an object field's) -> _read's plan of them, made
# once: per item of a listing of hundreds, the per-field tests were most of
# the plugin's CPU (issue 19).
_PLANS: dict[int, tuple[Sequence[Field], list[tuple]]] = {}


def _plan(fields: Sequence[Field]) -> list[tuple]:
    """(field, name, its one-key path or None, types taken as they are,
    whether it is a plain value) of each answered field."""
    made = _PLANS.get(id(fields))
    if made is not None and made[0] is fields:
        return made[1]
    plan = []
    for f in fields:
        if f.write_only:  # never answered
            continue
        steps = f.source.steps if f.source is not None else ()
        simple = f.pairs is None and f.fields is None and f.items is None
        plan.append((f, f.name, steps[0] if len(steps) == 1 else None,
                     _NATIVE.get(f.type or "") if simple else None, simple))
    _PLANS[id(fields)] = (fields, plan)
    return plan


def _answer_value(f: Field, value: Any) -> Any:
    if f.pairs is not None and isinstance(value, dict):
        return [{f.pairs.key: k, f.pairs.value: v} for k, v in value.items()]
    if f.fields is not None and isinstance(value, dict):
        return _read(f.fields, value)
    if f.items is not None and isinstance(value, list):
        return [_answer_item(f.items, item) for item in value]
    return _as_declared(f.type, value)


def _as_declared(kind: str | None, value: Any) -> Any:
    """`value` as the declared type where that loses nothing (Nova's integer
    hypervisor ids as strings, "" for no swap as null); null when it cannot
    be (the answer's schema says every field may be null)."""
    if value is None or kind is None:
        return value
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, (str, int, float)) else None
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            return None
        if isinstance(value, str):
            try:
                value = float(value) if "." in value or "e" in value.lower() else int(value)
            except ValueError:
                return None
        if isinstance(value, float) and kind == "integer":
            return int(value) if value.is_integer() else None
        return value if isinstance(value, (int, float)) else None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return bool(value) if value in (0, 1) else None
    if kind == "object":
        return value if isinstance(value, dict) else None
    if kind == "array":
        return value if isinstance(value, list) else None
    return value


def _answer_item(items: Field, value: Any) -> Any:
    if items.source is not None:
        found, inner = items.source.get(value)
        return inner if found else value
    return _answer_value(items, value)
