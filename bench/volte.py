"""Section `volte`: `demo volte` end to end on the real chain (broker ->
OpenStack plugin -> Keystone and the OpenStack simulator), timed.

    python -m bench.volte [--flows 50] [--combo pecan-gevent] [--tag T]
    python -m bench.run --sections volte          (the same, from the harness)

The chain is the `plugin` section's (bench/plugin.py: Cloud and Pair: one
Keystone, one simulator, a plugin and a broker of 2 workers each), with the
simulator's access log on (gevent writes each request's own time as the
line's last field) and room for 50 VoLTE services (4 hypervisors, the admin
project's quotas unlimited). Measured:

- one v0 flow and one v1 flow, each alone: wall time from the first call to
  the last, the time the demo waited on its calls' answers, and the
  simulator's requests in that time with the sum of their own times: what
  broker, plugin and Keystone add is the difference of the last two (the
  rest of the wall time is the demo polling while servers build);
- `--flows` flows at once (half v0, half v1; each its own run id, so its own
  names), each in a thread of this process calling the demo's main: failed
  flows (non-zero exit), wall time, each flow's time (p50, max), and what
  the cloud still holds of them afterwards (must be nothing).

Results: bench/results/<date>-<host>[-tag]-volte.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import machine, modes
from bench import plugin as chain
from bench.procs import StartError

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
# gevent's access line: ... "METHOD PATH HTTP/1.1" STATUS LENGTH SECONDS
# The demo's last line: "... (N steps; M calls, answered in S s)".
CALLS = re.compile(r"(\d+) calls, answered in ([0-9.]+) s\)")
ACCESS = re.compile(r'"(\w+) (\S+) HTTP/1\.[01]" (\d{3}) \S+ ([0-9.]+)\s*$')
KINDS = ("servers", "volumes", "ports", "subnets", "networks")


def add_options(p: argparse.ArgumentParser, prefix: str = "") -> None:
    """The section's own options (bench.run adds them as --volte-...)."""
    p.add_argument(f"--{prefix}flows", dest="volte_flows", type=int, default=50,
                   help="flows at once (half v0, half v1)")
    p.add_argument(f"--{prefix}combo", dest="volte_combo", default="pecan-gevent",
                   help=f"framework-backend of the broker and plugin, of "
                        f"{','.join(chain.COMBOS)}")


def _sim_log_size(cloud: chain.Cloud) -> int:
    return cloud.sim.err_path.stat().st_size


def _sim_time(cloud: chain.Cloud, since: int) -> dict:
    """The simulator's requests logged after byte `since`: count, own time."""
    with open(cloud.sim.err_path, "rb") as log:
        log.seek(since)
        lines = log.read().decode(errors="replace").splitlines()
    times = [float(m.group(4)) for m in map(ACCESS.search, lines) if m]
    return {"requests": len(times), "seconds": round(sum(times), 4)}


def _flow(broker: str, api: str, timeout: float) -> dict:
    """One `demo volte` run in this thread: exit status, seconds, its last lines."""
    from multicloud_broker.demo import volte
    out = io.StringIO()
    began = time.monotonic()
    status = volte.main(["--api", api, "--broker", broker, "--cloud-owner", chain.OWNER,
                         "--cloud-region-id", chain.REGION, "--timeout", str(timeout)], out)
    text = out.getvalue()
    calls = CALLS.search(text)
    return {"api": api, "status": status, "seconds": round(time.monotonic() - began, 3),
            "calls": int(calls.group(1)) if calls else None,
            "answered_in": float(calls.group(2)) if calls else None,
            "steps": text.count("\n["), "run_id": text.split()[2].rstrip(":"),
            "tail": "" if status == 0 else text[-600:]}


def _left(cloud: chain.Cloud, run_ids: list[str]) -> int:
    """Resources and stacks of these runs still in the cloud."""
    names = tuple(run_ids)
    count = 0
    paths = {"servers": "/compute/v2.1/servers/detail", "volumes":
             f"/volume/v3/{cloud.tenant}/volumes/detail", "ports": "/network/v2.0/ports",
             "subnets": "/network/v2.0/subnets", "networks": "/network/v2.0/networks",
             "stacks": f"/heat/v1/{cloud.tenant}/stacks"}
    for kind, path in paths.items():
        for item in cloud.sim_call("GET", path)[kind]:
            name = item.get("name") or item.get("stack_name") or ""
            count += name.startswith(names)
    return count


def _room(cloud: chain.Cloud) -> None:
    """Quotas out of the way: 50 services are 250 servers, 100 volumes, 600 ports."""
    project = cloud.tenant
    cloud.sim_call("PUT", f"/compute/v2.1/os-quota-sets/{project}",
                   {"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    cloud.sim_call("PUT", f"/volume/v3/{project}/os-quota-sets/{project}",
                   {"quota_set": {"volumes": -1, "gigabytes": -1}})
    cloud.sim_call("PUT", f"/network/v2.0/quotas/{project}",
                   {"quota": {"network": -1, "subnet": -1, "port": -1}})


def measure(cloud: chain.Cloud, broker: str, flows: int) -> dict:
    os.environ["OS_PASSWORD"] = cloud.keystone.admin_password
    result: dict = {"alone": [], "together": {}}
    for api in ("v0", "v1"):
        since = _sim_log_size(cloud)
        flow = _flow(broker, api, 120)
        time.sleep(0.2)  # the simulator writes a line once its answer is sent
        flow["simulator"] = _sim_time(cloud, since)
        result["alone"].append(flow)
        print(f"bench: volte {api} alone: {flow['seconds']} s, status {flow['status']}, "
              f"simulator {flow['simulator']}", flush=True)
    done: list[dict] = []
    lock = threading.Lock()

    def one(api: str) -> None:
        try:
            flow = _flow(broker, api, 300)
        except Exception as exc:  # noqa: BLE001 - a crashed flow is a failed one
            flow = {"api": api, "status": -1, "seconds": 0, "run_id": "", "tail": repr(exc)}
        with lock:
            done.append(flow)
    threads = [threading.Thread(target=one, args=("v0" if i % 2 == 0 else "v1",))
               for i in range(flows)]
    since = _sim_log_size(cloud)
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - began
    time.sleep(0.2)
    secs = sorted(f["seconds"] for f in done)
    result["together"] = {
        "flows": flows, "failed": sum(f["status"] != 0 for f in done),
        "wall_seconds": round(wall, 2), "flow_p50": secs[len(secs) // 2] if secs else None,
        "flow_max": secs[-1] if secs else None, "simulator": _sim_time(cloud, since),
        "left_in_cloud": _left(cloud, [f["run_id"] for f in done if f["run_id"]]),
        "failures": [f["tail"] for f in done if f["status"] != 0][:5]}
    print(f"bench: volte {flows} at once: {result['together']}", flush=True)
    return result


def run(args: argparse.Namespace, ctx: modes.Context, tools: dict[str, str], out_dir: Path,
        stem: str, meta: dict) -> list[Path]:
    framework, backend = args.volte_combo.split("-")
    cloud = chain.Cloud(ctx, sim_args=("--hypervisors", "4"))
    pair = chain.Pair(ctx, cloud, framework, backend)
    data = {"meta": {**meta, "section": "volte", "combo": args.volte_combo,
                     "workers": ctx.workers, "flows": args.volte_flows,
                     "made_per_flow": _made()}, "result": None}
    notes = data["meta"].setdefault("notes", [])
    try:
        cloud.start()
        _room(cloud)
        pair.start()
        data["result"] = measure(cloud, f"http://127.0.0.1:{pair.broker_port}",
                                 args.volte_flows)
    except StartError as exc:
        notes.append(f"section not run: {exc}")
        print(f"bench: volte section NOT RUN: {exc}", flush=True)
    except KeyboardInterrupt:
        notes.append("interrupted: results are partial")
    finally:
        pair.stop()
        cloud.stop()
    return (chain.write_results(data, out_dir, stem, "volte", markdown)
            if data["result"] else [])


def _made() -> dict:
    from multicloud_broker.demo.volte import MADE
    return MADE


def markdown(data: dict) -> str:
    meta, result = data["meta"], data["result"]
    lines = [f"# VoLTE flows on the real chain ({meta.get('date')}, {meta['combo']}, "
             f"{meta['workers']} broker and {meta['workers']} plugin workers)", "",
             "Each flow makes and removes "
             + ", ".join(f"{n} {k}" for k, n in meta["made_per_flow"].items()) + " "
             "(v1: as one Heat stack), with the token, tenant, flavor, image and capacity "
             "steps. Simulator: build 0.5 s, delete 0.2 s (its defaults).", "",
             "| flow | status | wall s | demo's calls | answered in s | simulator requests "
             "| simulator own s | the stack's own s (answered in - simulator's) |",
             "|---|---|---|---|---|---|---|---|"]
    for flow in result["alone"]:
        sim, waited = flow["simulator"], flow.get("answered_in")
        own = round(waited - sim["seconds"], 3) if waited is not None else "-"
        lines.append(f"| {flow['api']} alone | {flow['status']} | {flow['seconds']} | "
                     f"{flow.get('calls')} | {waited} | {sim['requests']} | {sim['seconds']} | "
                     f"{own} |")
    together = result["together"]
    lines += ["", f"{together['flows']} flows at once (half v0, half v1): "
              f"**{together['failed']} failed**, wall {together['wall_seconds']} s, a flow "
              f"p50 {together['flow_p50']} s, max {together['flow_max']} s; the simulator "
              f"served {together['simulator']['requests']} requests in "
              f"{together['simulator']['seconds']} s of its own time; left in the cloud "
              f"afterwards: {together['left_in_cloud']}.", "",
              "Most of a flow's wall time is waiting: servers BUILD and stacks "
              "CREATE_IN_PROGRESS for the simulator's build time, polled every 0.25 s by the "
              "demo. \"Answered in\" is the time the demo waited on its calls' answers; "
              "the simulator's own time is what its handlers took; the difference is what "
              "broker, plugin and Keystone added (Keystone's token checks included; v0's "
              "also the plugin's wait for a server with volumes to be ACTIVE before it "
              "attaches them, one build time per such server).", ""]
    lines += [f"- {n}" for n in meta.get("notes", [])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from multicloud_broker import warnings_log
    warnings_log.install()
    p = argparse.ArgumentParser(prog="python -m bench.volte", description=__doc__.splitlines()[0])
    add_options(p)
    p.add_argument("--workers", type=int, default=2, help="workers of the broker and the plugin")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    if args.volte_combo not in chain.COMBOS:
        p.error(f"--combo: one of {', '.join(chain.COMBOS)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools, _ = machine.find_tools(install=False)
    tmp = Path(tempfile.mkdtemp(prefix="mcb-bench-volte-"))
    ctx = modes.Context(tools, tmp, args.workers)
    date = datetime.date.today().isoformat()
    stem = f"{date}-{socket.gethostname()}" + (f"-{args.tag}" if args.tag else "")
    meta = {"date": date, "argv": sys.argv, "machine": machine.machine(),
            "source": machine.source_state(REPO), "notes": []}
    try:
        run(args, ctx, tools, Path(args.out), stem, meta)
    finally:
        machine.drop_scratch(tmp, keep=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
