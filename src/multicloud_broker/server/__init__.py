"""Sockets and processes: eventlet's WSGI server in oslo.service workers."""

from multicloud_broker.server.launcher import serve

__all__ = ["serve"]
