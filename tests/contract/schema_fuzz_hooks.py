"""Schemathesis hooks of test_schema_fuzz: send half the generated calls to
the region that exists, so that they reach the plugin.

Generated vim ids and region names are valid but unknown: the broker would
answer them all 404 without asking a plugin. A generated value is replaced
only when it is valid, so a call meant to be invalid stays invalid; which
calls are replaced depends on the generated value only, so runs stay
deterministic.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis

OWNER = "CloudOwner"
REGION = "RegionOne"
_VIM_ID = re.compile(r"[0-9a-zA-Z-]+_[0-9a-zA-Z_-]+")
_OWNER = re.compile(r"[0-9a-zA-Z-]+")
_REGION = re.compile(r"[0-9a-zA-Z_-]+")


def _picked(*values: Any) -> bool:
    return sum(ord(c) for value in values for c in str(value)) % 2 == 0


@schemathesis.hook
def map_path_parameters(context: schemathesis.HookContext,
                        path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not path_parameters:  # an operation without path parameters
        return path_parameters
    params = dict(path_parameters)
    vimid = params.get("vimid")
    if isinstance(vimid, str) and _VIM_ID.fullmatch(vimid) and _picked(vimid):
        params["vimid"] = f"{OWNER}_{REGION}"
    owner, region = params.get("cloud_owner"), params.get("cloud_region_id")
    if (isinstance(owner, str) and isinstance(region, str) and _OWNER.fullmatch(owner)
            and _REGION.fullmatch(region) and _picked(owner, region)):
        params["cloud_owner"], params["cloud_region_id"] = OWNER, REGION
    return params
