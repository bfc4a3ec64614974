"""Python warnings in every process of ours: known third-party deprecations
that users cannot act on are filtered at their source; every other warning
becomes one log line of the application log (JSON when `log_format = json`).

`install()` runs first thing in each entry point, before monkey-patching
(eventlet's green DNS imports dnspython, which warns at import). Logging is
not configured yet then, and importing it before the patch would leave
unpatched locks behind, so warnings are held until `to_logging()`, which
setup_logging calls; a process that stops before that (a bad configuration:
one line and exit 2) drops them. Only the standard library's `warnings` is
imported at module level.
"""

from __future__ import annotations

import warnings

# (message regex, category, module regex): each a deprecation announced by a
# dependency about itself or its own dependencies; nothing of ours.
KNOWN_THIRD_PARTY: tuple[tuple[str, type[Warning], str], ...] = (
    # cryptography 51 deprecates DSA; dnspython 2.9 names dsa.DSAPrivateKey when
    # eventlet 0.41's green DNS imports it (dns.dnssecalgs.dsa, line 14).
    (r"DSA is deprecated", Warning, r"dns\.dnssecalgs\."),
    # eventlet 0.41 announces its own deprecation on import; the eventlet
    # backend is kept for compatibility (server_backend = gevent avoids it).
    (r"\s*Eventlet is deprecated", Warning, r""),
    # WebOb 1.8 (under Pecan) imports the standard library's cgi, deprecated
    # since Python 3.11 (on 3.13 WebOb takes the legacy-cgi package instead).
    (r"'cgi' is deprecated", DeprecationWarning, r"webob\."),
    # eventlet 0.41 at every os.fork(): forking workers is this design.
    (r"Using fork\(\) is a bad idea", DeprecationWarning, r"eventlet"),
    # eventlet 0.41's WSGI server when asked to keep header names as the app
    # wrote them (server/service.py does, on purpose: no per-header rewrite).
    (r"capitalize_response_headers is disabled", DeprecationWarning, r""),
    # oslo.utils 10 and oslo.service 4.8: their eventlet-only modules, which
    # oslo.service's eventlet backend itself imports.
    (r"eventletutils module is deprecated", DeprecationWarning, r""),
    (r"The 'oslo_service\.eventlet_backdoor' module usage is deprecated",
     DeprecationWarning, r""),
)

# Held before logging is configured; bounded so a warning in a loop cannot grow it.
_HELD_AT_MOST = 100
_held: list[tuple] = []


def install() -> None:
    """Filter the known third-party deprecations and hold every other warning
    until to_logging(). Call before importing anything that may warn."""
    for message, category, module in KNOWN_THIRD_PARTY:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    if warnings.showwarning is not _log_warning:
        warnings.showwarning = _hold


def filterwarnings_lines() -> list[str]:
    """The same filters in pytest's `filterwarnings` syntax (tests/conftest.py)."""
    return [f"ignore:{message}:{category.__name__}:{module}"
            for message, category, module in KNOWN_THIRD_PARTY]


def to_logging() -> None:
    """From now on a warning is one record of the `py.warnings` logger (as
    logging.captureWarnings does, but one line); held ones are logged now."""
    warnings.showwarning = _log_warning
    held = _held[:]
    del _held[:]
    for args in held:
        _log_warning(*args)


def _hold(message, category, filename, lineno, file=None, line=None) -> None:
    if len(_held) < _HELD_AT_MOST:
        _held.append((message, category, filename, lineno))


def _log_warning(message, category, filename, lineno, file=None, line=None) -> None:
    import logging
    text = " ".join(str(message).split())  # one line whatever the warning says
    logging.getLogger("py.warnings").warning("%s: %s (%s:%s)", category.__name__, text,
                                             filename, lineno)
