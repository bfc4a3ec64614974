"""Brokers behind one real haproxy: the set-up both fleet tests share."""

from __future__ import annotations

from pathlib import Path

from tests.fleet.haproxy import HAProxy
from tests.support.broker import BrokerProcess

# Two replicas, one per web framework (a fleet may mix them).
FRAMEWORKS = {"b1": "django", "b2": "pecan"}


class Fleet:
    """The brokers started, haproxy in front, each replica UP before a test."""

    def __init__(self, workdir: Path, haproxy_binary: str,
                 brokers: dict[str, BrokerProcess]) -> None:
        self.brokers = brokers
        for broker in self.brokers.values():
            broker.start()
        self.haproxy = HAProxy(haproxy_binary, workdir,
                               [(name, b.port) for name, b in self.brokers.items()]).start()
        for name in self.brokers:
            self.haproxy.wait_status(name, "UP")

    def stop(self) -> None:
        self.haproxy.stop()
        for broker in self.brokers.values():
            broker.terminate()
        for broker in self.brokers.values():
            broker.wait_stopped()
