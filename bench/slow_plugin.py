"""A plugin that takes its time: every request is answered after --delay-ms.

One eventlet process that can hold thousands of requests at once, so that
what limits a measurement through the broker is the broker, not this.
Usage: python -m bench.slow_plugin --port P [--delay-ms 50]
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str]) -> int:
    from multicloud_broker.green import monkey_patch
    monkey_patch()
    import eventlet
    import eventlet.wsgi

    parser = argparse.ArgumentParser(prog="python -m bench.slow_plugin")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    delay = args.delay_ms / 1000
    body = b'{"tenants": [{"id": "1", "name": "bench"}]}'
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        eventlet.sleep(delay)
        start_response("200 OK", headers)
        return [body]

    sock = eventlet.listen(("127.0.0.1", args.port), backlog=4096)
    eventlet.wsgi.server(sock, app, custom_pool=eventlet.GreenPool(20000),
                         log_output=False, keepalive=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
