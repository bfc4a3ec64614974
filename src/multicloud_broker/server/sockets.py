"""The shared listening socket, bound once by the bootstrap process."""

from __future__ import annotations

import resource
import socket

import eventlet
from oslo_config import cfg


class BindError(Exception):
    """The address cannot be listened on."""


def listen(conf: cfg.ConfigOpts) -> socket.socket:
    """A listening socket on bind_host:bind_port with the configured backlog."""
    family = socket.AF_INET6 if ":" in conf.bind_host else socket.AF_INET
    try:
        # reuse_port off: a second broker on a busy port must fail, not share it.
        sock = eventlet.listen((conf.bind_host, conf.bind_port), family=family,
                               backlog=conf.backlog, reuse_addr=True, reuse_port=False)
    except OSError as exc:
        raise BindError(f"cannot listen on {conf.bind_host}:{conf.bind_port}: "
                        f"{exc.strerror or exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def wrap_tls(sock: socket.socket, conf: cfg.ConfigOpts) -> socket.socket:
    """The socket wrapped for HTTPS when [ssl] enabled, else as it is."""
    if not conf.ssl.enabled:
        return sock
    return eventlet.wrap_ssl(sock, certfile=conf.ssl.cert_file,
                             keyfile=conf.ssl.key_file, server_side=True)


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; each client is a file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft
