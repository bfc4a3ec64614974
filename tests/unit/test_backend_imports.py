"""Each concurrency library stays inside its backend's modules, so that
removing eventlet later deletes those modules and one dependency."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import multicloud_broker

SRC = Path(multicloud_broker.__file__).resolve().parents[1]

# The only modules that may import each library (monkey-patching included:
# green.py imports the chosen one inside prepare_server()).
OWN = {
    "eventlet": {"multicloud_broker.server.service", "multicloud_broker.server.protocol",
                 "multicloud_broker.server.body", "multicloud_broker.server.eventlet_launchers"},
    "gevent": {"multicloud_broker.server.gevent_server",
               "multicloud_broker.server.gevent_launchers",
               # the OpenStack simulator (a test tool) serves with gevent's WSGI server
               "multicloud_broker.simulators.openstack.server"},
}


def _all_modules() -> list[str]:
    """Every module but the `__main__`s (importing one runs a command)."""
    return sorted(info.name for info in pkgutil.walk_packages(
        multicloud_broker.__path__, "multicloud_broker.")
        if not info.name.endswith(".__main__"))


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                          text=True, timeout=120, cwd=SRC)


@pytest.mark.parametrize("library", sorted(OWN))
def test_no_module_outside_a_backend_imports_its_library(library):
    """Every other module imports with the library made unimportable."""
    others = [name for name in _all_modules() if name not in OWN[library]]
    code = (f"import sys, importlib\nsys.modules[{library!r}] = None\nfailed = []\n"
            f"for name in {others!r}:\n"
            "    try:\n        importlib.import_module(name)\n"
            "    except ImportError as exc:\n        failed.append(f'{name}: {exc}')\n"
            "print('\\n'.join(failed))\n")
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("backend, other", [("gevent", "eventlet"), ("eventlet", "gevent")])
def test_a_serving_process_loads_only_its_backends_library(backend, other):
    """What `serve` loads under one backend, up to the built app and its
    server module, never brings in the other library."""
    server_module = ("multicloud_broker.server.gevent_server" if backend == "gevent"
                     else "multicloud_broker.server.service")
    launchers = f"multicloud_broker.server.{backend}_launchers"
    code = (f"from multicloud_broker.green import prepare_server\n"
            f"prepare_server({backend!r})\n"
            "import importlib, sys\n"
            "from multicloud_broker.config import load_config\n"
            "from multicloud_broker.web import build_app\n"
            "from multicloud_broker.wiring import build_broker\n"
            f"conf = load_config(['--server-backend', {backend!r}])\n"
            "build_broker(conf)\nbuild_app(conf)\n"
            f"importlib.import_module({server_module!r})\n"
            f"importlib.import_module({launchers!r})\n"
            "import multicloud_broker.server.launcher\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] == {other!r}))\n")
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
