"""Vim ids: `{cloud-owner}_{cloud-region-id}`, split at the first `_`."""

from __future__ import annotations

import re

from multicloud_broker.core.errors import NotFound

_OWNER = r"[0-9a-zA-Z-]+"
_REGION = r"[0-9a-zA-Z_-]+"
_VIM_ID = re.compile(rf"({_OWNER})_({_REGION})")
_OWNER_RE = re.compile(_OWNER)
_REGION_RE = re.compile(_REGION)


def parse_vim_id(vim_id: str) -> tuple[str, str]:
    """(cloud-owner, cloud-region-id) of a vim id; NotFound if malformed."""
    match = _VIM_ID.fullmatch(vim_id)
    if not match:
        raise NotFound(f"invalid vim id {vim_id!r}: expected "
                       "{cloud-owner}_{cloud-region-id}")
    return match.group(1), match.group(2)


def make_vim_id(owner: str, region: str) -> str:
    """The vim id of a region; NotFound if either part is malformed."""
    if not (_OWNER_RE.fullmatch(owner) and _REGION_RE.fullmatch(region)):
        raise NotFound(f"invalid cloud region {owner!r}/{region!r}")
    return f"{owner}_{region}"
