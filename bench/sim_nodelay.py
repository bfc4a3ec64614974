"""`python -m bench.sim_nodelay ARGS`: the OpenStack simulator
(`python -m multicloud_broker.simulators.openstack ARGS`, unchanged) with
TCP_NODELAY set on every connection it accepts.

Why: gevent's WSGI handler (gevent 26.9, `_write_with_headers`) sends an
answer's head and its body in two send() calls. With Nagle's algorithm on
(the socket default) the body waits for the client's ACK of the head, and a
client on a kept-alive connection delays that ACK (Linux: about 40 ms). So
every call on a reused connection takes 40 ms more, whatever it costs:
`ab -k -c 1` on the simulator measures 44 ms per list instead of 0.6 ms, and
the plugin, which keeps its connections to the cloud alive, pays 40 ms per
cloud call. Real OpenStack services do not show this (eventlet's and
uWSGI's servers send head and a small body together), so the plugin section
runs the simulator through this wrapper by default; `--stock-simulator`
runs it as it is.

Nothing of the simulator's code is changed: its handler class gets a
`handle` that sets the option first, after the simulator's own main has
monkey-patched the process.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from multicloud_broker.simulators.openstack import cli

    original_serve = cli.serve

    def serve(args, zones):
        # Called by cli.main once gevent has patched the process.
        import socket

        from multicloud_broker.simulators.openstack import server

        handle = server.SimHandler.handle

        def nodelay_handle(self):
            try:
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
            return handle(self)

        server.SimHandler.handle = nodelay_handle
        return original_serve(args, zones)

    cli.serve = serve
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
