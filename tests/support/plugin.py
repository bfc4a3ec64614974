"""The OpenStack plugin as a real process (`multicloud-broker openstack-plugin`)."""

from __future__ import annotations

import sys

from tests.support.broker import BrokerProcess
from tests.support.upstreams import LOCALHOST


class PluginProcess(BrokerProcess):
    """`multicloud-broker openstack-plugin` on 127.0.0.1, stopped by PID."""

    def command(self) -> list[str]:
        framework = ["--web-framework", self.web_framework] if self.web_framework else []
        backend = ["--server-backend", self.server_backend] if self.server_backend else []
        workers = ["--workers", str(self.workers)] if self.workers else []
        return [sys.executable, "-m", "multicloud_broker", "openstack-plugin",
                "--config-file", str(self.config_file), *framework, *backend,
                "--bind-host", LOCALHOST, "--bind-port", str(self.port), *workers]
