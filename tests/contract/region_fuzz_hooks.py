"""Schemathesis hooks of the regions API fuzz (test_region_api.py): half the
generated valid owner/region pairs are replaced by a region that exists, so
that show, replace and delete reach a record, not only 404s. Which pairs are
replaced depends on the generated values only: runs stay deterministic."""

from __future__ import annotations

import re
from typing import Any

import schemathesis

OWNER, REGION = "FuzzOwner", "FuzzRegion"
_OWNER = re.compile(r"[0-9a-zA-Z-]+")
_REGION = re.compile(r"[0-9a-zA-Z_-]+")


@schemathesis.hook
def map_path_parameters(context: schemathesis.HookContext,
                        path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not path_parameters:
        return path_parameters
    params = dict(path_parameters)
    owner, region = params.get("cloud_owner"), params.get("cloud_region_id")
    if (isinstance(owner, str) and isinstance(region, str) and _OWNER.fullmatch(owner)
            and _REGION.fullmatch(region)
            and sum(map(ord, owner + region)) % 2 == 0):
        params["cloud_owner"], params["cloud_region_id"] = OWNER, REGION
    return params
