import io
import json

import pytest

from multicloud_broker.core.capacity import CapacityFanOut, answer_of, parse_v0, parse_v1
from multicloud_broker.core.errors import BadRequest, PayloadTooLarge
from multicloud_broker.core.forwarder import end_to_end
from multicloud_broker.core.http import Request


def test_hop_by_hop_and_connection_named_headers_are_dropped():
    headers = [("Connection", "close, X-Private"), ("Keep-Alive", "5"), ("TE", "trailers"),
               ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"), ("X-Private", "1"),
               ("Proxy-Authorization", "x"), ("X-Auth-Token", "t"), ("Content-Type", "a/b")]
    assert end_to_end(headers) == [("X-Auth-Token", "t"), ("Content-Type", "a/b")]


def test_filtering_does_not_grow_anything_between_calls():
    before = end_to_end([("Connection", "X-A"), ("X-A", "1"), ("X-B", "2")])
    after = end_to_end([("X-A", "1"), ("X-B", "2")])
    assert before == [("X-B", "2")]
    assert after == [("X-A", "1"), ("X-B", "2")]


def test_request_from_environ():
    body = io.BytesIO(b'{"a": 1}')
    request = Request.from_environ({
        "REQUEST_METHOD": "post", "PATH_INFO": "/api/multicloud/v0/x_y/servers",
        "QUERY_STRING": "a=1", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "8",
        "HTTP_X_AUTH_TOKEN": "tok", "wsgi.input": body})
    assert (request.method, request.path, request.query) == (
        "POST", "/api/multicloud/v0/x_y/servers", "a=1")
    assert request.headers == {"x-auth-token": "tok", "content-type": "application/json",
                               "content-length": "8"}
    assert request.read_json(100) == {"a": 1}


def _request(raw: bytes) -> Request:
    return Request.from_environ({"REQUEST_METHOD": "POST", "PATH_INFO": "/",
                                 "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)})


def test_read_json_errors():
    with pytest.raises(BadRequest):
        _request(b"not json").read_json(100)
    with pytest.raises(PayloadTooLarge):
        _request(b"[" + b"1," * 100 + b"1]").read_json(100)


def test_capacity_bodies():
    assert parse_v0({"vCPU": 2, "VIMs": ["a_b"]}) == (
        {"vCPU": 2, "Memory": 0, "Storage": 0}, ["a_b"])
    regions = [{"cloud-owner": "a", "cloud-region-id": "b"}]
    assert parse_v1({"Memory": 1.5, "VIMs": regions})[1] == regions
    for bad in ([], {"VIMs": "a_b"}, {"vCPU": "2", "VIMs": []}, {"vCPU": True, "VIMs": []}):
        with pytest.raises(BadRequest):
            parse_v0(bad)
    with pytest.raises(BadRequest):
        parse_v1({"VIMs": ["a_b"]})


def test_capacity_answer_counts_only_200_true():
    assert answer_of(200, json.dumps({"result": True, "AZs": []}).encode())
    assert answer_of(200, b'{"result": false}') is None
    assert answer_of(500, b'{"result": true}') is None
    assert answer_of(200, b"garbage") is None


def test_fan_out_keeps_order_and_drops_failures():
    def boom():
        raise RuntimeError("plugin exploded")
    results = CapacityFanOut(timeout=5).run([lambda: 1, boom, lambda: 3])
    assert results == [1, None, 3]
