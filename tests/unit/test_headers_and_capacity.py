import io
import json

import pytest

from multicloud_broker.core.capacity import (CapacityFanOut, CheckFailed, answer_of,
                                             parse_v0, parse_v1)
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
    # Neither yes nor no: a failure, which the fan-out logs with its reason.
    for status, body in ((500, b'{"result": true}'), (200, b"garbage"), (200, b'{"x": 1}')):
        with pytest.raises(CheckFailed):
            answer_of(status, body)


def test_fan_out_keeps_names_and_drops_failures(caplog):
    def boom():
        raise RuntimeError("plugin exploded")
    results = CapacityFanOut(timeout=5).run({"a": lambda: 1, "b": boom, "c": lambda: 3})
    assert results == {"a": 1, "b": None, "c": 3}
    assert "capacity check of b left out: RuntimeError: plugin exploded" in caplog.text


def test_fan_out_runs_at_most_concurrency_checks_at_once():
    import threading
    # Checks meet in threes: they pass only if 3 run at once, and a 4th at
    # once would be counted.
    barrier = threading.Barrier(3)
    running, peak, lock = [0], [0], threading.Lock()

    def check():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        barrier.wait(timeout=5)
        with lock:
            running[0] -= 1
        return True
    results = CapacityFanOut(timeout=10, concurrency=3).run({str(i): check for i in range(9)})
    assert results == {str(i): True for i in range(9)}
    assert peak[0] == 3


def test_fan_out_over_the_vim_bound_is_413():
    fan_out = CapacityFanOut(timeout=1, max_vims=2)
    fan_out.check_count(2)
    with pytest.raises(PayloadTooLarge, match="at most 2"):
        fan_out.check_count(3)


def test_fan_out_check_past_the_timeout_is_left_out_and_logged(caplog):
    import threading
    release = threading.Event()

    def stuck():
        release.wait(5)
        return True
    try:
        results = CapacityFanOut(timeout=0.2, concurrency=2).run({"slow": stuck,
                                                                  "fast": lambda: True})
    finally:
        release.set()
    assert results == {"slow": None, "fast": True}
    assert "capacity check of slow left out: no answer within capacity_timeout" in caplog.text
