"""Keystone sessions of the OpenStack plugin, one per (region, project).

keystoneauth1 does the OpenStack part: v3 password authentication, the
token kept until shortly before it expires (its MIN_TOKEN_LIFE_SECONDS),
one authentication at a time per auth plugin (its lock, green under our
monkey-patching), one re-authentication and retry when a service answers
401, and endpoint lookup in the catalog. What is ours: which session serves
a call (cached per region record and project, so every worker authenticates
once per key, not per call), TLS from the region record, deadlines, and
turning every fault into an ApiError that names the region and the service.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import json as _json
import logging
import os
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
from keystoneauth1 import exceptions as ksa
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3
from urllib3 import exceptions as urllib3_exceptions

from multicloud_broker import green
from multicloud_broker.core.errors import (ApiError, BadGateway, GatewayTimeout, NotFound,
                                           ServiceUnavailable)
from multicloud_broker.inventory import CloudRegion
from multicloud_broker.plugin.openstack.transport import CloudAnswer, Transport

LOG = logging.getLogger(__name__)
# keystoneauth logs request and answer bodies at DEBUG: never at our DEBUG,
# where a token or a password could reach the log.
logging.getLogger("keystoneauth").setLevel(logging.INFO)


# The largest cloud answer read (a page of 1,000 of Nova's servers is about 2 MiB).
MAX_ANSWER = 64 << 20
# Seconds a refused authentication is answered from memory: a wrong password
# in the inventory costs Keystone one attempt per this long, not one per call.
REFUSED_FOR = 5.0
# How Keystone's and the services' logs name the plugin's calls.
USER_AGENT = "multicloud-openstack-plugin"
# Redirects of a GET followed within one call.
MAX_REDIRECTS = 3
# Methods a service call may repeat when its kept-alive connection was stale
# (RFC 9110 9.2.2); a POST is never sent twice.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
T = TypeVar("T")
# Access records whose fingerprint is remembered (one per region in use).
MAX_REMEMBERED = 1000


class RegionNotConfigured(ApiError):
    """The region record has no cloud access (no esr-system-info)."""

    status = 404


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float  # between two reads
    total: float = 120.0  # for a whole answer: a cloud that trickles is cut off


class RegionSession:
    """A region's Keystone session scoped to one project."""

    def __init__(self, region: CloudRegion, session: ksa_session.Session, interface: str,
                 timeouts: Timeouts, transport: Transport, project_id: str | None = None,
                 unscoped: "RegionSession | None" = None):
        self.region = region
        # Scoped to a tenant of the URL: Keystone's 401 then means either bad
        # credentials or a tenant the user may not use; `unscoped` (the
        # region's default scope) tells which.
        self.scoped_project = project_id
        self.unscoped = unscoped
        self._refused: ApiError = BadGateway("")
        self._refused_until = 0.0
        self.name = f"{region.cloud_owner}/{region.cloud_region_id}"
        self.session = session
        self.interface = interface
        self.timeouts = timeouts
        self.openstack_region = region.access.openstack_region or region.cloud_region_id
        self.transport = transport
        # The token and endpoints last read from keystoneauth, and until when
        # they are used without asking it again (see _credentials).
        self._ref: Any = None
        self._endpoints: dict[str, str] = {}
        self._fresh_until = 0.0

    def endpoint(self, service_type: str) -> str:
        """The service's URL in the region's catalog (authenticating if need be)."""
        self.authenticate()
        try:
            url = self.session.get_endpoint(service_type=service_type,
                                            interface=self.interface,
                                            region_name=self.openstack_region)
        except ksa.EndpointNotFound:
            url = None
        except ksa.ClientException as exc:
            raise self.fault(exc, "identity") from None
        if not url:
            raise BadGateway(f"cloud region {self.name}: its catalog has no {service_type} "
                             f"service ({self.interface} endpoint, region "
                             f"{self.openstack_region})")
        return url

    def authenticate(self) -> None:
        """A token, cached or new, before any call that needs one: the
        region's own credentials first (one Keystone attempt per call at
        most, and none for REFUSED_FOR seconds after Keystone refused them),
        then the tenant's scope."""
        if self.unscoped is not None:
            self.unscoped.authenticate()
        if time.monotonic() < self._refused_until:
            raise self._refused
        try:
            _again_if_stale(self.session.get_token)  # a token request is safe to repeat
        except ksa.ClientException as exc:
            error = self.fault(exc, "identity")
            if isinstance(exc, ksa.Unauthorized):
                self._refused, self._refused_until = error, time.monotonic() + REFUSED_FOR
            raise error from None

    def project_id(self) -> str:
        """The project the session is scoped to."""
        self.authenticate()
        try:
            return self.session.get_project_id()
        except ksa.ClientException as exc:
            raise self.fault(exc, "identity") from None

    def auth_url(self) -> str:
        """The region's Keystone v3 URL, from its record."""
        return _v3_url(self.region.access.auth_url)

    def unauthenticated(self, method: str, url: str, **kwargs: Any):
        """A call that carries no token of ours (the identity proxy's token
        requests); faults are named as identity's."""
        return self._request(url, method, "identity", authenticated=False, **kwargs)

    def identity(self, method: str, path: str, **kwargs: Any):
        """A call to the region's Keystone (its record's URL), with the
        session's token; ApiError for a 5xx or a fault."""
        self.authenticate()
        response = self._request(self.auth_url() + path, method, "identity", **kwargs)
        if response.status_code >= 500:
            raise ServiceUnavailable(f"cloud region {self.name}: identity answered "
                                     f"{response.status_code}")
        return response

    def call(self, service_type: str, method: str, path: str, json: Any = None,
             headers: dict[str, str] | None = None) -> CloudAnswer:
        """One call to a service of the region, `json` its body; the answer
        read whole for any status below 500 (the caller reads the cloud's
        4xx), else an ApiError. A 401 costs one new token and one retry: a
        token revoked or expired early is renewed, not a failed call."""
        body = None if json is None else _json.dumps(json).encode()
        answer = self._call(service_type, method, path, body, headers)
        if answer.status_code == 401:
            self.session.invalidate()
            answer = self._call(service_type, method, path, body, headers)
        if answer.status_code >= 500:
            raise BadGateway(f"cloud region {self.name}: {service_type} answered "
                             f"{answer.status_code} to {method} {path.split('?')[0]}")
        return answer

    def _call(self, service_type: str, method: str, path: str, body: bytes | None,
              headers: dict[str, str] | None) -> CloudAnswer:
        token, base = self._credentials(service_type)  # before the deadline: identity's own
        url = base.rstrip("/") + path
        late = GatewayTimeout(f"cloud region {self.name}: {service_type} did not finish "
                              f"its answer within {self.timeouts.total:g} s")
        with green.deadline(self.timeouts.total, late):  # a trickled head too
            for _ in range(MAX_REDIRECTS + 1):
                raw = self._open(method, url, token, body, headers, service_type)
                content = self._read_answer(raw, service_type)
                target = _redirect(method, url, raw)
                if target is None:
                    return CloudAnswer(raw.status, raw.headers, content)
                url = target
        raise BadGateway(f"cloud region {self.name}: {service_type} redirected {method} "
                         f"{path.split('?')[0]} more than {MAX_REDIRECTS} times")

    def _open(self, method: str, url: str, token: str, body: bytes | None,
              headers: dict[str, str] | None, service: str):
        def send():
            return self.transport.open(method, url, token, self.session.verify,
                                       (self.timeouts.connect, self.timeouts.read),
                                       body, headers)
        try:
            return _again_if_stale(send) if method in IDEMPOTENT else send()
        except (OSError, urllib3_exceptions.HTTPError) as exc:
            where = f"cloud region {self.name}: {service}"
            if _timed_out(exc):
                raise GatewayTimeout(f"{where} did not answer in time") from None
            if isinstance(exc, urllib3_exceptions.SSLError):
                raise BadGateway(f"{where}: TLS failed: {_tls_reason(exc)}") from None
            raise BadGateway(f"{where} unreachable: {_brief(exc)}") from None

    def _credentials(self, service_type: str) -> tuple[str, str]:
        """The token and the service's URL. keystoneauth decides when a token
        is renewed, but asking it checks the token's expiry and walks the
        catalog each time: the answers are kept until shortly before the
        token's renewal (or a minute at most), then asked for again."""
        if self._ref is None or time.monotonic() >= self._fresh_until \
                or self.session.auth.auth_ref is not self._ref:
            self.authenticate()
            ref = self.session.auth.auth_ref
            if ref is not self._ref:
                self._ref, self._endpoints = ref, {}
            self._fresh_until = time.monotonic() + _fresh_for(ref)
        url = self._endpoints.get(service_type)
        if url is None:
            url = self._endpoints[service_type] = self.endpoint(service_type)
        return self._ref.auth_token, url

    def _request(self, url: str, method: str, service: str, **kwargs: Any):
        """keystoneauth's request with our timeouts and no retries; its faults
        as ApiErrors naming `service`."""
        def send():
            return self.session.request(
                url, method, raise_exc=False, connect_retries=0,
                timeout=(self.timeouts.connect, self.timeouts.read), **kwargs)
        try:
            # Identity's calls (tokens, project lists) are safe to repeat.
            return _again_if_stale(send)
        except ksa.ClientException as exc:
            raise self.fault(exc, service) from None

    def _read_answer(self, raw, service: str) -> bytes:
        """The whole answer body, at most MAX_ANSWER bytes (the caller's total
        deadline bounds its time: the read timeout alone lets a cloud that
        trickles hold a call forever)."""
        chunks, size, whole = [], 0, False
        try:
            # Of a known length, as sent: one read (the stream's buffering
            # cost more than the read itself); a short one is IncompleteRead.
            at_once = _sized(raw)
            if at_once:
                chunks.append(raw.read())
            for chunk in () if at_once else raw.stream(64 * 1024, decode_content=True):
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise BadGateway(f"cloud region {self.name}: {service} answered more "
                                     f"than {MAX_ANSWER} bytes")
                chunks.append(chunk)
            whole = True
        except (OSError, urllib3_exceptions.HTTPError) as exc:
            if _timed_out(exc):
                raise GatewayTimeout(f"cloud region {self.name}: {service} did not answer "
                                     "in time") from None
            raise BadGateway(f"cloud region {self.name}: {service}'s answer was cut: "
                             f"{_brief(exc)}") from None
        finally:
            # Only a connection whose answer was read to its end is reused.
            raw.release_conn() if whole else raw.close()
        return b"".join(chunks)

    def fault(self, exc: Exception, service: str) -> ApiError:
        """The ApiError for a keystoneauth fault talking to `service`: Keystone
        down or slow is 503 (every call of the region needs it); another
        service slow is 504, unreachable or broken 502."""
        where = f"cloud region {self.name}: {service}"
        if isinstance(exc, ksa.Unauthorized):
            if self.scoped_project:  # the region's own credentials were accepted
                return NotFound(f"cloud region {self.name}: tenant {self.scoped_project} "
                                "not found, or not open to the region's user")
            return BadGateway(f"cloud region {self.name}: Keystone refused the region's "
                              "credentials (401)")
        slow = isinstance(exc, (ksa.ConnectTimeout, ksa.RequestTimeout)) or _timed_out(exc)
        if service == "identity" and (slow or isinstance(exc, ksa.ConnectFailure)):
            return ServiceUnavailable(f"{where} " + ("did not answer in time" if slow else
                                                     f"unreachable: {_brief(exc)}"))
        if slow:
            return GatewayTimeout(f"{where} did not answer in time")
        if isinstance(exc, ksa.ConnectFailure):
            return BadGateway(f"{where} unreachable: {_brief(exc)}")
        if isinstance(exc, ksa.EndpointNotFound):
            return BadGateway(f"cloud region {self.name}: its catalog has no {service} service")
        if isinstance(exc, ksa.SSLError):
            return BadGateway(f"{where}: TLS failed: {_tls_reason(exc)}")
        if isinstance(exc, ksa.HttpError) and exc.http_status and exc.http_status < 500:
            return BadGateway(f"{where} refused: {exc.http_status} {_brief(exc)}")
        return BadGateway(f"{where}: {_brief(exc)}")


class RegionSessions:
    """The sessions of this worker, one per (region record, project), over one
    pool of kept-alive connections per cloud endpoint."""

    def __init__(self, interface: str, timeouts: Timeouts, pool_size: int = 200):
        self.interface = interface
        self.timeouts = timeouts
        # requests' default pool keeps 10 connections per host: beyond, every
        # call opened a connection and logged "Connection pool is full".
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=100, pool_maxsize=pool_size)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)
        self.transport = Transport(pool_size, USER_AGENT)
        self._sessions: dict[tuple, RegionSession] = {}
        self._ca_files: dict[str, str] = {}
        # The last access record seen per region and its fingerprint: the
        # region cache hands the same object to every call, hashed once.
        self._prints: dict[tuple[str, str], tuple[Any, str]] = {}
        self._lock = threading.Lock()

    def get(self, region: CloudRegion, project_id: str | None = None) -> RegionSession:
        """The session of `region` scoped to `project_id` (None: the region's
        default project). Credentials changed in the inventory make a new one."""
        access = region.access
        if access is None or not access.auth_url or access.password is None:
            raise RegionNotConfigured(
                f"cloud region {region.cloud_owner}/{region.cloud_region_id} has no cloud "
                "access (esr-system-info with service-url, user-name and password) in the "
                "inventory")
        name = (region.cloud_owner, region.cloud_region_id)
        key = (*name, project_id, self._fingerprint(name, access))
        found = self._sessions.get(key)
        if found is None:
            unscoped = self.get(region) if project_id else None  # before the lock: it takes it
            with self._lock:
                found = self._sessions.get(key)
                if found is None:
                    found = RegionSession(region, self._session(access, project_id),
                                          self.interface, self.timeouts, self.transport,
                                          project_id, unscoped)
                    self._sessions[key] = found
        return found

    def _fingerprint(self, region: tuple[str, str], access) -> str:
        seen = self._prints.get(region)
        if seen is not None and seen[0] is access:
            return seen[1]
        printed = _fingerprint(access)
        if len(self._prints) >= MAX_REMEMBERED:
            self._prints.clear()  # bounded: one entry per region asked for
        self._prints[region] = (access, printed)
        return printed

    def _session(self, access, project_id: str | None) -> ksa_session.Session:
        scope = ({"project_id": project_id} if project_id else
                 {"project_name": access.project, "project_domain_name": access.user_domain})
        auth = v3.Password(auth_url=_v3_url(access.auth_url), username=access.username,
                           password=access.password, user_domain_name=access.user_domain,
                           **scope)
        # The timeout covers what keystoneauth sends itself (authentication);
        # calls of ours give connect and read timeouts of their own.
        return ksa_session.Session(auth=auth, session=self.http, verify=self._verify(access),
                                   timeout=self.timeouts.read, user_agent=USER_AGENT)

    def _verify(self, access) -> bool | str:
        if access.insecure:
            return False
        if not access.ca_cert:
            return True
        path = self._ca_files.get(access.ca_cert)
        if path is None:
            path = self._ca_files[access.ca_cert] = ca_file(access.ca_cert)
        return path


def ca_file(pem: str) -> str:
    """A file holding `pem` (keystoneauth, through requests, takes CA files;
    the record holds the text). Named by the text's digest in a directory of
    this user's, so every worker and restart reuses one file per CA instead
    of leaving a new one behind each time."""
    directory = os.path.join(tempfile.gettempdir(), f"multicloud-broker-ca-{os.getuid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # /tmp is shared: a directory made by someone else could swap our CAs.
    owner = os.stat(directory)
    if owner.st_uid != os.getuid() or owner.st_mode & 0o022:
        raise RuntimeError(f"{directory} is not this user's own: remove it")
    path = os.path.join(directory, hashlib.sha256(pem.encode()).hexdigest() + ".pem")
    if not os.path.exists(path):
        # Written aside then renamed: another worker may read it meanwhile.
        fd, partial = tempfile.mkstemp(dir=directory, suffix=".partial")
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        os.replace(partial, path)
    return path


def _again_if_stale(send: Callable[[], T]) -> T:
    """`send()`, and once more if a kept-alive connection turned out closed
    by the server while idle (it read nothing of the request: RFC 9112
    9.3.1 allows the retry). Only for requests that are safe to repeat."""
    try:
        return send()
    except (ksa.ConnectFailure, OSError, urllib3_exceptions.ProtocolError) as exc:
        if not _stale(exc):
            raise
    return send()


def _stale(exc: BaseException) -> bool:
    """Whether the server closed or reset the connection without answering
    (and not because we waited too long)."""
    return not _timed_out(exc) and any(
        isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                       ConnectionAbortedError)) for e in _causes(exc))


def _fresh_for(ref: Any) -> float:
    """Seconds the token `ref` is used without asking keystoneauth: until
    keystoneauth's own renewal margin before expiry, a minute at most."""
    try:
        left = (ref.expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    except (AttributeError, TypeError, ValueError):
        return 0.0  # no expiry known: ask every time
    return max(0.0, min(60.0, left - v3.Password.MIN_TOKEN_LIFE_SECONDS))


def _sized(raw) -> bool:
    """Whether an answer body has a known length within MAX_ANSWER and is
    not compressed (so that its length is what is read)."""
    length = raw.length_remaining
    return (length is not None and length <= MAX_ANSWER
            and "Content-Encoding" not in raw.headers)


def _redirect(method: str, url: str, raw) -> str | None:
    """Where a redirect of a GET leads (Heat answers GET /stacks/{name} with
    302 to /stacks/{name}/{id}), if on the same endpoint: the token is never
    sent to another host. None when the answer is not such a redirect."""
    location = raw.headers.get("Location")
    if method != "GET" or raw.status not in (301, 302, 303, 307, 308) or not location:
        return None
    target = urljoin(url, location)
    return target if urlsplit(target)[:2] == urlsplit(url)[:2] else None


def _v3_url(auth_url: str) -> str:
    """Keystone's v3 URL from the record's service-url (with or without /v3)."""
    url = auth_url.rstrip("/")
    if url.endswith("/v2.0"):
        url = url[:-len("/v2.0")]
    return url if url.endswith("/v3") else url + "/v3"


def _fingerprint(access) -> str:
    # The password is part of the key (a changed one must re-authenticate),
    # but only as a hash: keys may show in a debugger or a heap dump.
    fields = (access.auth_url, access.username, access.password, access.user_domain,
              access.project, access.ca_cert, access.insecure, access.openstack_region)
    return hashlib.sha256(repr(fields).encode()).hexdigest()


def _timed_out(exc: BaseException) -> bool:
    """Whether a socket timeout is behind `exc` (keystoneauth reports a read
    that timed out inside an answer's body as a connection failure)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (TimeoutError, urllib3_exceptions.TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _brief(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def _tls_reason(exc: BaseException) -> str:
    """What OpenSSL said (say, "certificate verify failed: self-signed
    certificate"), found below requests' and urllib3's wrappers, whose own
    text is mostly the URL and the retry count."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return _brief(cause)
    return _brief(exc)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception behind it: requests, urllib3 and
    keystoneauth wrap the socket's or OpenSSL's error in their own, as a
    cause, a context, an argument or a `reason`."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__, *current.args,
                    getattr(current, "reason", None)]
