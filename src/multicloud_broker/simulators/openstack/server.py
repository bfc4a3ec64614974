"""Serving the simulator with gevent's WSGI server, whose handler also hands
the raw connection to the app (environ["openstack_sim.connection"]) so that
transport faults can cut, trickle, hang or reset it.

Import only after gevent has monkey-patched the process.
"""

from __future__ import annotations

import socket
import struct

from gevent import pywsgi

from multicloud_broker.simulators.openstack.app import RAW_CONNECTION


class RawConnection:
    """The client's connection, for an app that answers (or not) by itself."""

    def __init__(self, handler: pywsgi.WSGIHandler):
        self._handler = handler
        self.taken = False  # the app used the socket: the server must not answer

    def send(self, data: bytes) -> None:
        self.taken = True
        self._handler.socket.sendall(data)

    def close(self) -> None:
        """Close after whatever was sent (FIN)."""
        self.taken = True
        try:
            self._handler.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset(self) -> None:
        """Close with a TCP RST: SO_LINGER 0, then the last reference closed."""
        self.taken = True
        sock = self._handler.socket
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._handler.rfile.close()
            sock.close()
        except OSError:
            pass


class _Drained:
    """Stands for the request body once the connection is gone."""

    def _discard(self) -> None:
        pass


class SimHandler(pywsgi.WSGIHandler):
    def handle(self):
        # gevent's handler sends an answer's head and body in two writes: with
        # Nagle on, the body waits for the ACK of the head, which a client on
        # a kept-alive connection delays (about 40 ms on Linux) - a cost real
        # OpenStack services do not have.
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # already closed by the client
        return super().handle()

    def get_environ(self):
        environ = super().get_environ()
        environ[RAW_CONNECTION] = RawConnection(self)
        return environ

    def run_application(self):
        connection = self.environ[RAW_CONNECTION]
        self.result = None
        try:
            self.result = self.application(self.environ, self.start_response)
            if connection.taken:
                # The app answered on the socket itself (or chose not to).
                self.close_connection = True
                self.wsgi_input = _Drained()
                if not self.status:
                    self.status = "000 fault"
                return
            self.process_result()
        finally:
            close = getattr(self.result, "close", None)
            try:
                if close is not None:
                    close()
            finally:
                self.result = None


def make_server(sock, app, quiet: bool) -> pywsgi.WSGIServer:
    """A gevent WSGI server for `app` on the bound, listening socket `sock`."""
    return pywsgi.WSGIServer(sock, app, handler_class=SimHandler,
                             log=None if quiet else "default", error_log="default")
