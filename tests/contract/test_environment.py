"""ONAP's deployment variables and the MSB gateway (API.md, A&AI section and step 3)."""

from __future__ import annotations

import pytest

from tests.contract.settings import ENV_AAI_PASSWORD, ENV_AAI_SCHEMA, ENV_AAI_USER
from tests.support.broker import BrokerProcess
from tests.support.contract import assert_json_error, call
from tests.support.regions import MISSING, NEWTON, OCATA, VIO, Region
from tests.support.upstreams import AAIServer, PluginServer


@pytest.mark.parametrize("region", [OCATA, NEWTON, VIO], ids=lambda r: r.region)
def test_env_configured_broker_uses_aai_and_msb(env_broker: BrokerProcess, aai: AAIServer,
                                               plugin: PluginServer, region: Region) -> None:
    # No [plugins] endpoints: the plugin is reached at the MSB gateway (MSB_* variables).
    reply = call(env_broker.url, "POST", region.v0 + "/registry?x=1", json_body={})
    assert reply.status == 200, reply
    [seen] = plugin.requests_to(region.plugin_v0 + "/registry", "POST")
    assert seen.query == "x=1"
    # AAI_ADDR set => the A&AI backend, with AAI_SCHEMA_VERSION and the AAI_* credentials.
    path = (f"/aai/{ENV_AAI_SCHEMA}/cloud-infrastructure/cloud-regions/cloud-region/"
            f"{region.owner}/{region.region}")
    lookups = aai.requests_to(path)
    assert lookups, [r.target for r in aai.requests]
    assert aai.basic_auth(lookups[-1]) == (ENV_AAI_USER, ENV_AAI_PASSWORD)


def test_env_configured_broker_unknown_region(env_broker: BrokerProcess,
                                              aai: AAIServer) -> None:
    message = assert_json_error(call(env_broker.url, "GET", MISSING.v1 + "/tenants"), 404)
    assert MISSING.region in message


def test_web_framework_from_environment(env_broker: BrokerProcess,
                                        web_framework: str) -> None:
    # WEB_FRAMEWORK chose the framework (no flag, no config option): its start-up says so.
    assert call(env_broker.url, "GET", "/api/multicloud/v0/vim_types").status == 200
    other = {"django": "pecan", "pecan": "django"}[web_framework]
    output = env_broker.output().lower()
    startup = [line for line in output.splitlines()
               if "framework" in line or "serving" in line]
    assert startup, output[-2000:]
    assert all(web_framework in line and other not in line for line in startup), startup
