"""The listening sockets, bound once by the bootstrap process.

The standard library's socket, which either backend has patched green by
the time this runs; TLS is wrapped by each backend's server module.
"""

from __future__ import annotations

import resource
import socket

from oslo_config import cfg


class BindError(Exception):
    """The address cannot be listened on."""


class Listeners:
    """The listening sockets, bound once by the bootstrap: one per worker slot.

    With several workers each slot has a socket of its own on the same
    address (SO_REUSEPORT), and a worker accepts on its slot's socket only,
    so the kernel spreads new connections evenly over the workers. On one
    shared socket, whichever worker wakes first takes what is queued: a
    burst of kept-alive connections could land on one worker for their whole
    life. A respawned or reloaded worker takes over its slot's socket; the
    bootstrap keeps every socket open, so connections queued on it wait for
    the new worker instead of being refused.
    """

    def __init__(self, socks: list[socket.socket]):
        self.socks = socks
        self.slot = 0  # the next forked worker's slot (set by the launcher)

    def mine(self) -> socket.socket:
        """The socket of this worker's slot."""
        return self.socks[self.slot]

    def close(self) -> None:
        """Close every socket (the bootstrap, once its workers are gone)."""
        for sock in self.socks:
            sock.close()


def listen(conf: cfg.ConfigOpts, slots: int = 1) -> Listeners:
    """`slots` listening sockets on bind_host:bind_port with the configured backlog."""
    family = socket.AF_INET6 if ":" in conf.bind_host else socket.AF_INET
    try:
        # First without SO_REUSEPORT: a port in use, by another broker too,
        # fails here instead of being shared with it.
        first = _listen(conf.bind_host, conf.bind_port, family, conf.backlog, reuse_port=False)
        if slots == 1:
            return Listeners([first])
        port = first.getsockname()[1]
        first.close()
        return Listeners([_listen(conf.bind_host, port, family, conf.backlog, reuse_port=True)
                          for _ in range(slots)])
    except OSError as exc:
        raise BindError(f"cannot listen on {conf.bind_host}:{conf.bind_port}: "
                        f"{exc.strerror or exc}") from None


def _listen(host: str, port: int, family: int, backlog: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def check_tls(conf: cfg.ConfigOpts) -> None:
    """Load the certificate and key once, so that a bad pair stops start-up."""
    import ssl
    if conf.ssl.enabled:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                conf.ssl.cert_file, conf.ssl.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise BindError(f"[ssl] unusable certificate or key: {exc}") from None


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; each client is a file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft
