"""A streaming multipart/form-data reader.

File parts go chunk by chunk to a sink (an image upload is never held in
memory); form fields are collected, each up to `field_limit` bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import Message
from typing import BinaryIO, Protocol

from multicloud_broker.fakecloud.web import READ_CHUNK, HTTPError, bad_request

MAX_HEADER_BLOCK = 16 * 1024
MAX_PARTS = 100


class Sink(Protocol):
    def write(self, data: bytes) -> object: ...


class FieldSink:
    """Collects a form field, refusing more than `limit` bytes."""

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit, self.chunks, self.size = name, limit, [], 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise HTTPError(413, f"form field {self.name} over {self.limit} bytes")
        self.chunks.append(data)

    def text(self) -> str:
        try:
            return b"".join(self.chunks).decode("utf-8")
        except UnicodeDecodeError:
            raise bad_request(f"form field {self.name} is not UTF-8 text") from None


def boundary_of(content_type: str | None) -> str | None:
    """The boundary if the content type is multipart/form-data, else None."""
    if not content_type:
        return None
    msg = Message()
    msg["content-type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        return None
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise bad_request("multipart/form-data without a boundary")
    return boundary


def part_names(headers: bytes) -> tuple[str, str | None]:
    """(field name, file name or None) from a part's Content-Disposition."""
    msg = Message()
    for line in headers.decode("latin-1").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            msg[key.strip()] = value.strip()
    disposition = msg.get("content-disposition", "")
    if not disposition:
        raise bad_request("a multipart part has no Content-Disposition")
    holder = Message()
    holder["content-disposition"] = disposition
    name = holder.get_param("name", header="content-disposition")
    filename = holder.get_param("filename", header="content-disposition")
    if not isinstance(name, str):
        raise bad_request("a multipart part has no name")
    return name, filename if isinstance(filename, str) else None


OpenPart = Callable[[str, "str | None"], Sink]


def read(stream: BinaryIO, boundary: str, open_part: OpenPart) -> None:
    """Parse the body, calling `open_part(name, filename)` for each part and
    writing the part's bytes to the sink it returns."""
    reader = _Reader(stream)
    delimiter = b"--" + boundary.encode("latin-1")
    reader.skip_until(delimiter)  # the preamble
    for _ in range(MAX_PARTS):
        tail = reader.take(2)
        if tail == b"--":
            return
        if tail != b"\r\n":
            raise bad_request("malformed multipart body")
        headers = reader.read_until(b"\r\n\r\n", MAX_HEADER_BLOCK)
        name, filename = part_names(headers)
        reader.stream_until(b"\r\n" + delimiter, open_part(name, filename))
    raise HTTPError(413, f"more than {MAX_PARTS} multipart parts")


class _Reader:
    """Buffered reading of the body with delimiter search across chunks."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.buf, self.eof = stream, b"", False

    def _fill(self) -> None:
        chunk = self.stream.read(READ_CHUNK)
        if not chunk:
            self.eof = True
        self.buf += chunk

    def take(self, n: int) -> bytes:
        while len(self.buf) < n and not self.eof:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self.buf:
            if self.eof or len(self.buf) > limit:
                raise bad_request("malformed multipart body")
            self._fill()
        data, _, self.buf = self.buf.partition(marker)
        return data

    def skip_until(self, marker: bytes) -> None:
        self.stream_until(marker, None)

    def stream_until(self, marker: bytes, sink: Sink | None) -> None:
        keep = len(marker) - 1  # a marker may straddle two chunks
        while True:
            at = self.buf.find(marker)
            if at >= 0:
                if sink is not None:
                    sink.write(self.buf[:at])
                self.buf = self.buf[at + len(marker):]
                return
            if self.eof:
                raise bad_request("malformed multipart body: closing boundary missing")
            if len(self.buf) > keep:
                if sink is not None:
                    sink.write(self.buf[:-keep])
                self.buf = self.buf[-keep:]
            self._fill()

