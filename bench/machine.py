"""The machine at hand: tools (ab, nginx, uwsgi, py-spy), versions, limits."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

NOFILE_CAP = 20000
APT_PACKAGES = {"ab": "apache2-utils", "nginx": "nginx-light"}
HOW_TO_GET = {
    "ab": "apt-get install -y apache2-utils (Debian/Ubuntu), or httpd-tools (RHEL)",
    "nginx": "apt-get install -y nginx-light (or nginx)",
    "uwsgi": ".venv/bin/pip install --require-hashes --no-deps -r requirements/bench.txt "
             "(builds uWSGI; needs gcc and python3-dev)",
    "py-spy": ".venv/bin/pip install --require-hashes --no-deps -r requirements/bench.txt",
}


def venv_bin(name: str) -> str | None:
    """A tool installed next to this Python (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    return shutil.which(name) or (shutil.which(name, path="/usr/sbin:/sbin")
                                  if name == "nginx" else None)


def find_tools(install: bool) -> tuple[dict[str, str], list[str]]:
    """{tool: path} of what was found, and a line per missing tool saying how to get it.

    With `install`, running as root with apt-get, ab and nginx are installed.
    """
    missing = [t for t in APT_PACKAGES if not venv_bin(t)]
    if missing and install and os.geteuid() == 0 and shutil.which("apt-get"):
        packages = [APT_PACKAGES[t] for t in missing]
        print(f"bench: installing {' '.join(packages)} with apt-get", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, timeout=300,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env,
                       check=False, timeout=600, stdout=subprocess.DEVNULL)
    found, notes = {}, []
    for tool in ("ab", "nginx", "uwsgi", "py-spy"):
        path = venv_bin(tool)
        if path:
            found[tool] = path
        else:
            notes.append(f"{tool} not found: {HOW_TO_GET[tool]}")
    return found, notes


def raise_nofile() -> tuple[int, int]:
    """Soft open-file limit up to the hard one (at most NOFILE_CAP); children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE_CAP if hard == resource.RLIM_INFINITY else min(hard, NOFILE_CAP)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def usable_cpus() -> int:
    """CPUs this process may use, counted as the broker counts them."""
    try:
        from multicloud_broker.server.cpus import usable_cpus as broker_count
        return broker_count()
    except ImportError:
        return len(os.sched_getaffinity(0))


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def versions(tools: dict[str, str]) -> dict[str, str]:
    """Versions of everything a result depends on."""
    out = {"python": platform.python_version()}
    for dist in ("Django", "pecan", "WebOb", "eventlet", "oslo.service", "oslo.config",
                 "urllib3", "uWSGI", "py-spy", "matplotlib", "multicloud-broker"):
        try:
            out[dist.lower()] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist.lower()] = "not installed"
    if "uwsgi" in tools:
        out["uwsgi-binary"] = _first_line([tools["uwsgi"], "--version"])
    if "nginx" in tools:
        out["nginx"] = _first_line([tools["nginx"], "-v"]).split("/")[-1]
    if "ab" in tools:
        out["ab"] = _first_line([tools["ab"], "-V"]).replace("This is ApacheBench, ", "")
    return out


def machine() -> dict:
    """Cores, memory, CPU model, kernel and the kernel limits that matter for -c 1000."""
    info: dict = {"host": socket.gethostname(), "kernel": platform.release(),
                  "cpu_count": os.cpu_count(), "usable_cpus": usable_cpus()}
    meminfo = _read("/proc/meminfo")
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            info["memory_mb"] = int(line.split()[1]) // 1024
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            info["cpu_model"] = line.split(":", 1)[1].strip()
            break
    for key, path in (("somaxconn", "/proc/sys/net/core/somaxconn"),
                      ("tcp_max_syn_backlog", "/proc/sys/net/ipv4/tcp_max_syn_backlog"),
                      ("ip_local_port_range", "/proc/sys/net/ipv4/ip_local_port_range"),
                      ("tcp_tw_reuse", "/proc/sys/net/ipv4/tcp_tw_reuse")):
        info[key] = " ".join(_read(path).split())
    info["nofile"] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
    return info


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_ticks() -> dict[int, int]:
    """utime + stime (clock ticks) of every process now."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    return ticks


def foreign_cpu_seconds(before: dict[int, int], after: dict[int, int], ours: set[int]) -> float:
    """CPU time that processes outside the harness used between two cpu_ticks().

    Other jobs on the machine take cores from the servers and from ab; this
    says how much, so that a disturbed run can be recognised as such.
    """
    used = sum(t - before.get(pid, 0) for pid, t in after.items()
               if pid not in ours and t >= before.get(pid, 0))
    return used / os.sysconf("SC_CLK_TCK")


def source_state(repo: Path) -> dict:
    """The broker's commit and uncommitted changes under src/, to tell runs apart."""
    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                                  text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""
    changed = git("status", "--porcelain", "--", "src").splitlines()
    digest = ""
    if changed:
        import hashlib
        digest = hashlib.sha256(git("diff", "HEAD", "--", "src").encode()).hexdigest()[:12]
    # The tree of src/ tells whether the broker changed; the commit alone would
    # also move with a commit to docs or tests.
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "src_tree": git("rev-parse", "--short", "HEAD:src"),
            "uncommitted": changed, "diff_sha256": digest}


def same_broker(before: dict, after: dict) -> bool:
    """Whether two source_state() results describe the same broker code."""
    keys = ("src_tree", "diff_sha256")
    return all(before.get(k) == after.get(k) for k in keys)


def drop_scratch(tmp: Path, keep: bool) -> None:
    """A run's scratch directory removed at its end, or kept (--keep-tmp) and said so."""
    if keep:
        print(f"bench: scratch files kept in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
