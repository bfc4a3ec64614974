"""The request body as `wsgi.input`: strict chunked decoding, a deadline
between two reads, and a clear error when the client goes away.

eventlet's Input reads `zz` or `-5` as chunk sizes with a bare ValueError
(a 500 and a traceback), returns a short body as if complete when the
client disconnects, and waits on a trickling client for as long as the
socket timeout allows. Here each of these raises ClientBodyError, once,
and the connection is closed after the answer.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from eventlet import wsgi

from multicloud_broker.core.errors import ClientBodyError
from multicloud_broker.server.framing import FramingError, check_header_line, chunk_size

MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions
MAX_TRAILERS = 100
DISCARD_LIMIT = 1 << 20  # unread body drained to keep a connection; beyond, close it


class RequestBody(wsgi.Input):
    """A request body framed by a checked Content-Length or by `chunked`.

    `on_error(error)` is called once, when reading fails; it logs and makes
    the protocol close the connection.
    """

    def __init__(self, template: wsgi.Input, body_timeout: float,
                 socket_timeout: float | None,
                 on_error: Callable[[ClientBodyError], None]):
        super().__init__(template.rfile, template.content_length, template._sock,
                         wfile=template.wfile, wfile_line=template.wfile_line,
                         chunked_input=template.chunked_input)
        self._body_timeout = body_timeout
        self._socket_timeout = socket_timeout
        self._on_error = on_error
        self._error: ClientBodyError | None = None
        self._chunk_left = 0  # bytes of the current chunk not read yet
        self._after_chunk = False  # the CRLF that ends a chunk's data is due
        self._last_chunk = False  # the zero-size chunk (and trailers) was read
        self.received = 0  # body bytes received so far

    # -- the wsgi.input interface --------------------------------------
    def read(self, length: int | None = None) -> bytes:
        return self._read(length, line=False)

    def readline(self, size: int | None = None) -> bytes:
        return self._read(size, line=True)

    def discard(self, buffer_size: int = 64 << 10) -> None:
        """Drain what the app left unread, so the connection can be reused;
        a large remainder closes the connection instead of being read."""
        budget = DISCARD_LIMIT
        try:
            while budget > 0:
                data = self.read(min(buffer_size, budget))
                if not data:
                    return
                budget -= len(data)
        except ClientBodyError:
            return  # on_error has asked for the close
        self._on_error(None)

    # -- reading -------------------------------------------------------
    def _read(self, length: int | None, line: bool) -> bytes:
        if self._error is not None:
            raise self._error
        if self.should_send_hundred_continue:
            self._send_continue()
        if length is not None and length < 0:
            length = None
        reader = self.rfile.readline if line else self.rfile.read
        if self.chunked_input:
            return self._read_chunked(length, reader, line)
        return self._read_fixed(length, reader)

    def _read_fixed(self, length: int | None, reader) -> bytes:
        left = self.content_length - self.position
        if length is None or length > left:
            length = left
        if not length:
            return b""
        data = self._io(reader, length)
        if not data:
            self._fail(f"client closed the connection after {self.position} of "
                       f"{self.content_length} body bytes", disconnected=True)
        self.position += len(data)
        self.received += len(data)
        return data

    def _read_chunked(self, length: int | None, reader, line: bool) -> bytes:
        pieces = []
        while not self._last_chunk and (length is None or length > 0):
            if not self._chunk_left:
                self._next_chunk()
                continue
            want = self._chunk_left if length is None else min(length, self._chunk_left)
            data = self._io(reader, want)
            if not data:
                self._fail(f"client closed the connection inside a chunk, after "
                           f"{self.received} body bytes", disconnected=True)
            self._chunk_left -= len(data)
            self._after_chunk = not self._chunk_left
            self.received += len(data)
            pieces.append(data)
            if length is not None:
                length -= len(data)
            if line and data.endswith(b"\n"):
                break
        return b"".join(pieces)

    def _next_chunk(self) -> None:
        if self._after_chunk:
            if self._line() not in (b"\r\n", b"\n"):
                self._fail("bad chunked framing: chunk data longer than its size")
            self._after_chunk = False
        try:
            size = chunk_size(self._line())
        except FramingError as exc:
            self._fail(f"bad chunked framing: {exc}")
        if size:
            self._chunk_left = size
            return
        for _ in range(MAX_TRAILERS + 1):
            trailer = self._line()
            if trailer in (b"\r\n", b"\n"):
                self._last_chunk = True
                return
            try:
                check_header_line(trailer)
            except FramingError as exc:
                self._fail(f"bad chunked framing: trailer: {exc}")
        self._fail("bad chunked framing: too many trailer lines")

    def _line(self) -> bytes:
        line = self._io(self.rfile.readline, MAX_CHUNK_LINE + 1)
        if not line:
            self._fail(f"client closed the connection inside a chunked body, after "
                       f"{self.received} body bytes", disconnected=True)
        if len(line) > MAX_CHUNK_LINE or not line.endswith(b"\n"):
            self._fail(f"bad chunked framing: line over {MAX_CHUNK_LINE} bytes")
        return line

    def _io(self, reader, size: int) -> bytes:
        """One read, waiting at most client_body_timeout for data."""
        sock = self._sock
        sock.settimeout(self._body_timeout)
        try:
            return reader(size)
        except socket.timeout:
            self._fail(f"no request body data for {self._body_timeout:g} s "
                       f"(after {self.received} bytes)", status=408)
        except OSError as exc:
            self._fail(f"client connection lost during the body after {self.received} "
                       f"bytes: {exc.strerror or exc}", disconnected=True)
        finally:
            sock.settimeout(self._socket_timeout)

    def _send_continue(self) -> None:
        try:
            self.send_hundred_continue_response()
        except OSError as exc:
            self._fail(f"client connection lost before the body: {exc.strerror or exc}",
                       disconnected=True)
        self.is_hundred_continue_response_sent = True

    def _fail(self, message: str, status: int = 400, disconnected: bool = False):
        self._error = ClientBodyError(message, status=status, disconnected=disconnected)
        self._on_error(self._error)
        raise self._error
