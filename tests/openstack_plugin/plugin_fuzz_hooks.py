"""Schemathesis hooks of test_plugin_fuzz: half the generated calls go to
the region and tenant that exist, so that they reach the simulated cloud.

A generated value is replaced only when it is valid (a call meant to be
invalid stays invalid), and which ones depends on the value only, so runs
stay deterministic. The region and tenant come from the environment."""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis

_VIM_ID = re.compile(r"[0-9a-zA-Z-]+_[0-9a-zA-Z_-]+")


def _picked(*values: Any) -> bool:
    return sum(ord(c) for value in values for c in str(value)) % 2 == 0


@schemathesis.hook
def map_path_parameters(context: schemathesis.HookContext,
                        path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    if not path_parameters:
        return path_parameters
    owner, region = os.environ["FUZZ_OWNER"], os.environ["FUZZ_REGION"]
    params = dict(path_parameters)
    vimid = params.get("vimid")
    if isinstance(vimid, str) and _VIM_ID.fullmatch(vimid) and _picked(vimid):
        params["vimid"] = f"{owner}_{region}"
    if "cloud_owner" in params and _picked(params["cloud_owner"]):
        params["cloud_owner"], params["cloud_region_id"] = owner, region
    tenant = params.get("tenantid")
    if isinstance(tenant, str) and tenant and "/" not in tenant and _picked(tenant):
        params["tenantid"] = os.environ["FUZZ_TENANT"]
    return params
