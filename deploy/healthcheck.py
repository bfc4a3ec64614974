#!/usr/bin/env python3
"""The container's health check: GET /healthz on the broker's own port.

Over HTTPS when SSL_ENABLED is true (as the broker reads it: true, 1, yes,
on), else HTTP. The certificate is not checked: this asks the server in its
own container by address, and a certificate names the service, not
127.0.0.1. Exit status 0 when the broker answers 200, 1 otherwise.

    HEALTHCHECK_PORT   the broker's port (default 9001)
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.error
import urllib.request

TRUE = ("true", "1", "yes", "on")


def health_url(environ: dict[str, str]) -> str:
    scheme = "https" if environ.get("SSL_ENABLED", "").strip().lower() in TRUE else "http"
    return f"{scheme}://127.0.0.1:{environ.get('HEALTHCHECK_PORT', '9001')}/healthz"


def main() -> int:
    url = health_url(dict(os.environ))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as reply:
            return 0 if reply.status == 200 else 1
    except (OSError, urllib.error.URLError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
