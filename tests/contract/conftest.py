"""Fixtures of the HTTP contract suite: real upstreams and real broker processes.

Brokers are expensive to start, so one `BrokerPool` per session starts each kind
of broker at most once per web framework, on first use, and stops them all at
the end. Tests that program the plugin or A&AI get both reset before they run.

Kinds of broker (all with short plugin timeouts so slow-plugin tests are quick):
- "sqlite": embedded inventory filled by `multicloud-broker region add`, every
  plugin at the PluginServer, 2 workers.
- "aai": inventory backend aai at the AAIServer (schema v19, basic auth, no cache).
- "aai_down": inventory backend aai at a closed port.
- "env": configured by ONAP's environment variables (WEB_FRAMEWORK, AAI_*, MSB_*):
  A&AI inventory, no plugin endpoints, so plugins are reached via the MSB gateway
  (which is the PluginServer).
- "faults": sqlite inventory, max_body_size 1 MiB, every plugin at a closed port
  except multicloud-pike (at the PluginServer, so body limits meet a live plugin).
- "hostile": sqlite inventory, one worker, every plugin at the HostilePlugin
  (tests/support/hostile_plugin.py) except multicloud-pike (at the PluginServer);
  short deadlines and small bounds (see HOSTILE_PLUGINS below).
- "crowded": the hostile broker with CROWDED_SLOTS request slots and the
  default connection bound per plugin (sized from those slots).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.contract.settings import (AAI_PASSWORD, AAI_SCHEMA, AAI_USER,  # noqa: E402
                                     CAPACITY_TIMEOUT, CROWDED_SLOTS, ENV_AAI_PASSWORD,
                                     ENV_AAI_SCHEMA,
                                     HOSTILE_PLUGINS,
                                     ENV_AAI_USER, PLUGIN_READ_TIMEOUT, SMALL_BODY_LIMIT)
from tests.support import regions  # noqa: E402
from tests.support.broker import (SERVER_BACKENDS, BrokerProcess,  # noqa: E402
                                   region_add, server_backend_for_brokers, write_config)
from tests.support.hostile_plugin import HostilePlugin  # noqa: E402
from tests.support.upstreams import AAIServer, ClosedPort, PluginServer  # noqa: E402

WEB_FRAMEWORKS = ("django", "pecan")


class BrokerPool:
    """Starts brokers on demand, keyed by (kind, web framework), and stops them all."""

    def __init__(self, workdir: Path, plugin: PluginServer, aai: AAIServer,
                 closed: ClosedPort, inventory_db: Path) -> None:
        self.workdir = workdir
        self.plugin = plugin
        self.aai = aai
        self.closed = closed
        self.inventory_db = inventory_db
        self.hostile: HostilePlugin | None = None  # set by the hostile_plugin fixture
        self._brokers: dict[tuple[str, str, str | None], BrokerProcess] = {}

    def get(self, kind: str, web_framework: str) -> BrokerProcess:
        key = (kind, web_framework, BrokerProcess.server_backend)
        if key not in self._brokers:
            config, workers = getattr(self, "_config_" + kind)()
            env = getattr(self, "_env_" + kind, lambda fw: None)(web_framework)
            name = "-".join(filter(None, key))
            broker = BrokerProcess(self.workdir / name, config,
                                   web_framework=None if env else web_framework,
                                   workers=workers, env=env, name=name)
            broker.start()
            self._brokers[key] = broker
        return self._brokers[key]

    def stop_all(self) -> None:
        # SIGTERM all first, then wait: shutdowns overlap instead of adding up.
        for broker in self._brokers.values():
            broker.terminate()
        for broker in self._brokers.values():
            broker.wait_stopped()

    def _base(self, plugin_url: str) -> dict:
        return {
            "DEFAULT": {"graceful_shutdown_timeout": 5, "log_level": "INFO"},
            "inventory": {"backend": "sqlite", "sqlite_path": str(self.inventory_db),
                          "cache_ttl": 0},
            # Plugins not listed would go through MSB: make that a dead end, not port 80.
            "msb": {"protocol": "http", "host": "127.0.0.1", "port": self.closed.port},
            "plugins": {"endpoints": {name: plugin_url for name in regions.PLUGINS},
                        "connect_timeout": 1, "read_timeout": PLUGIN_READ_TIMEOUT,
                        "capacity_timeout": CAPACITY_TIMEOUT},
        }

    def _config_sqlite(self) -> tuple[dict, int]:
        return self._base(self.plugin.url), 2

    def _aai_config(self, port: int) -> dict:
        config = self._base(self.plugin.url)
        config["inventory"] = {"backend": "aai", "cache_ttl": 0}
        config["aai"] = {"protocol": "http", "host": "127.0.0.1", "port": port,
                         "schema_version": AAI_SCHEMA, "username": AAI_USER,
                         "password": AAI_PASSWORD, "connect_timeout": 1,
                         "read_timeout": 2}
        return config

    def _config_aai(self) -> tuple[dict, int]:
        return self._aai_config(self.aai.port), 1

    def _config_aai_down(self) -> tuple[dict, int]:
        return self._aai_config(self.closed.port), 1

    def _config_env(self) -> tuple[dict, int]:
        # Only what ONAP's deployment does not set; no plugin endpoints: all via MSB.
        return {"DEFAULT": {"graceful_shutdown_timeout": 5},
                "inventory": {"cache_ttl": 0},
                "plugins": {"read_timeout": PLUGIN_READ_TIMEOUT,
                            "capacity_timeout": CAPACITY_TIMEOUT}}, 1

    def _env_env(self, web_framework: str) -> dict[str, str]:
        """ONAP's deployment variables: framework, A&AI (=> aai backend) and MSB."""
        return {"WEB_FRAMEWORK": web_framework,
                "AAI_PROTOCOL": "http", "AAI_ADDR": "127.0.0.1", "AAI_PORT": str(self.aai.port),
                "AAI_SCHEMA_VERSION": ENV_AAI_SCHEMA, "AAI_USERNAME": ENV_AAI_USER,
                "AAI_PASSWORD": ENV_AAI_PASSWORD, "MSB_PROTO": "http", "MSB_ADDR": "127.0.0.1",
                "MSB_PORT": str(self.plugin.port), "SSL_ENABLED": "false"}

    def _config_hostile(self) -> tuple[dict, int]:
        assert self.hostile is not None, "use the hostile_broker fixture"
        config = self._base(self.hostile.url)
        config["plugins"]["endpoints"]["multicloud-pike"] = self.plugin.url
        config["plugins"].update(HOSTILE_PLUGINS)
        return config, 1  # one worker: a pooled connection is met again for sure

    def _config_crowded(self) -> tuple[dict, int]:
        config, workers = self._config_hostile()
        del config["plugins"]["max_connections_per_plugin"]  # the default, from the slots
        config["DEFAULT"]["wsgi_pool_size"] = CROWDED_SLOTS
        return config, workers

    def _config_faults(self) -> tuple[dict, int]:
        config = self._base(self.closed.url)
        config["plugins"]["endpoints"]["multicloud-pike"] = self.plugin.url
        config["DEFAULT"]["max_body_size"] = SMALL_BODY_LIMIT
        return config, 1


@pytest.fixture(scope="session")
def plugin() -> Iterator[PluginServer]:
    server = PluginServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def aai() -> Iterator[AAIServer]:
    server = AAIServer()
    for r in regions.ALL:
        server.add_region(r.owner, r.region, r.cloud_type, r.version)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def closed_port() -> Iterator[ClosedPort]:
    with ClosedPort() as closed:
        yield closed


@pytest.fixture(scope="session")
def inventory_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sqlite inventory, filled through the CLI, shared read-only by sqlite brokers."""
    workdir = tmp_path_factory.mktemp("inventory")
    db = workdir / "inventory.sqlite"
    config_file = write_config(workdir / "inventory.conf",
                               {"inventory": {"backend": "sqlite", "sqlite_path": str(db)}})
    for r in regions.ALL:
        region_add(config_file, r.owner, r.region, r.cloud_type, r.version)
    return db


@pytest.fixture(scope="session")
def broker_pool(tmp_path_factory: pytest.TempPathFactory, plugin: PluginServer,
                aai: AAIServer, closed_port: ClosedPort,
                inventory_db: Path) -> Iterator[BrokerPool]:
    pool = BrokerPool(tmp_path_factory.mktemp("brokers"), plugin, aai, closed_port,
                      inventory_db)
    yield pool
    pool.stop_all()


@pytest.fixture(scope="session", params=SERVER_BACKENDS, autouse=True)
def server_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs under each serving backend."""
    yield from server_backend_for_brokers(request)


@pytest.fixture(scope="session", params=WEB_FRAMEWORKS)
def web_framework(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def broker(broker_pool: BrokerPool, server_backend: str, web_framework: str) -> BrokerProcess:
    """The main broker: sqlite inventory, every plugin at the PluginServer."""
    return broker_pool.get("sqlite", web_framework)


@pytest.fixture(scope="session")
def aai_broker(broker_pool: BrokerPool, server_backend: str, web_framework: str) -> BrokerProcess:
    return broker_pool.get("aai", web_framework)


@pytest.fixture(scope="session")
def aai_down_broker(broker_pool: BrokerPool, server_backend: str,
                    web_framework: str) -> BrokerProcess:
    return broker_pool.get("aai_down", web_framework)


@pytest.fixture(scope="session")
def faults_broker(broker_pool: BrokerPool, server_backend: str,
                  web_framework: str) -> BrokerProcess:
    return broker_pool.get("faults", web_framework)


@pytest.fixture(scope="session")
def hostile_plugin(broker_pool: BrokerPool) -> Iterator[HostilePlugin]:
    server = HostilePlugin().start()
    broker_pool.hostile = server
    yield server
    server.stop()


@pytest.fixture(scope="session")
def hostile_broker(broker_pool: BrokerPool, server_backend: str, hostile_plugin: HostilePlugin,
                   web_framework: str) -> BrokerProcess:
    """Plugins misbehaving on purpose (all but multicloud-pike); one worker."""
    return broker_pool.get("hostile", web_framework)


@pytest.fixture(scope="session")
def crowded_broker(broker_pool: BrokerPool, server_backend: str, hostile_plugin: HostilePlugin,
                   web_framework: str) -> BrokerProcess:
    """The hostile broker with few request slots (CROWDED_SLOTS) and the
    default per-plugin connection bound they give."""
    return broker_pool.get("crowded", web_framework)


@pytest.fixture(scope="session")
def env_broker(broker_pool: BrokerPool, server_backend: str, web_framework: str) -> BrokerProcess:
    """Configured the ONAP way: environment variables, plugins through the MSB gateway."""
    return broker_pool.get("env", web_framework)


@pytest.fixture(scope="session")
def both_brokers(broker_pool: BrokerPool, server_backend: str) -> dict[str, BrokerProcess]:
    """The main broker under each framework, running at the same time."""
    return {fw: broker_pool.get("sqlite", fw) for fw in WEB_FRAMEWORKS}


@pytest.fixture(autouse=True)
def _fresh_upstreams(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with a default plugin and a healthy, empty-log A&AI."""
    names = request.fixturenames
    plugin_server = request.getfixturevalue("plugin") if "plugin" in names else None
    aai_server = request.getfixturevalue("aai") if "aai" in names else None
    if plugin_server is not None:
        plugin_server.reset()
    if aai_server is not None:
        aai_server.set_mode("ok")
        aai_server.clear_requests()
    if "hostile_plugin" in names:
        request.getfixturevalue("hostile_plugin").reset()
    yield
    if aai_server is not None:
        aai_server.set_mode("ok")
