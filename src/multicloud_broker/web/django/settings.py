"""Django settings for the API: no database, sessions, templates or middleware.

The API needs none of them; each one would cost time on every request.
"""

SECRET_KEY = "multicloud-broker-has-no-sessions-or-signed-data"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "multicloud_broker.web.django.urls"
INSTALLED_APPS: list = []
MIDDLEWARE: list = []
DATABASES: dict = {}
TEMPLATES: list = []
USE_I18N = False
USE_TZ = True
APPEND_SLASH = False
LOGGING_CONFIG = None  # the broker configures logging itself
DEFAULT_CHARSET = "utf-8"
