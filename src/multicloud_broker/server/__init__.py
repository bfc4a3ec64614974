"""Sockets and processes (`launcher.serve`): eventlet's WSGI server in
oslo.service workers, or gevent's in workers of gevent_launchers.py, as
`server_backend` says. Nothing is imported here: the log writer is used by
the app under any WSGI server, and must not bring either library with it."""
