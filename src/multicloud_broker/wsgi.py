"""`application` for any WSGI server (uWSGI, gunicorn, mod_wsgi).

Configuration comes from the environment: MULTICLOUD_BROKER_CONFIG names an
optional config file; ONAP's variables (WEB_FRAMEWORK, AAI_*, MSB_*) apply.
"""

import os

from multicloud_broker import warnings_log

warnings_log.install()  # before the dependencies that may warn are imported

from multicloud_broker.config import load_config  # noqa: E402
from multicloud_broker.logs import setup_logging  # noqa: E402
from multicloud_broker.web import build_app  # noqa: E402

_config = os.environ.get("MULTICLOUD_BROKER_CONFIG")
conf = load_config(["--config-file", _config] if _config else [])
setup_logging(conf)
warnings_log.to_logging()
application = build_app(conf)
