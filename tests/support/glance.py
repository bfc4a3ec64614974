"""The real OpenStack Glance as pytest fixtures (multicloud_broker.simulators.glance),
and a small HTTP server for the files an image create fetches (imagePath).

`glance_launched`: one Glance for the session (per xdist worker), against
the session's `keystone`, in its catalog as the image service of
GLANCE_REGION; launched, not waited for, so a fixture may start other
processes while Glance loads and call `wait_ready()` after. `glance`: the
same, ready.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from multicloud_broker.simulators.glance import LocalGlance
from multicloud_broker.simulators.keystone import LocalKeystone

# A region of its own: RegionOne's image service is the simulator's.
GLANCE_REGION = "RegionGlance"


@pytest.fixture(scope="session", name="glance_launched")
def glance_launched_fixture(keystone: LocalKeystone, tmp_path_factory: pytest.TempPathFactory
                            ) -> Iterator[LocalGlance]:
    """The session's Glance, launched; wait_ready() before using it."""
    instance = LocalGlance(tmp_path_factory.mktemp("glance"), keystone, region=GLANCE_REGION)
    try:
        instance.launch()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session", name="glance")
def glance_fixture(glance_launched: LocalGlance) -> LocalGlance:
    """The session's Glance, answering and in the catalog."""
    glance_launched.wait_ready()
    return glance_launched


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # pytest shows what the test asserts, not an access log


@contextmanager
def file_server(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (any free port); its base URL."""
    handler = functools.partial(_QuietFiles, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="file-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
