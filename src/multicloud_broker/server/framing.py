"""Strict HTTP/1.1 request framing: what decides where a request ends.

A front proxy and the broker must agree on where each request's body ends,
or the rest of one request is read as another (request smuggling). So
everything that two parsers could read two ways is refused: any
Transfer-Encoding but a single `chunked`, Content-Length values that are not
one plain decimal number, both headers together, folded header lines and
malformed chunk-size lines. Pure functions; the protocol answers 400.
"""

from __future__ import annotations

import re
from email.message import Message

from multicloud_broker.core.http import TOKEN


class FramingError(Exception):
    """The request's framing is ambiguous or malformed; the message says how."""


_TOKEN = re.compile(TOKEN)
_DECIMAL = re.compile(r"[0-9]{1,18}")  # 18 digits: any real body, and int() is safe
# chunk-size [BWS chunk-ext] CRLF; 16 hex digits at most (a 64-bit size).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n\x00]*)?\r?\n")
_OWS = " \t"


def check_header_line(line: bytes) -> None:
    """Refuse a folded (obs-fold) or malformed header line; blank lines pass."""
    if line in (b"\r\n", b"\n"):
        return
    if line[:1] in (b" ", b"\t"):
        raise FramingError("folded header line (obs-fold) in the request")
    name, colon, value = line.partition(b":")
    if not colon or not _TOKEN.fullmatch(name):
        raise FramingError(f"malformed header line {_show(line)}")
    if b"\r" in value.rstrip(b"\r\n") or b"\x00" in value:
        raise FramingError(f"control character in header {_show(name)}")


def check_body_framing(headers: Message, version: str) -> None:
    """Refuse any Transfer-Encoding/Content-Length combination but the plain ones."""
    encodings = headers.get_all("Transfer-Encoding") or []
    lengths = headers.get_all("Content-Length") or []
    if encodings and lengths:
        raise FramingError("Content-Length and Transfer-Encoding together")
    if encodings:
        if version == "HTTP/1.0":
            raise FramingError("Transfer-Encoding in an HTTP/1.0 request")
        if len(encodings) != 1 or encodings[0].strip(_OWS).lower() != "chunked":
            raise FramingError(f"unsupported Transfer-Encoding {_show(', '.join(encodings))}: "
                               "only a single 'chunked' is accepted")
    if lengths:
        if len(lengths) != 1:
            raise FramingError(f"{len(lengths)} Content-Length headers")
        if not _DECIMAL.fullmatch(lengths[0].strip(_OWS)):
            raise FramingError(f"Content-Length {_show(lengths[0])} is not a decimal number")


def chunk_size(line: bytes) -> int:
    """The size announced by a chunk-size line (extensions ignored)."""
    match = _CHUNK_SIZE.fullmatch(line)
    if match is None:
        raise FramingError(f"malformed chunk size line {_show(line)}")
    return int(match.group(1), 16)


def _show(value: bytes | str, limit: int = 60) -> str:
    """A value quoted for a message: control characters escaped, length bounded."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.rstrip("\r\n")
    return repr(text[:limit] + ("..." if len(text) > limit else ""))
