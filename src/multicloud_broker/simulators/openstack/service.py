"""What every simulated service shares: its route table, its error shape,
its microversions, and the admin check."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from multicloud_broker.simulators.openstack.web import ApiError, Request, Response, Router

if TYPE_CHECKING:
    from multicloud_broker.simulators.openstack.app import Cloud

_VERSION = re.compile(r"^(\d+)\.(\d+)$")


class Service:
    """One simulated OpenStack service served under `prefix`."""

    name = ""          # the fault and count name: compute, network, ...
    prefix = ""        # "/compute"
    service_type = ""  # the microversion header's service name, if any
    min_version: tuple[int, int] | None = None
    max_version: tuple[int, int] | None = None
    legacy_version_header: str | None = None

    def __init__(self, cloud: "Cloud"):
        self.cloud = cloud
        self.store = cloud.store
        self.router = Router()
        self.routes()

    def routes(self) -> None:
        raise NotImplementedError

    # -- errors -------------------------------------------------------------

    def error(self, request: Request, err: ApiError) -> Response:
        """`err` in this service's own error shape."""
        raise NotImplementedError

    def unauthorized(self, request: Request, keystone_url: str) -> Response:
        """The 401 for a missing or invalid token: keystonemiddleware's own,
        as most services let it answer (Glance answers its own)."""
        return Response.json(401, {"error": {
            "code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication."}},
            [("WWW-Authenticate", f'Keystone uri="{keystone_url}"')])

    # -- microversions --------------------------------------------------------

    def negotiate(self, request: Request) -> list[tuple[str, str]]:
        """Set request.microversion from the request's headers; the headers to
        answer with. Services without microversions answer none."""
        if self.max_version is None:
            return []
        wanted = None
        for part in (request.header("OpenStack-API-Version") or "").split(","):
            bits = part.split()
            if len(bits) == 2 and bits[0].lower() == self.service_type:
                wanted = bits[1]
        if wanted is None and self.legacy_version_header:
            wanted = request.header(self.legacy_version_header)
        version = self.min_version
        if wanted is not None:
            version = self._parse_version(wanted.strip())
        request.microversion = version
        text = f"{version[0]}.{version[1]}"
        headers = [("OpenStack-API-Version", f"{self.service_type} {text}"),
                   ("Vary", "OpenStack-API-Version" + (
                       f", {self.legacy_version_header}" if self.legacy_version_header
                       else ""))]
        if self.legacy_version_header:
            headers.append((self.legacy_version_header, text))
        return headers

    def _parse_version(self, text: str) -> tuple[int, int]:
        assert self.min_version is not None and self.max_version is not None
        if text.lower() == "latest":
            return self.max_version
        found = _VERSION.match(text)
        if not found:
            raise ApiError(400, f"API Version String {text} is of invalid format. Must be "
                                "of format MajorNum.MinorNum.")
        version = (int(found.group(1)), int(found.group(2)))
        if not self.min_version <= version <= self.max_version:
            lo, hi = self.min_version, self.max_version
            raise ApiError(406, f"Version {text} is not supported by the API. Minimum is "
                                f"{lo[0]}.{lo[1]} and maximum is {hi[0]}.{hi[1]}.")
        return version

    # -- helpers ------------------------------------------------------------

    def require_admin(self, request: Request, action: str) -> None:
        if not request.ctx.is_admin:
            raise ApiError(403, f"Policy doesn't allow {action} to be performed.")


def at_least(request: Request, major: int, minor: int) -> bool:
    """Whether the request's microversion is at least major.minor."""
    return request.microversion is not None and request.microversion >= (major, minor)
