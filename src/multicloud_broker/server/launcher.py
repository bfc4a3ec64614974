"""The bootstrap process: bind once, then run the workers with the chosen
server backend's launcher (oslo.service's for eventlet, gevent_launchers.py's
for gevent)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from oslo_config import cfg

from multicloud_broker.server.cpus import usable_cpus
from multicloud_broker.server.sockets import check_tls, listen, raise_open_file_limit

LOG = logging.getLogger(__name__)


def serve(conf: cfg.ConfigOpts, app_factory: Callable[[], Callable],
          reload_conf: Callable[[], cfg.ConfigOpts] | None = None,
          checks: Callable[[cfg.ConfigOpts], None] | None = None) -> int:
    """Serve `app_factory()`'s app until SIGTERM/SIGINT; returns the exit status.

    0 after SIGTERM (drained), 1 when the server stopped for any other reason
    (workers that keep dying, a fatal error). `reload_conf` builds a fresh
    configuration from the same sources (files, environment, flags); on
    SIGHUP it is checked (with `checks`, by default the broker's preflight)
    before the live one is reloaded (None: `conf`'s files and the
    environment, re-read).
    Raises BindError (from sockets) when the address or certificate is unusable.
    """
    from multicloud_broker.green import patched_for
    from multicloud_broker.server.launchers import Reloader, ReplaceableService
    patched = patched_for()
    if patched not in (None, conf.server_backend):
        from multicloud_broker.config import ConfigError
        raise ConfigError(f"server_backend is {conf.server_backend}, but the process was "
                          f"prepared for {patched} (set it with --server-backend)")
    if conf.server_backend == "gevent":
        from multicloud_broker.server.gevent_launchers import (
            InProcessLauncher, RollingProcessLauncher)
        from multicloud_broker.server.gevent_server import GeventWSGIService as WSGIService
    else:
        # Imported here: oslo.service's classes exist once its backend is chosen.
        from multicloud_broker.server.eventlet_launchers import (
            InProcessLauncher, RollingProcessLauncher)
        from multicloud_broker.server.service import WSGIService
    nofile = raise_open_file_limit()
    check_tls(conf)
    workers = conf.workers or usable_cpus()
    listeners = listen(conf, slots=workers)
    from multicloud_broker import metrics
    metrics.start_multiprocess()  # before any worker forks: one directory for all
    scheme = "https" if conf.ssl.enabled else "http"
    LOG.info("multicloud-broker: %s framework on %s://%s:%d, %d worker(s), %s server, "
             "open-file limit %d", conf.web_framework, scheme, conf.bind_host,
             conf.bind_port, workers, conf.server_backend, nofile)
    # Made in the worker: each accepts on its own slot's socket.
    replaceable = ReplaceableService(lambda: WSGIService(conf, listeners.mine(), app_factory))
    reloader = Reloader(conf, reload_conf or (lambda: _reread(conf)),
                        *(() if checks is None else (checks,)))
    try:
        # One worker is served in this process; more are forked, one per slot.
        if workers == 1:
            launcher = InProcessLauncher(conf, reloader)
            launcher.launch_service(replaceable)
            return launcher.exit_status(launcher.wait())
        launcher = RollingProcessLauncher(conf, reloader, listeners)
        launcher.launch_service(replaceable, workers=workers)
        return launcher.wait()
    finally:
        listeners.close()


def _reread(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """A fresh configuration from `conf`'s config files and the environment."""
    import os

    from multicloud_broker.config import ConfigError, apply_environment, new_conf, validate
    fresh = new_conf()
    try:
        fresh([arg for path in conf.config_file for arg in ("--config-file", path)],
              project="multicloud-broker", default_config_files=[],
              default_config_dirs=[], use_env=False)
        apply_environment(fresh, os.environ)
        validate(fresh)
    except (cfg.Error, ValueError) as exc:
        raise ConfigError(" ".join(str(exc).split())) from None
    return fresh
