"""Green threads for the entry points that serve (and only them).

The serving process patches the standard library first thing, before
anything imports socket, threading or ssl, with the library of the chosen
`server_backend`: eventlet or gevent. Which one must therefore be known
before the configuration is loaded (oslo.config imports socket and
threading): `wanted_backend` reads the one option from the same sources,
and serve() checks later that the loaded configuration agrees.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

DEFAULT_BACKEND = "eventlet"
_patched: str | None = None  # the library this process is patched for


def wanted_backend(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """server_backend from `serve`'s flags, the environment and the config
    files, in the precedence the configuration uses (flag > SERVER_BACKEND
    > last config file > default). Unknown values are left for the full
    configuration to refuse with its own message."""
    environ = os.environ if environ is None else environ
    flag = _flag(argv, "--server-backend")
    if flag:
        return flag
    if environ.get("SERVER_BACKEND", "").strip():
        return environ["SERVER_BACKEND"].strip()
    chosen = DEFAULT_BACKEND
    for path in _flags(argv, "--config-file"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(path)
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # the full configuration names the problem
        chosen = parser.defaults().get("server_backend", chosen).strip() or chosen
    return chosen


def patched_for() -> str | None:
    """The backend prepare_server() patched this process for (None: not called)."""
    return _patched


def _flags(argv: Sequence[str], name: str) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            values.append(argv[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    return values


def _flag(argv: Sequence[str], name: str) -> str | None:
    values = _flags(argv, name)
    return values[-1] if values else None


def monkey_patch(backend: str = DEFAULT_BACKEND) -> None:
    """Patch the standard library for `backend`'s green threads; call before other imports."""
    from multicloud_broker import warnings_log
    warnings_log.install()  # eventlet and its green DNS warn on import
    if backend == "gevent":
        from gevent import monkey
        monkey.patch_all()
        return
    import eventlet
    eventlet.monkey_patch()


def prepare_server(backend: str = DEFAULT_BACKEND) -> str:
    """Green threads everywhere; under eventlet, oslo.service on its eventlet
    backend (gevent's workers are run by server/gevent_launchers.py).
    Returns the backend now in place."""
    if backend not in ("eventlet", "gevent"):
        return DEFAULT_BACKEND  # nothing patched: the configuration refuses the value
    global _patched
    monkey_patch(backend)
    _patched = backend
    if backend == "eventlet":
        from oslo_service import backend as oslo_backend
        oslo_backend.init_backend(oslo_backend.BackendType.EVENTLET)
    return backend


def deadline(seconds: float, error: BaseException) -> AbstractContextManager:
    """Raise `error` in this green thread if the block still runs after
    `seconds`, wherever it waits (a socket read included): a total deadline
    that per-read timeouts cannot give. Without green threads, no deadline.

    The library's own Timeout is the context manager, started as the block
    is entered (gevent) or as it is made, just before (eventlet), and
    cancelled when it ends; no generator around it: the plugin takes one per
    cloud call, and the wrapper cost as much as the timer (issue 19)."""
    timeout = _timeout_class()
    return nullcontext() if timeout is None else timeout(seconds, error)


_TIMEOUT_CLASSES: dict[str | None, type | None] = {}


def _timeout_class() -> type | None:
    """The patched library's Timeout (None: no green threads), imported once."""
    try:
        return _TIMEOUT_CLASSES[_patched]
    except KeyError:
        pass
    if _patched == "gevent":
        from gevent import Timeout
    elif _patched == "eventlet":
        from eventlet.timeout import Timeout
    else:
        Timeout = None
    _TIMEOUT_CLASSES[_patched] = Timeout
    return Timeout
