"""Request limits enforced by the server itself, before any framework sees
the request: the client gets a clear status, the access log shows it, and
the worker keeps serving."""

from __future__ import annotations

from tests.server.helpers import base_config, wait_until
from tests.support.client import request

FAST = "/api/multicloud/v0/proc_RegionOne/fast"
URL_LIMIT, HEADER_LIMIT = 2048, 4096


def _limited_broker(make_broker, tmp_path, plugin):
    config = base_config(tmp_path, plugin, max_url_length=URL_LIMIT,
                         max_header_line=HEADER_LIMIT)
    return make_broker(workers=1, config=config)


def _refused_line(broker) -> str:
    """The one access-log line of an answer the server wrote itself."""
    (line,) = wait_until(lambda: [line for line in broker.stdout_path.read_text().splitlines()
                                  if " refused " in line])
    return line


def test_over_long_url_is_a_json_414(make_broker, tmp_path, plugin):
    broker = _limited_broker(make_broker, tmp_path, plugin)
    reply = request(broker.url, "GET", FAST + "?q=" + "x" * URL_LIMIT)
    assert reply.status == 414, reply
    assert reply.json() == {"error": f"request line over {URL_LIMIT} bytes"}
    line = _refused_line(broker)
    assert f" GET {FAST}?q=xxx" in line and " 414 refused " in line
    assert f'"request line over {URL_LIMIT} bytes"' in line
    assert request(broker.url, "GET", FAST + "?q=" + "x" * 100).status == 200


def test_over_long_header_line_is_400(make_broker, tmp_path, plugin):
    broker = _limited_broker(make_broker, tmp_path, plugin)
    reply = request(broker.url, "GET", FAST, headers={"X-Big": "y" * HEADER_LIMIT})
    assert reply.status == 400, reply
    line = _refused_line(broker)
    assert ' 400 refused ' in line and f' "GET {FAST} HTTP/1.1" ' in line
    assert f'"header line over {HEADER_LIMIT} bytes"' in line
    ok = request(broker.url, "GET", FAST, headers={"X-Big": "y" * (HEADER_LIMIT // 2)})
    assert ok.status == 200, ok
