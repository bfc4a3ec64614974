"""The forwarded request target, Request.raw_path, and transaction ids."""

import io

import pytest

from multicloud_broker.core.service import transaction_id as _transaction_id
from multicloud_broker.core.errors import BadRequest
from multicloud_broker.core.http import Request
from multicloud_broker.core.target import plugin_target

V0 = ["v0", "own_reg"]


def _target(raw_rest: str, query: str = "", scope=V0) -> str:
    raw = "/api/multicloud/" + "/".join(scope) + raw_rest
    return plugin_target("multicloud-x", scope, raw, query)


@pytest.mark.parametrize("rest", ["/a%3Fb=1", "/x%23frag", "/%2541", "/na%C3%AFve", "/a%20b/",
                                  "/..a/b..", "", "/", "/t/.hidden", "/t/a..b"])
def test_rest_forwarded_as_written(rest):
    assert _target(rest, "q=%26&r=+") == f"/api/multicloud-x/v0/own_reg{rest}?q=%26&r=+"


def test_v1_scope_and_rewritten_prefix():
    raw = "/api/multi%63loud/v1/own/reg/infra_workload/s%2Dt"
    assert (plugin_target("p", ["v1", "own", "reg"], raw, "")
            == "/api/p/v1/own/reg/infra_workload/s%2Dt")


def test_non_ascii_bytes_sent_percent_encoded():
    # eventlet hands raw request-line bytes as latin-1 characters.
    assert _target("/caf\xc3\xa9") == "/api/multicloud-x/v0/own_reg/caf%C3%A9"


@pytest.mark.parametrize("rest, reason", [
    ("/..", "dot-segment"), ("/.", "dot-segment"), ("/a/../b", "dot-segment"),
    ("/%2e%2E", "dot-segment"), ("/.%2e", "dot-segment"), ("/%252e%252e", "dot-segment"),
    ("/%25252e", "dot-segment"), ("/%2e", "dot-segment"),
    ("/a%2fb", "encoded '/'"), ("/a%2Fb", "encoded '/'"), ("/a%252fb", "encoded '/'"),
    ("/a%5cb", "'\\'"), ("/a\\b", "backslash"),
    ("/a%00", "control"), ("/a%0d", "control"), ("/a%0A", "control"), ("/a%250a", "control"),
    ("/a b", "control"), ("/a\x01", "control"),
    ("/%2525252525", "too many times"),
])
def test_escapes_refused(rest, reason):
    with pytest.raises(BadRequest, match=reason.replace("\\", "\\\\")):
        _target(rest)


def test_encoded_slash_in_scope_refused():
    with pytest.raises(BadRequest):
        plugin_target("p", ["v1", "own", "er"], "/api/multicloud/v1/own%2Fer/x/y", "")


@pytest.mark.parametrize("query", ["a=\x00", "a b", "a=\x7f"])
def test_query_control_characters_refused(query):
    with pytest.raises(BadRequest, match="query"):
        _target("/x", query)


@pytest.mark.parametrize("environ, raw", [
    ({"RAW_PATH_INFO": "/a%2Fb", "PATH_INFO": "/a/b"}, "/a%2Fb"),
    ({"REQUEST_URI": "/a%2Fb?x=1", "PATH_INFO": "/a/b"}, "/a%2Fb"),
    ({"PATH_INFO": "/a b"}, "/a%20b"),
])
def test_raw_path_from_environ(environ, raw):
    request = Request.from_environ({"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(),
                                    **environ})
    assert request.raw_path == raw


@pytest.mark.parametrize("given", ["abc", "A-b_c.d:e", "x" * 128])
def test_token_transaction_ids_kept(given):
    assert _transaction_id(given) == given


@pytest.mark.parametrize("given", ["", "a b", "x" * 129, "a\r\nb", "a%0a", "<x>", "é"])
def test_other_transaction_ids_replaced(given, caplog):
    replaced = _transaction_id(given)
    assert replaced != given and len(replaced) == 32
    assert f"replaced by {replaced}" in caplog.text
    assert "\r" not in caplog.text and "\n" not in caplog.text.rstrip("\n")


def test_missing_transaction_id_generated_silently(caplog):
    assert len(_transaction_id(None)) == 32
    assert caplog.text == ""
