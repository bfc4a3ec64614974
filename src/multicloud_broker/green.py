"""eventlet's monkey-patching, for the entry points that serve (and only them)."""

from __future__ import annotations

import warnings


def monkey_patch() -> None:
    """Patch the standard library for green threads; call before other imports."""
    # eventlet 0.41 announces its own deprecation on import; operators can do
    # nothing about it, so only that warning is silenced.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    eventlet.monkey_patch()


def prepare_server() -> None:
    """Green threads everywhere, and oslo.service on its eventlet backend."""
    monkey_patch()
    from oslo_service import backend
    backend.init_backend(backend.BackendType.EVENTLET)
