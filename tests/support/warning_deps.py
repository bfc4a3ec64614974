"""A stand-in for a dependency that warns: a sitecustomize put on PYTHONPATH,
so it is loaded before any code of ours. It warns when oslo_config.cfg or
eventlet.wsgi is imported, in every child process after fork, and whenever
oslo.config loads a configuration (so during a SIGHUP reload too); its
import warning spans two lines, as real ones often do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.broker import SRC_DIR

HOSTILE = '''
import importlib.abc, os, sys, warnings

class _Warner(importlib.abc.MetaPathFinder):
    """Warns when oslo_config.cfg or eventlet.wsgi is imported, and wraps
    oslo.config's loading of a configuration so that every load warns."""

    def find_spec(self, name, path, target=None):
        if name not in ("oslo_config.cfg", "eventlet.wsgi"):
            return None
        sys.meta_path.remove(self)
        import importlib.util
        spec = importlib.util.find_spec(name)
        sys.meta_path.insert(0, self)
        real_exec = spec.loader.exec_module

        def exec_module(module):
            warnings.warn(f"hostile-dep: warned on import of {name}\\nsecond line", UserWarning)
            real_exec(module)
            if name != "oslo_config.cfg":
                return
            real_call = module.ConfigOpts.__call__

            loads = iter(range(1, 1000))

            def call(self, *args, **kwargs):  # a new text each time: shown every time
                warnings.warn(f"hostile-dep: warned loading a configuration ({next(loads)})",
                              FutureWarning)
                return real_call(self, *args, **kwargs)
            module.ConfigOpts.__call__ = call
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Warner())
os.register_at_fork(after_in_child=lambda: warnings.warn(
    "hostile-dep: warned in a child after fork", RuntimeWarning))
'''


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, str]:
    """The environment that puts the warning stand-in before the broker's code."""
    site = tmp_path / "hostile-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HOSTILE)
    return {"PYTHONPATH": f"{site}:{SRC_DIR}"}


