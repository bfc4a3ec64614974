"""The request body as `wsgi.input` under eventlet: strict chunked decoding,
a deadline between two reads, and a clear error when the client goes away.

eventlet's Input reads `zz` or `-5` as chunk sizes with a bare ValueError
(a 500 and a traceback), returns a short body as if complete when the
client disconnects, and waits on a trickling client for as long as the
socket timeout allows. Here each of these raises ClientBodyError, once,
and the connection is closed after the answer. The reading itself is
http_rules.StrictBody, shared with the gevent backend; eventlet's Input
is kept underneath for what its server asks of it (the 100 Continue).
"""

from __future__ import annotations

from collections.abc import Callable

from eventlet import wsgi

from multicloud_broker.core.errors import ClientBodyError
from multicloud_broker.server.http_rules import StrictBody


class RequestBody(StrictBody, wsgi.Input):
    """A request body framed by a checked Content-Length or by `chunked`.

    `on_error(error)` is called once, when reading fails; it logs and makes
    the protocol close the connection.
    """

    def __init__(self, template: wsgi.Input, body_timeout: float,
                 socket_timeout: float | None,
                 on_error: Callable[[ClientBodyError | None], None]):
        wsgi.Input.__init__(self, template.rfile, template.content_length, template._sock,
                            wfile=template.wfile, wfile_line=template.wfile_line,
                            chunked_input=template.chunked_input)
        self._init_body(template.rfile, template._sock, self.content_length,
                        template.chunked_input, body_timeout, socket_timeout, on_error)

    def _continue_due(self) -> bool:
        return self.should_send_hundred_continue

    def _send_continue(self) -> None:
        self.send_hundred_continue_response()
        self.is_hundred_continue_response_sent = True
