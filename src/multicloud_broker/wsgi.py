"""`application` for any WSGI server (uWSGI, gunicorn, mod_wsgi).

Configuration comes from the environment: MULTICLOUD_BROKER_CONFIG names an
optional config file; ONAP's variables (WEB_FRAMEWORK, AAI_*, MSB_*) apply.
"""

import os

from multicloud_broker.config import load_config
from multicloud_broker.logs import setup_logging
from multicloud_broker.web import build_app

_config = os.environ.get("MULTICLOUD_BROKER_CONFIG")
conf = load_config(["--config-file", _config] if _config else [])
setup_logging(conf)
application = build_app(conf)
