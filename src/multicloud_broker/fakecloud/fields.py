"""Checks of request fields; each failure is a 400 naming the field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from multicloud_broker.fakecloud.store import Doc
from multicloud_broker.fakecloud.web import bad_request

MISSING = object()


def pick(body: Doc, *names: str) -> Any:
    """The value of the first of `names` present (the ONAP documents use both
    `name` and e.g. `networkName` for the same field), else MISSING."""
    for key in names:
        if body.get(key) is not None:
            return body[key]
    return MISSING


def required(body: Doc, *names: str) -> Any:
    value = pick(body, *names)
    if value is MISSING or value == "":
        raise bad_request(f"{names[0]} is mandatory")
    return value


def required_str(body: Doc, *names: str) -> str:
    value = required(body, *names)
    if not isinstance(value, str):
        raise bad_request(f"{names[0]} must be a string")
    return value


def optional_str(body: Doc, name: str, default: str | None = None) -> str | None:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value


def as_int(value: Any, name: str, minimum: int | None = None) -> int:
    # bool is an int subclass; a JSON true is not a size.
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise bad_request(f"{name} must be an integer")
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None
    if minimum is not None and number < minimum:
        raise bad_request(f"{name} must be at least {minimum}")
    return number


def as_number(value: Any, name: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_request(f"{name} must be a number")
    if minimum is not None and value < minimum:
        raise bad_request(f"{name} must be at least {minimum}")
    return float(value)


def as_bool(value: Any, name: str) -> bool:
    """JSON booleans, 0/1 (as the ONAP documents show) and "true"/"false"."""
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"{name} must be a boolean")


def one_of(value: Any, name: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise bad_request(f"{name} must be one of {', '.join(choices)}")
    return value


def list_of_objects(body: Doc, name: str) -> list[Doc]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise bad_request(f"{name} must be a list of objects")
    return value
