"""The access log of real brokers: stdout a pipe under load, a reader that
stops, answers streamed or cut, hostile paths, JSON lines; both frameworks."""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.server.helpers import base_config, wait_until, worker_pids
from tests.server.rawhttp import exchange, parse
from tests.support.broker import BrokerProcess, BrokerStartError, broker_env, region_add
from tests.support.broker import write_config
from tests.support.client import request

VIM_TYPES = "/api/multicloud/v0/vim_types"
STREAM = "/api/multicloud/v0/proc_RegionOne/stream"
HOLD = "/api/multicloud/v0/proc_RegionOne/hold"
DRIP = "/api/multicloud/v0/proc_RegionOne/drip"
CHUNK = b"s" * 1000


class PipedBroker(BrokerProcess):
    """A broker whose stdout is a pipe, as under a container runtime: the test
    holds the read end and reads it (or not)."""

    stderr_too = False  # stderr into the same pipe, as journald takes them

    def start(self, timeout: float = 20.0) -> "PipedBroker":
        self.read_end, write_end = os.pipe()
        with open(self.stderr_path, "wb") as err:
            self._proc = subprocess.Popen(self.command(), stdout=write_end,
                                          stderr=write_end if self.stderr_too else err,
                                          stdin=subprocess.DEVNULL, env=broker_env(self._env),
                                          cwd=str(self.workdir))
        os.close(write_end)
        try:
            wait_until(lambda: self._proc.poll() is not None or _answers(self.url), timeout)
        except AssertionError:
            self.stop()
            raise BrokerStartError(f"{self.name} did not answer\n{self.output()}")
        if self._proc.poll() is not None:
            raise BrokerStartError(f"{self.name} exited\n{self.output()}")
        self.lines: list[bytes] = []
        self._partial = b""
        return self

    def read_lines(self) -> list[str]:
        """Everything the broker wrote to stdout so far, as whole lines."""
        os.set_blocking(self.read_end, False)
        while True:
            try:
                chunk = os.read(self.read_end, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            *whole, self._partial = (self._partial + chunk).split(b"\n")
            self.lines.extend(whole)
        return [line.decode("ascii") for line in self.lines]

    def stop(self, timeout: float = 10.0) -> int | None:
        code = super().stop(timeout)
        if getattr(self, "read_end", None) is not None:
            os.close(self.read_end)
            self.read_end = None
        return code


def _answers(url: str) -> bool:
    try:
        return request(url, "GET", "/api/multicloud/v0/swagger.json", timeout=2).status == 200
    except (OSError, http.client.HTTPException):
        return False


class StreamingPlugin:
    """A plugin on a raw socket that streams its chunked answers slowly:
    `.../stream` in two chunks 0.3 s apart; `.../drip` one chunk, then the
    second once `release` is set; `.../hold` five chunks, then waits for
    `release` before sending 50 more."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.release = threading.Event()
        self.finished = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket):
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            path = head.split(b" ", 2)[1]
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                             + _chunk(CHUNK))
                if path.endswith(b"/stream"):
                    time.sleep(0.3)
                    conn.sendall(_chunk(CHUNK) + b"0\r\n\r\n")
                elif path.endswith(b"/drip"):
                    self.release.wait(10)
                    conn.sendall(_chunk(CHUNK) + b"0\r\n\r\n")
                else:
                    # Past the broker's 4 KiB read-ahead: the head goes out now.
                    conn.sendall(_chunk(CHUNK) * 4)
                    self.release.wait(10)
                    for _ in range(50):
                        conn.sendall(_chunk(CHUNK))
                        time.sleep(0.01)
                    conn.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the broker gave up on us: that is what the test looks at
            finally:
                self.finished.set()

    def close(self):
        self.sock.close()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.fixture(scope="module")
def streaming_plugin():
    server = StreamingPlugin()
    yield server
    server.close()


@pytest.fixture
def piped_broker(tmp_path, plugin, framework):
    """Start brokers with stdout a pipe; every one is stopped by PID at the end."""
    started: list[PipedBroker] = []

    def start(workers: int = 2, upstream=plugin, stderr_too: bool = False,
              **default) -> PipedBroker:
        cfg = base_config(tmp_path, upstream, **default)
        write_config(tmp_path / "region.conf", cfg)
        if not (tmp_path / "inventory.sqlite").exists():
            region_add(tmp_path / "region.conf", "proc", "RegionOne", "openstack", "ocata")
        broker = PipedBroker(tmp_path, cfg, web_framework=framework, workers=workers,
                             name=f"piped{len(started)}")
        broker.stderr_too = stderr_too
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()


def load(url: str, path: str, requests: int, connections: int = 16) -> list[int]:
    """`requests` GETs over `connections` kept-alive connections at once: the statuses."""
    host, port = url.rsplit("/", 1)[1].split(":")

    def client(count: int) -> list[int]:
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        statuses = []
        try:
            for _ in range(count):
                conn.request("GET", path)
                reply = conn.getresponse()
                reply.read()
                statuses.append(reply.status)
        finally:
            conn.close()
        return statuses

    shares = [requests // connections + (i < requests % connections)
              for i in range(connections)]
    with ThreadPoolExecutor(connections) as pool:
        return [s for part in pool.map(client, shares) for s in part]


def logged(broker: PipedBroker, path: str) -> list[list[str]]:
    return [line.split() for line in broker.read_lines() if f" {path} " in line]


def assert_logging_resumes(broker: PipedBroker) -> None:
    """The reader is back and keeps reading: once the lines queued while it was
    away are out, every request is logged again.  (Until then the queue may
    still be full, and a request's line that finds it full is dropped, as
    designed: hence one probe per poll until one probe's line shows.)"""
    again = "/api/multicloud/v1/vim_types"

    def logged_ids(prefix: str) -> set[str]:
        return {fields[-1] for fields in logged(broker, again) if fields[-1].startswith(prefix)}

    workers = worker_pids(broker.pid) or {broker.pid}
    probed: set[str] = set()  # the pids whose probe line came out

    def probe() -> bool:
        # Every worker's queue must have drained: a line of a worker whose
        # queue is still full is dropped (as designed), whichever worker the
        # next requests land on.
        headers = {"X-TransactionID": f"probe-{time.monotonic_ns()}"}
        assert request(broker.url, "GET", again, headers=headers).status == 200
        probed.update(int(fields[2]) for fields in logged(broker, again)
                      if fields[-1].startswith("probe-"))
        return workers <= probed

    wait_until(probe)
    sent = {f"after-{n}" for n in range(5)}
    for txid in sorted(sent):
        assert request(broker.url, "GET", again, headers={"X-TransactionID": txid}).status == 200
    assert wait_until(lambda: logged_ids("after-") >= sent and logged_ids("after-")) == sent


# --- stdout a pipe ------------------------------------------------------------------

def test_every_request_is_logged_when_stdout_is_a_pipe(piped_broker):
    broker = piped_broker(workers=2)
    requests = 3000
    assert load(broker.url, VIM_TYPES, requests) == [200] * requests
    lines = wait_until(lambda: (lambda found: len(found) >= requests and found)(
        logged(broker, VIM_TYPES)))
    assert len(lines) == requests
    workers = worker_pids(broker.pid)
    for fields in lines:  # whole lines: never two workers' lines mixed
        date, clock, pid, method, path, status, outcome, took, sent, txid = fields
        assert (method, status, outcome) == ("GET", "200", "done") and int(pid) in workers
    assert "dropped" not in broker.stderr_path.read_text()


def test_a_reader_that_stops_slows_nobody_and_drops_are_counted(piped_broker):
    """A pipe nobody reads: requests are answered at once, the lines beyond
    the pipe and the queue are dropped and reported; reading again, logging
    resumes."""
    broker = piped_broker(workers=1, access_log_buffer=20)
    fcntl.fcntl(broker.read_end, fcntl.F_SETPIPE_SZ, 4096)  # ~30 lines fill it
    statuses = load(broker.url, VIM_TYPES, 300, connections=4)
    assert statuses == [200] * 300
    warning = wait_until(lambda: re.search(r"access log: (\d+) lines dropped",
                                           broker.stderr_path.read_text()))
    assert 0 < int(warning.group(1)) < 300
    kept = logged(broker, VIM_TYPES)  # the reader comes back
    assert 0 < len(kept) < 300
    assert_logging_resumes(broker)


def test_one_stalled_pipe_for_both_logs_blocks_no_worker(piped_broker):
    """stdout and stderr on one pipe nobody reads (as journald's stream):
    the drop warnings, on stderr, do not block the worker either."""
    broker = piped_broker(workers=2, access_log_buffer=20, stderr_too=True)
    fcntl.fcntl(broker.read_end, fcntl.F_SETPIPE_SZ, 4096)
    statuses = load(broker.url, VIM_TYPES, 400, connections=4)
    assert statuses == [200] * 400
    broker.read_lines()  # the reader comes back: whatever was queued follows
    assert_logging_resumes(broker)
    assert any("lines dropped" in line for line in broker.read_lines())


# --- the line is written once the answer is sent -------------------------------------

def test_a_streamed_answer_is_logged_once_sent(piped_broker, streaming_plugin):
    broker = piped_broker(workers=1, upstream=streaming_plugin)
    reply = request(broker.url, "GET", STREAM)
    assert reply.status == 200 and reply.body == CHUNK * 2
    (fields,) = wait_until(lambda: logged(broker, STREAM))
    status, outcome, took, sent = fields[5:9]
    assert (status, outcome, sent) == ("200", "done", str(2 * len(CHUNK)))
    assert float(took[:-2]) >= 300  # the plugin paused 0.3 s between its chunks


def test_a_slow_stream_is_passed_on_as_it_comes(piped_broker, streaming_plugin):
    """The first piece reaches the client while the plugin still holds the
    rest (the broker reads ahead only what has arrived); then the whole."""
    broker = piped_broker(workers=1, upstream=streaming_plugin)
    streaming_plugin.release.clear()
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as client:
        client.sendall(f"GET {DRIP} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while CHUNK not in received:  # a timeout here: the broker held the piece back
            received += client.recv(65536)
        assert received.startswith(b"HTTP/1.1 200") and not streaming_plugin.release.is_set()
        streaming_plugin.release.set()
        while data := client.recv(65536):
            received += data
    assert parse(received, closed=True).body == CHUNK * 2


def test_a_client_that_leaves_mid_answer_is_logged_cut(piped_broker, streaming_plugin):
    broker = piped_broker(workers=1, upstream=streaming_plugin)
    streaming_plugin.release.clear()
    streaming_plugin.finished.clear()
    client = socket.create_connection(("127.0.0.1", broker.port))
    client.sendall(f"GET {HOLD} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert client.recv(65536).startswith(b"HTTP/1.1 200")
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset: the client is gone
    streaming_plugin.release.set()
    (fields,) = wait_until(lambda: logged(broker, HOLD))
    status, outcome = fields[5:7]
    assert (status, outcome) == ("200", "cut") and int(fields[8]) < 55 * len(CHUNK)
    assert request(broker.url, "GET", VIM_TYPES).status == 200  # the worker serves on


# --- hostile values cannot forge or split a line ---------------------------------------

def test_encoded_line_breaks_and_control_characters_stay_escaped(piped_broker):
    broker = piped_broker(workers=1)
    forged = "/api/multicloud/v0/vim_types%0a2026-01-01%2000:00:00,000%201%20GET%20/x%20200"
    with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as sock:
        sock.sendall(f"GET {forged} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"X-TransactionID: a\x01b c\r\n\r\n".encode("latin-1"))
        while sock.recv(65536):
            pass
    lines = wait_until(lambda: [l for l in broker.read_lines() if "vim_types%0a" in l])
    assert len(lines) == 1 and len(lines[0].split()) == 10
    assert lines[0].split()[4] == forged  # the path as sent, encoding kept
    assert not any(line.startswith("2026-01-01") for line in broker.read_lines())
    assert all(ch.isprintable() for line in broker.read_lines() for ch in line)


# --- JSON lines ----------------------------------------------------------------------

def test_json_access_and_application_logs(piped_broker):
    broker = piped_broker(workers=2, log_format="json")
    reply = request(broker.url, "GET", VIM_TYPES,
                    headers={"X-ONAP-RequestID": "req-42", "X-ONAP-PartnerName": "SO"})
    assert reply.status == 200
    request(broker.url, "GET", "/api/multicloud/v0/proc_RegionOne/fast")
    refused = exchange(broker.port, b"PUT /x HTTP/1.1\r\nContent-Length: 1\r\n"
                                    b"Content-Length: 1\r\n\r\nx")
    assert refused.status == 400
    entries = wait_until(lambda: (lambda found: len(found) >= 3 and found)(
        [json.loads(line) for line in broker.read_lines()
         if '"ResponseCode"' in line and "swagger" not in line]))
    # The server's own answer has its line too, with what was read of the request.
    (own,) = [e for e in entries if e["outcome"] == "refused"]
    assert (own["ResponseCode"], own["StatusCode"], own["method"]) == (400, "ERROR", "PUT")
    assert own["requestLine"] == "PUT /x HTTP/1.1" and own["reason"] == "2 Content-Length headers"
    assert own["ClientIPAddress"] == "127.0.0.1" and own["pid"] in worker_pids(broker.pid)
    entries.remove(own)
    mine = next(e for e in entries if e["RequestID"] == "req-42")
    assert mine["PartnerName"] == "SO" and mine["ResponseCode"] == 200
    assert mine["StatusCode"] == "COMPLETE" and mine["BytesOut"] == len(reply.body)
    assert mine["TransactionID"] == reply.header("X-TransactionID")
    assert mine["ServiceName"] == f"GET {VIM_TYPES}" and mine["ClientIPAddress"] == "127.0.0.1"
    assert mine["pid"] in worker_pids(broker.pid) and mine["InvocationID"]
    forwarded = next(e for e in entries if e["RequestID"] != "req-42")
    assert forwarded["ServiceName"] == "GET /api/multicloud/v0/{vimid}/{rest:path}"
    assert forwarded["RequestID"] and forwarded["PartnerName"] == "127.0.0.1"
    app_log = [json.loads(line) for line in broker.stderr_path.read_text().splitlines()]
    assert any("serving" in entry["message"] for entry in app_log)
    assert all({"time", "level", "logger", "pid", "server"} <= entry.keys()
               for entry in app_log)
