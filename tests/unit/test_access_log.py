"""The access-log middleware and its line writer, on real pipes and files."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid

import pytest

from multicloud_broker.logs import REQUEST_CONTEXT, JsonFormatter, RequestContext
from multicloud_broker.server import log_writer
from multicloud_broker.server.access_log import REFUSED_LINES_BURST, AccessLog, clean
from multicloud_broker.server.log_writer import LineWriter

PATH = "/api/multicloud/v0/vim_types"


@pytest.fixture
def pipe():
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        try:
            os.close(fd)
        except OSError:
            pass


def read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def environ(path: str = PATH, raw: str | None = None, method: str = "GET", **extra) -> dict:
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": "127.0.0.9", **extra}
    if raw is not None:
        env["RAW_PATH_INFO"] = raw
    return env


def app_answering(body, status: str = "200 OK", txid: str = "t1"):
    def app(env, start_response):
        start_response(status, [("Content-Type", "text/plain"), ("X-TransactionID", txid)])
        return body
    return app


def serve(log: AccessLog, env: dict, consume: int | None = None) -> list[bytes]:
    """Play the WSGI server: call, iterate (all, or `consume` chunks), close."""
    sent = []
    body = log(env, lambda status, headers, exc_info=None: None)
    try:
        for chunk in body:
            sent.append(chunk)
            if consume is not None and len(sent) >= consume:
                break
    finally:
        body.close()
    return sent


def logged_lines(log: AccessLog, read_end: int) -> list[str]:
    assert log.writer.flush(5)
    return read_available(read_end).decode("ascii").splitlines()


# --- values are escaped: no line can be split or forged ---------------------

@pytest.mark.parametrize("value, expected", [
    ("/a/b%0a", "/a/b%0a"),
    ("/a\nFORGED 200", "/a\\x0aFORGED\\x20200"),
    ("x\r\x00\x1b[31m\x7f", "x\\x0d\\x00\\x1b[31m\\x7f"),
    ("back\\slash", "back\\\\slash"),
    ("caf\xe9\u2028", "caf\\xe9\\u2028"),
    ("", "-"),
])
def test_clean_escapes_everything_but_printable_ascii(value, expected):
    assert clean(value) == expected


def test_clean_cuts_long_values():
    assert clean("a" * 500, 100) == "a" * 100 + "..."


def test_a_forged_path_stays_on_its_line(pipe):
    read_end, write_end = pipe
    log = AccessLog(app_answering([b"ok"]), write_end)
    serve(log, environ(path="/x\n2026-01-01 00:00:00,000 1 GET /forged 200", raw=None))
    serve(log, environ(path="/y\n", raw="/y%0aFORGED\r\x01"))
    lines = logged_lines(log, read_end)
    assert len(lines) == 2
    assert " /x%0A2026-01-01%2000:00:00,000%201%20GET%20/forged%20200 200 " in lines[0]
    assert " /y%0aFORGED\\x0d\\x01 200 " in lines[1]
    assert all(len(line.split()) == 10 for line in lines)


def test_transaction_id_and_method_are_escaped(pipe):
    read_end, write_end = pipe
    log = AccessLog(app_answering([b"ok"], txid="a b\nc"), write_end)
    serve(log, environ(method="GE T\n"))
    (line,) = logged_lines(log, read_end)
    fields = line.split()
    assert fields[3] == "GE\\x20T\\x0a" and fields[-1] == "a\\x20b\\x0ac"


# --- the line is written once the answer is sent ------------------------------

def test_line_after_the_whole_body(pipe):
    read_end, write_end = pipe
    log = AccessLog(app_answering(iter([b"abc", b"defg"])), write_end)
    body = log(environ(raw=PATH), lambda *a: None)
    assert b"".join(body) == b"abcdefg"
    assert read_available(read_end) == b""  # nothing before close()
    body.close()
    (line,) = logged_lines(log, read_end)
    date, clock, pid, method, path, status, outcome, took, sent, txid = line.split()
    assert (method, path, status, outcome, sent, txid) == ("GET", PATH, "200", "done", "7", "t1")
    assert int(pid) == os.getpid() and took.endswith("ms")


def test_a_body_that_fails_is_logged_cut(pipe):
    read_end, write_end = pipe

    def failing():
        yield b"part"
        raise ConnectionError("plugin went away")

    log = AccessLog(app_answering(failing()), write_end)
    with pytest.raises(ConnectionError):
        serve(log, environ())
    (line,) = logged_lines(log, read_end)
    status, outcome, took, sent = line.split()[5:9]
    assert (status, outcome, sent) == ("200", "cut", "4")


def test_a_client_that_leaves_early_is_logged_cut(pipe):
    read_end, write_end = pipe
    closed = []

    class Body:
        def __iter__(self):
            yield from (b"1", b"2", b"3")

        def close(self):
            closed.append(True)

    log = AccessLog(app_answering(Body()), write_end)
    assert serve(log, environ(), consume=1) == [b"1"]
    (line,) = logged_lines(log, read_end)
    status, outcome, took, sent = line.split()[5:9]
    assert (status, outcome, sent) == ("200", "cut", "1")
    assert closed == [True]  # the app's own close() still runs


def test_an_app_that_raises_is_logged_500(pipe):
    read_end, write_end = pipe

    def broken(env, start_response):
        raise RuntimeError("bug")

    log = AccessLog(broken, write_end)
    with pytest.raises(RuntimeError):
        log(environ(), lambda *a: None)
    (line,) = logged_lines(log, read_end)
    assert line.split()[5:7] == ["500", "cut"]


def test_a_sized_body_keeps_its_length_and_counts_the_pass_sent(pipe):
    """eventlet sums a sized body's chunks (one pass), then sends it (another)."""
    read_end, write_end = pipe
    log = AccessLog(app_answering([b"ab", b"cd"]), write_end)
    body = log(environ(), lambda *a: None)
    assert len(body) == 2 and sum(map(len, body)) == 4
    assert list(body) == [b"ab", b"cd"]
    body.close()
    assert logged_lines(log, read_end)[0].split()[6:9:2] == ["done", "4"]
    streamed = AccessLog(app_answering(iter([b"x"])), write_end)(environ(), lambda *a: None)
    assert not hasattr(streamed, "__len__")  # the server then streams it as it comes


# --- JSON lines ------------------------------------------------------------------

def test_json_line_carries_onap_fields(pipe):
    read_end, write_end = pipe
    log = AccessLog(app_answering([b"hello"], txid="tx-9"), write_end, log_format="json")
    env = environ(raw=PATH, HTTP_X_ONAP_REQUESTID="req-1\n",
                  HTTP_X_ONAP_PARTNERNAME="SO", CONTENT_LENGTH="0")
    serve(log, env)
    serve(log, environ(path="/api/multicloud/v0/owner_r1/flavors/x", HTTP_X_FROMAPPID="VID"))
    first, second = (json.loads(line) for line in logged_lines(log, read_end))
    assert first["RequestID"] == "req-1\\x0a" and first["PartnerName"] == "SO"
    assert first["TransactionID"] == "tx-9" and first["ResponseCode"] == 200
    assert first["StatusCode"] == "COMPLETE" and first["BytesOut"] == 5
    assert first["ServiceName"] == "GET /api/multicloud/v0/vim_types"
    assert first["ClientIPAddress"] == "127.0.0.9" and first["pid"] == os.getpid()
    assert uuid.UUID(first["InvocationID"]) and first["begin"] <= first["end"]
    assert second["RequestID"] == "tx-9" and second["PartnerName"] == "VID"
    assert second["ServiceName"] == "GET /api/multicloud/v0/{vimid}/{rest:path}"
    assert first["InvocationID"] != second["InvocationID"]


def test_json_line_of_a_cut_answer_is_an_error(pipe):
    read_end, write_end = pipe
    log = AccessLog(app_answering(iter([b"1", b"2"])), write_end, log_format="json")
    serve(log, environ(), consume=1)
    (line,) = logged_lines(log, read_end)
    assert json.loads(line)["StatusCode"] == "ERROR" and json.loads(line)["outcome"] == "cut"


def test_application_log_in_json_names_the_request():
    formatter = JsonFormatter()
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "bad\n%s", ("thing",), None)
    token = REQUEST_CONTEXT.set(RequestContext("r-1", "inv-1", "SO", "10.0.0.1"))
    try:
        text = formatter.format(record)
    finally:
        REQUEST_CONTEXT.reset(token)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == "bad\nthing" and entry["level"] == "WARNING"
    assert (entry["RequestID"], entry["InvocationID"], entry["PartnerName"]) == \
        ("r-1", "inv-1", "SO")
    assert "RequestID" not in json.loads(formatter.format(record))  # outside a request


# --- answers the server wrote itself -----------------------------------------------

def test_a_refusal_line_names_client_request_line_status_and_reason(pipe):
    read_end, write_end = pipe
    log = AccessLog(app_answering([]), write_end)
    line = b'POST /x?a="b"\x01\xff HTTP/1.1\r\n'  # a quote, a control byte, non-ASCII
    log.refused("10.0.0.7", line, 400, "2 Content-Length headers", 0.0, 37)
    log.refused("10.0.0.8", b"", 408, "request head not received within 20 s", 0.0, 49)
    first, second = logged_lines(log, read_end)
    fields = first.split(" ", 10)
    assert fields[3:7] == ["POST", '/x?a="b"\\x01\\xff', "400", "refused"]
    assert fields[7].endswith("ms") and fields[8:10] == ["37", "-"]
    assert fields[10] == ('10.0.0.7 "POST /x?a=\\x22b\\x22\\x01\\xff HTTP/1.1" '
                          '"2 Content-Length headers"')
    assert second.split()[3:7] == ["-", "-", "408", "refused"]
    assert second.endswith(' 10.0.0.8 "" "request head not received within 20 s"')


def test_a_refusal_in_json(pipe):
    read_end, write_end = pipe
    log = AccessLog(app_answering([]), write_end, log_format="json")
    log.refused("10.0.0.7", b"GET /y HTTP/1.1\r\n", 431, "request headers over 65536 bytes",
                0.0, 45)
    (line,) = logged_lines(log, read_end)
    entry = json.loads(line)
    assert (entry["ResponseCode"], entry["outcome"], entry["StatusCode"]) == (431, "refused",
                                                                             "ERROR")
    assert entry["requestLine"] == "GET /y HTTP/1.1" and entry["path"] == "/y"
    assert entry["reason"] == "request headers over 65536 bytes"
    assert entry["ClientIPAddress"] == entry["PartnerName"] == "10.0.0.7"
    assert entry["BytesOut"] == 45 and uuid.UUID(entry["InvocationID"])


def test_refusal_lines_are_rate_limited_and_the_rest_counted(pipe, caplog):
    read_end, write_end = pipe
    log = AccessLog(app_answering([]), write_end)
    with caplog.at_level(logging.WARNING, logger=log_writer.__name__):
        for _ in range(REFUSED_LINES_BURST + 50):
            log.refused("10.0.0.7", b"GET / HTTP/1.1", 400, "malformed", 0.0, 10)
    kept = len(logged_lines(log, read_end))
    assert REFUSED_LINES_BURST <= kept < REFUSED_LINES_BURST + 50
    assert log.dropped == REFUSED_LINES_BURST + 50 - kept
    assert any("over a rate limit" in r.getMessage() for r in caplog.records)


# --- the writer: never waits on the reader; losses counted and warned -------------

def test_full_pipe_drops_count_and_warn(pipe, caplog):
    read_end, write_end = pipe
    writer = LineWriter(write_end, capacity=10, name="test log")
    line = b"x" * 99 + b"\n"
    with caplog.at_level(logging.WARNING, logger=log_writer.__name__):
        for _ in range(2000):  # 200 KB into a 64 KiB pipe nobody reads
            writer.write(line)
    assert writer.dropped > 0 and log_writer.dropped_lines() >= writer.dropped
    warnings = [r.getMessage() for r in caplog.records if "lines dropped" in r.getMessage()]
    assert len(warnings) == 1  # at most one per WARN_INTERVAL
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(read_end, received))
    reader.start()
    writer.close()
    os.close(write_end)
    reader.join(10)
    lines = bytes(received).splitlines(keepends=True)
    assert all(x == line for x in lines)  # written whole
    assert len(lines) + writer.dropped == 2000


def _drain(fd: int, into: bytearray) -> None:
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        into.extend(chunk)


def test_a_nonblocking_pipe_with_a_slow_reader_loses_nothing(pipe):
    read_end, write_end = pipe
    os.set_blocking(write_end, False)  # as a runtime that shares the pipe may leave it
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    writer = LineWriter(write_end, capacity=100000)
    received = bytearray()
    reader = threading.Thread(target=_drain, args=(read_end, received))
    reader.start()
    for n in range(20000):
        writer.write(b"line %05d\n" % n)
    writer.close()
    os.close(write_end)
    reader.join(10)
    assert writer.dropped == 0
    assert bytes(received).splitlines() == [b"line %05d" % n for n in range(20000)]


def test_close_closes_a_file_it_owns_but_never_stdout(tmp_path):
    fd = os.open(tmp_path / "a.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    writer = LineWriter(fd, owns_fd=True)
    writer.write(b"one\n")
    writer.close()
    assert (tmp_path / "a.log").read_bytes() == b"one\n"
    with pytest.raises(OSError):
        os.fstat(fd)
    out = LineWriter(1, owns_fd=True)
    out.close()
    os.fstat(1)  # still open


def test_access_log_close_closes_its_file(tmp_path):
    fd = os.open(tmp_path / "access.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    log = AccessLog(app_answering([b"ok"]), fd)
    serve(log, environ())
    log.close()
    assert (tmp_path / "access.log").read_text().count(" GET ") == 1
    with pytest.raises(OSError):
        os.fstat(fd)
    assert log.dropped == 0


def test_a_terminal_gets_every_line():
    master, slave = os.openpty()
    import tty
    tty.setraw(slave)  # no \n -> \r\n translation: the bytes as written
    writer = LineWriter(slave, capacity=100000)
    received = bytearray()

    def drain():
        while received.count(b"\n") < 5000:
            received.extend(os.read(master, 65536))

    reader = threading.Thread(target=drain)
    reader.start()
    for n in range(5000):
        writer.write(b"tty %04d\n" % n)
    writer.close()
    reader.join(10)
    os.close(slave)
    os.close(master)
    assert writer.dropped == 0
    assert bytes(received).splitlines() == [b"tty %04d" % n for n in range(5000)]


def test_dev_null_takes_every_line():
    fd = os.open(os.devnull, os.O_WRONLY)
    writer = LineWriter(fd, capacity=100, owns_fd=True)
    for n in range(2000):
        writer.write(b"null %05d\n" % n)
        if n % 50 == 0:  # a producer no faster than a loaded server
            writer.flush()
    writer.close()
    assert writer.dropped == 0


def test_close_of_a_pipe_it_opened_waits_for_the_writer(pipe, tmp_path):
    """access_log = /dev/stdout in a container: a pipe the broker opened itself."""
    read_end, write_end = pipe
    fd = os.open(f"/proc/self/fd/{write_end}", os.O_WRONLY)
    writer = LineWriter(fd, owns_fd=True)
    writer.write(b"last\n")
    writer.close()
    wait = 0
    while wait < 200 and _is_open(fd):
        threading.Event().wait(0.01)
        wait += 1
    assert not _is_open(fd)  # closed by its writer, once the line was out
    assert read_available(read_end) == b"last\n"


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
