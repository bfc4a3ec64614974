"""warnings_log in one process: warnings held until logging is set up, then
one record each; the known third-party ones filtered at their source."""

from __future__ import annotations

import logging
import warnings

import pytest

from multicloud_broker import warnings_log


@pytest.fixture
def fresh(monkeypatch):
    """warnings' and warnings_log's state, restored after the test."""
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    monkeypatch.setattr(warnings_log, "_held", [])
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("always")
        yield


def test_held_until_logging_then_one_record_each(fresh, caplog) -> None:
    warnings_log.install()
    warnings.warn("first\nof two lines", UserWarning)
    for n in range(warnings_log._HELD_AT_MOST + 5):  # a warning in a loop
        warnings.warn(f"again {n}", RuntimeWarning)
    assert len(warnings_log._held) == warnings_log._HELD_AT_MOST
    with caplog.at_level(logging.WARNING, logger="py.warnings"):
        warnings_log.to_logging()
        warnings.warn("after", FutureWarning)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == warnings_log._HELD_AT_MOST + 1
    assert messages[0].startswith("UserWarning: first of two lines (")
    assert messages[-1].startswith("FutureWarning: after (")
    assert all("\n" not in m for m in messages) and warnings_log._held == []


def test_known_third_party_deprecations_are_filtered_and_nothing_else(fresh) -> None:
    warnings_log.install()
    shown = []
    warnings.showwarning = lambda message, *rest, **kw: shown.append(str(message))
    # As cryptography 51 raises it, attributed to dnspython's module.
    warnings.warn_explicit("DSA is deprecated and support will be removed", UserWarning,
                           "dsa.py", 14, module="dns.dnssecalgs.dsa")
    warnings.warn_explicit("DSA is deprecated and support will be removed", UserWarning,
                           "volte.py", 1, module="multicloud_broker.demo.volte")
    warnings.warn("\nEventlet is deprecated. It is currently ...", Warning)
    assert shown == ["DSA is deprecated and support will be removed"]  # ours is kept
