"""The identity proxy: OpenStack's own clients authenticate through
MultiCloud and then reach every service of the region through it.

A token request is passed to the region's Keystone as it is; the token
comes back with every catalog endpoint rewritten to its MultiCloud address
(`{broker}/api/multicloud/v0/{vimid}/{service-type}` followed by the
endpoint's own path), so that the client's next calls come through the
broker to the service proxy. Keystone v2.0 is gone from current OpenStack;
older clients' v2.0 token requests are turned into v3 ones and answered in
v2.0's shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from multicloud_broker.core.errors import BadGateway, BadRequest
from multicloud_broker.core.http import Request, Response
from multicloud_broker.plugin.openstack.sessions import RegionSession

TOKEN_BODY_LIMIT = 64 * 1024  # a token request is a few hundred bytes
# Keystone's answer headers a client may need; the rest are the proxy's own.
_KEPT_HEADERS = ("x-subject-token", "openstack-request-id", "content-type", "vary")


def multicloud_url(broker_url: str, scope: str, service_type: str, endpoint: str) -> str:
    """The MultiCloud address of a catalog endpoint: scope is `v0/{vimid}`
    or `v1/{owner}/{region}`; the endpoint's path follows the service type."""
    path = urlsplit(endpoint).path.rstrip("/")
    return f"{broker_url.rstrip('/')}/api/multicloud/{scope}/{service_type}{path}"


def rewrite_v3_catalog(token: dict, broker_url: str, scope: str) -> dict:
    """A v3 token document with every catalog endpoint rewritten (in place)."""
    for service in token.get("catalog") or []:
        for endpoint in service.get("endpoints") or []:
            if isinstance(endpoint, dict) and isinstance(endpoint.get("url"), str):
                endpoint["url"] = multicloud_url(broker_url, scope, service.get("type", ""),
                                                 endpoint["url"])
    return token


def issue_v3(session: RegionSession, request: Request, broker_url: str, scope: str) -> Response:
    """POST .../identity/v3/auth/tokens: the region's Keystone decides."""
    body = request.read_json(TOKEN_BODY_LIMIT)
    answer = _keystone_tokens(session, body, request.query)
    headers = [(k, v) for k, v in answer.headers.items() if k.lower() in _KEPT_HEADERS]
    try:
        document = answer.json()
    except ValueError:
        raise BadGateway(f"cloud region {session.name}: Keystone answered "
                         f"{answer.status_code} without JSON") from None
    if answer.status_code in (200, 201) and isinstance(document.get("token"), dict):
        rewrite_v3_catalog(document["token"], broker_url, scope)
    return _json(answer.status_code, document, headers)


def issue_v2(session: RegionSession, request: Request, broker_url: str, scope: str) -> Response:
    """POST .../identity/v2.0/tokens: a v2.0 request and answer over Keystone v3."""
    v3_body = v3_auth_of_v2(request.read_json(TOKEN_BODY_LIMIT))
    answer = _keystone_tokens(session, v3_body, "")
    if answer.status_code not in (200, 201):
        return _json(answer.status_code, _safe_json(answer), [])
    token = rewrite_v3_catalog(answer.json()["token"], broker_url, scope)
    return _json(200, v2_access(answer.headers["X-Subject-Token"], token), [])


def v3_auth_of_v2(body: Any) -> dict:
    """The v3 password authentication of a v2.0 token request (400 if malformed)."""
    auth = body.get("auth") if isinstance(body, dict) else None
    creds = auth.get("passwordCredentials") if isinstance(auth, dict) else None
    if not isinstance(creds, dict) or not all(
            isinstance(creds.get(k), str) for k in ("username", "password")):
        raise BadRequest("auth.passwordCredentials with username and password is required")
    user = {"name": creds["username"], "password": creds["password"],
            "domain": {"id": "default"}}
    v3: dict = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}}
    if isinstance(auth.get("tenantId"), str):
        v3["auth"]["scope"] = {"project": {"id": auth["tenantId"]}}
    elif isinstance(auth.get("tenantName"), str):
        v3["auth"]["scope"] = {"project": {"name": auth["tenantName"],
                                           "domain": {"id": "default"}}}
    return v3


def v2_access(token_id: str, token: dict) -> dict:
    """A v2.0 `access` document from a v3 token."""
    project = token.get("project") or {}
    catalog = []
    for service in token.get("catalog") or []:
        by_region: dict[str, dict] = {}
        for endpoint in service.get("endpoints") or []:
            entry = by_region.setdefault(endpoint.get("region_id") or endpoint.get("region"),
                                         {"region": endpoint.get("region")})
            entry[f"{endpoint.get('interface')}URL"] = endpoint.get("url")
        catalog.append({"type": service.get("type"), "name": service.get("name"),
                        "endpoints": list(by_region.values())})
    user = token.get("user") or {}
    return {"access": {
        "token": {"id": token_id, "issued_at": token.get("issued_at"),
                  "expires": token.get("expires_at"),
                  "tenant": {"id": project.get("id"), "name": project.get("name"),
                             "enabled": True}},
        "serviceCatalog": catalog,
        "user": {"id": user.get("id"), "name": user.get("name"),
                 "roles": [{"name": r.get("name")} for r in token.get("roles") or []]},
    }}


def _keystone_tokens(session: RegionSession, body: Any, query: str):
    """POST the body to the region's Keystone (its service-url, never the request's)."""
    url = session.auth_url() + "/auth/tokens" + (f"?{query}" if query else "")
    return session.unauthenticated("POST", url, json=body)


def _safe_json(answer) -> dict:
    try:
        document = answer.json()
    except ValueError:
        document = None
    return document if isinstance(document, dict) else {"error": answer.text[:500]}


def _json(status: int, document: Any, headers: list[tuple[str, str]]) -> Response:
    headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
    response = Response.json(status, document)
    response.headers.extend(headers)
    return response
