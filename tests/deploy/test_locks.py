"""The dependency locks (requirements/*.txt, written by `make lock`): every
install the project makes takes them, hash-checked, and they agree with the
ranges in pyproject.toml and with one another."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.broker import REPO_ROOT

LOCKS = REPO_ROOT / "requirements"
# lock -> the extras it holds beside the runtime dependencies
EXTRAS = {"run": (), "test": ("test",), "bench": ("test", "bench")}
PYTHON = {"python_version": "3.11", "python_full_version": "3.11.7"}


def _pins(lock: Path) -> dict[str, list[tuple[str, str, list[str]]]]:
    """name -> [(version, marker, hashes)]: a universal lock may pin one
    package twice, under exclusive markers."""
    text = re.sub(r"\\\n\s*", " ", lock.read_text())
    pins: dict[str, list] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)\s*(?:;\s*(.*?))?\s*((?:--hash=\S+\s*)*)",
                             line)
        assert match, f"{lock.name}: not an exact pin with hashes: {line}"
        name, version, marker, hashes = match.groups()
        pins.setdefault(canonicalize_name(name), []).append(
            (version, marker or "", re.findall(r"--hash=(sha256:[0-9a-f]{64})", hashes)))
    return pins


def _version_here(pins, name: str) -> str:
    """The version the lock installs on Python 3.11 (markers evaluated)."""
    from packaging.markers import Marker
    chosen = [v for v, marker, _ in pins[name] if not marker or Marker(marker).evaluate(PYTHON)]
    assert len(chosen) == 1, (name, pins[name])
    return chosen[0]


def _declared(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return [Requirement(r) for r in wanted]


@pytest.mark.parametrize("lock", sorted(EXTRAS))
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    pins = _pins(LOCKS / f"{lock}.txt")
    assert len(pins) > 10
    for name, versions in pins.items():
        for version, _, hashes in versions:
            assert hashes, f"{lock}.txt: {name}=={version} has no hash"


@pytest.mark.parametrize("lock", sorted(EXTRAS))
def test_the_lock_satisfies_the_ranges_of_pyproject(lock: str) -> None:
    pins = _pins(LOCKS / f"{lock}.txt")
    for requirement in _declared(EXTRAS[lock]):
        if requirement.marker and not requirement.marker.evaluate(PYTHON):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock}.txt lacks {requirement}"
        version = _version_here(pins, name)
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}.txt pins {name}=={version}, outside {requirement}")


@pytest.mark.parametrize("smaller, larger", [("run", "test"), ("test", "bench")])
def test_each_lock_keeps_the_versions_of_the_one_it_extends(smaller: str, larger: str) -> None:
    """The tests run what the image ships; the bench what the tests ran."""
    small, large = _pins(LOCKS / f"{smaller}.txt"), _pins(LOCKS / f"{larger}.txt")
    for name, versions in small.items():
        assert name in large, f"{larger}.txt lacks {name}"
        assert {v for v, _, _ in large[name]} == {v for v, _, _ in versions}, name


def test_installs_take_the_locks_with_hashes() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r $(LOCKS)/$(2).txt" in makefile
    assert "$(call install_locked,$(BIN),test)" in makefile  # make install / make test
    assert "$(call install_locked,$(BIN),bench)" in makefile  # make bench
    dockerfile = re.sub(r"\s*\\\n\s*", " ", (REPO_ROOT / "deploy" / "Dockerfile").read_text())
    assert re.search(r"pip install --require-hashes --no-deps -r requirements/run\.txt",
                     dockerfile)
    assert re.search(r"pip install --no-deps --no-build-isolation \.", dockerfile)
    assert "COPY requirements/run.txt" in dockerfile
