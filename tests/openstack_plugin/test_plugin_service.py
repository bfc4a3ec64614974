"""The plugin on the broker's server layer: both backends, several workers,
health and metrics, and Elastic API exposure by the operator: a declaration
file plus SIGHUP exposes a new resource with no code; a bad one is one line
naming its file and field (exit 2 at start, SIGHUP refused on reload)."""

from __future__ import annotations

import os
import signal
import textwrap

import pytest

from tests.openstack_plugin.conftest import PLUGIN, VIMID, chain_config, start_chain
from tests.server.helpers import wait_until, worker_pids
from tests.support.broker import run_cli, write_config
from tests.support.client import request
from tests.support.upstreams import free_port

VNETS = textwrap.dedent("""\
    # A resource of the operator's: Neutron's networks under another name.
    resource: vnets
    singular: vnet
    operations: [list, get]
    cloud:
      service: network
      path: /v2.0/networks
      list_key: networks
      item_key: network
    fields:
      id: {type: string, source: id, read_only: true}
      label: {type: string, source: name}
      external: {type: boolean, source: "router:external"}
    """)
BAD = "resource: broken\nsingular: b\noperations: [list]\ncloud: {service: network, " \
      "path: /v2.0/networks, list_key: networks, item_key: network}\n" \
      "fields:\n  size: {type: int, source: size}\n"


@pytest.mark.parametrize("backend", ["eventlet", "gevent"])
def test_an_operators_declaration_and_sighup_expose_a_resource(tmp_path, keystone,
                                                               openstack_sim, backend) -> None:
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    chain = start_chain(tmp_path / "chain", keystone, openstack_sim, "pecan", backend=backend,
                        plugin_workers=2, api_definitions_dir=str(definitions))
    try:
        plugin = chain.plugin
        path = f"/api/{PLUGIN}/v0/{VIMID}/{chain.tenant}/vnets"
        assert request(plugin.url, "GET", path).status == 404
        (definitions / "vnets.yaml").write_text(VNETS)
        os.kill(plugin.pid, signal.SIGHUP)
        wait_until(lambda: "every worker replaced" in plugin.stderr_path.read_text(), 30)
        reply = request(chain.broker.url, "GET", chain.v0(f"{chain.tenant}/vnets"))
        assert reply.status == 200, reply
        public = [n for n in reply.json()["vnets"] if n["label"] == "public"]
        assert public and public[0]["external"] is True
        swagger = request(plugin.url, "GET", f"/api/{PLUGIN}/v0/swagger.json").json()
        assert any(p.endswith("/vnets") for p in swagger["paths"])

        (definitions / "zz-bad.yaml").write_text(BAD)
        os.kill(plugin.pid, signal.SIGHUP)
        wait_until(lambda: "SIGHUP refused" in plugin.stderr_path.read_text(), 30)
        [line] = [l for l in plugin.stderr_path.read_text().splitlines()
                  if "SIGHUP refused" in l]
        assert "zz-bad.yaml" in line and "fields.size.type" in line
        assert request(plugin.url, "GET", path).status == 200  # the old workers serve
        assert len(worker_pids(plugin.pid)) == 2

        for probe in ("/healthz", "/readyz"):
            assert request(plugin.url, "GET", probe).status == 200
        metrics = request(plugin.url, "GET", "/metrics")
        assert metrics.status == 200 and b"multicloud_broker" in metrics.body
    finally:
        chain.broker.stop()
        assert chain.plugin.stop() == 0


def test_a_bad_declaration_stops_start_up_with_one_line(tmp_path) -> None:
    definitions = tmp_path / "definitions"
    definitions.mkdir()
    (definitions / "broken.yaml").write_text(BAD)
    conf = write_config(tmp_path / "plugin.conf", chain_config(
        tmp_path / "inventory.sqlite", api_definitions_dir=str(definitions)))
    done = run_cli(["openstack-plugin", "--config-file", str(conf), "--bind-host",
                    "127.0.0.1", "--bind-port", str(free_port())])
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("multicloud-broker: error: ")
    assert "broken.yaml" in lines[0] and "fields.size.type" in lines[0]
