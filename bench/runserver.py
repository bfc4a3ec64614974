"""Django's development server serving our Django app: the spec's "before".

Configures Django exactly as `multicloud_broker.web.django.app.make_app`
does (which also sets `views.SERVICE`), then hands over to `runserver
--noreload`. Usage: python -m bench.runserver CONFIG_FILE 127.0.0.1:PORT
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    config_file, address = argv
    from multicloud_broker.config import load_config
    from multicloud_broker.logs import setup_logging
    from multicloud_broker.web.django.app import make_app
    from multicloud_broker.wiring import build_broker

    conf = load_config(["--config-file", config_file, "--web-framework", "django"])
    setup_logging(conf)
    make_app(build_broker(conf))
    from django.core.management import execute_from_command_line
    # runserver builds its own WSGIHandler; the URLconf and BROKER are shared.
    execute_from_command_line(["runserver", "runserver", "--noreload", address])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
