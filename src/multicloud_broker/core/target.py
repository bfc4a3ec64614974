"""The request target a plugin gets: the client's own bytes below the VIM scope.

The path is forwarded as the client wrote it (percent-encoding untouched), so
that what the plugin decodes is what the client meant. A forwarded part that
a gateway or plugin could read as leaving `/api/<plugin>/<version>/<vim>/`
is refused instead: dot-segments (also percent-encoded, in any case, however
many times), encoded `/` or `\\`, and NUL, CR, LF or other control bytes.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from multicloud_broker.core.errors import BadRequest

# Control bytes and space never belong in a request target (RFC 9112 3.2);
# non-ASCII bytes are sent percent-encoded (same meaning, valid on the wire).
_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_DECODED_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NON_ASCII = re.compile(r"[\x80-\xff]")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
# Decoding a segment more than this many times is an attack, not a name.
_MAX_DECODES = 4


def plugin_target(plugin: str, scope: list[str], raw_path: str, query: str) -> str:
    """`/api/{plugin}/{scope...}/{rest as the client wrote it}[?query]`.

    `scope` is the version and VIM id segments (already validated); `raw_path`
    the whole path as received, whose first 3 + len(scope) segments
    (`/api/multicloud/` and the scope) are replaced. BadRequest if the rest
    or the query could escape the scope or carries control characters.
    """
    segments = raw_path.split("/")
    # Every segment: an encoded '/' in the scope would shift the rest.
    for segment in segments:
        _check_segment(segment)
    rest = segments[3 + len(scope):]
    if _CONTROL.search(query):
        raise BadRequest("query string contains control characters or spaces")
    target = "/".join(("", "api", plugin, *scope, *rest))
    if query:
        target = f"{target}?{query}"
    return _NON_ASCII.sub(lambda m: f"%{ord(m.group()):02X}", target)


def checked_rest(raw_path: str, skip: int) -> str:
    """The path below its first `skip` segments, as the client wrote it;
    BadRequest if any segment could escape (see plugin_target)."""
    segments = raw_path.split("/")
    for segment in segments:
        _check_segment(segment)
    return "/".join(segments[1 + skip:])


def checked_query(query: str) -> str:
    if _CONTROL.search(query):
        raise BadRequest("query string contains control characters or spaces")
    return query


def check_path(path: str) -> None:
    """BadRequest if a decoded path carries control characters (NUL, CR, LF...)."""
    if _DECODED_CONTROL.search(path):
        raise BadRequest("path contains encoded control characters (NUL, CR, LF...)")


def _check_segment(segment: str) -> None:
    if _CONTROL.search(segment):
        raise BadRequest("path contains control characters or spaces")
    if "\\" in segment:
        raise BadRequest("path contains a backslash")
    decoded = segment
    for _ in range(_MAX_DECODES):
        if not _ESCAPE.search(decoded):
            break
        decoded = unquote(decoded, encoding="latin-1")
        if "/" in decoded or "\\" in decoded:
            raise BadRequest("path contains an encoded '/' or '\\'")
        if _DECODED_CONTROL.search(decoded):
            raise BadRequest("path contains encoded control characters (NUL, CR, LF...)")
    else:
        if _ESCAPE.search(decoded):
            raise BadRequest("path segment encoded too many times")
    if decoded in (".", ".."):
        raise BadRequest("path contains a dot-segment ('.' or '..')")
