"""Reusable test support: real upstream HTTP servers, an HTTP client, broker processes.

Nothing here patches the broker: upstreams are real servers on 127.0.0.1 and the
broker runs as its own process, so tests see what a user of the API sees.
"""
