"""The eventlet ceiling: our server code serving a bare WSGI callable.

Same monkey-patching, oslo.service launcher, listening sockets, worker count and
access-log middleware as `multicloud-broker serve`; the app only returns
the vim_types bytes. Whatever our modes lose against this is framework and
broker cost. Usage: python -m bench.bare_server --config-file F [--workers N]
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    # As `multicloud-broker serve` does, before anything imports socket or threading.
    from multicloud_broker.green import prepare_server
    prepare_server()

    from multicloud_broker.config import catalog_path, load_config
    from multicloud_broker.core.catalog import PluginCatalog
    from multicloud_broker.logs import setup_logging
    from multicloud_broker.server.launcher import serve

    conf = load_config(argv)
    setup_logging(conf)
    body = PluginCatalog.load(catalog_path(conf)).vim_types_json
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]

    def bare_app(environ, start_response):
        start_response("200 OK", headers)
        return [body]

    return serve(conf, lambda: bare_app)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
