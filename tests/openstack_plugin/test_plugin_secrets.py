"""A region's password never leaves the inventory: not in a log line (at
DEBUG, the broker's and the plugin's), an answer, an error or a metric,
whatever the calls do (tokens through the identity proxy, resources, a
wrong password)."""

from __future__ import annotations

import json

from multicloud_broker.inventory.sqlite import SqliteInventory
from tests.openstack_plugin.conftest import PLUGIN, region_record, start_chain
from tests.support.client import request


def test_no_password_in_any_log_answer_or_metric_at_debug(tmp_path, keystone,
                                                          openstack_sim) -> None:
    chain = start_chain(tmp_path, keystone, openstack_sim, "django", log_level="DEBUG")
    wrong = "Wr0ng-%s-\"pass\"-ü"
    SqliteInventory(str(chain.inventory)).add(region_record(keystone, "RegionBad",
                                                            password=wrong))
    answers = []
    try:
        auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"},
            "password": keystone.admin_password}}}}}
        for method, path, body in (
                ("POST", chain.v0("identity/v3/auth/tokens"), auth),
                ("GET", chain.v0("tenants"), None),
                ("GET", chain.v0(f"{chain.tenant}/networks"), None),
                ("GET", "/api/multicloud/v0/acme_RegionBad/tenants", None)):
            data = json.dumps(body).encode() if body else None
            reply = request(chain.broker.url, method, path, body=data,
                            headers={"Content-Type": "application/json"} if data else None)
            answers.append(reply.body)
        answers.append(request(chain.plugin.url, "GET", "/metrics").body)
        answers.append(request(chain.plugin.url, "GET",
                               f"/api/{PLUGIN}/v0/swagger.json").body)
    finally:
        chain.broker.stop()
        chain.plugin.stop()
    text = b"".join(answers).decode(errors="replace") + "".join(
        p.read_text(errors="replace") for p in (
            chain.plugin.stderr_path, chain.plugin.stdout_path,
            chain.broker.stderr_path, chain.broker.stdout_path))
    assert " DEBUG " in chain.plugin.stderr_path.read_text()  # DEBUG was on
    for secret in (keystone.admin_password, wrong):
        assert secret not in text
