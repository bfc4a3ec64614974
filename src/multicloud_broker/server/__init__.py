"""Sockets and processes: eventlet's WSGI server in oslo.service workers
(`launcher.serve`). Nothing is imported here: the log writer is used by the
app under any WSGI server, and must not bring eventlet in with it."""
