"""Result files: raw JSON, a Markdown table in the spec's layout, a PNG chart."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

# The spec's own figures (4-core VM, ab on another VM), time taken in seconds.
SPEC_SECONDS = {
    1: {"runserver": "0.512", "uwsgi": "0.671", "pecan": "0.149"},
    100: {"runserver": "85.326", "uwsgi": "3.808", "pecan": "3.181"},
    1000: {"runserver": "ab quit (timeout)", "uwsgi": "37.316, ~32% failed",
           "pecan": "35.315"},
}
SECTION_TITLES = {
    "vim_types": "GET /api/multicloud/v0/vim_types (the spec's comparison)",
    "forward": "Forwarding: GET /api/multicloud/v0/bench_RegionOne/tenants to a plugin",
    "slow": "Forwarding to a slow plugin: what a worker does while the plugin thinks",
}
SECTIONS = tuple(SECTION_TITLES)
PERCENTILES = ("50", "90", "99", "100")


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (section, mode, level): medians over repeats, failures summed."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["section"], run["mode"], run["concurrency"]), []).append(run)
    rows = []
    for (section, mode, conc), group in groups.items():
        abs_ = [r["ab"] for r in group if r.get("ab")]
        row = {"section": section, "mode": mode, "label": group[0]["label"],
               "ours": group[0]["ours"], "baseline": group[0]["baseline"],
               "concurrency": conc, "requests": group[0]["requests"],
               "repeats": len(group), "errors": [r["error"] for r in group if r.get("error")],
               "time_taken_s": _median([a["time_taken_s"] for a in abs_]),
               "rps": _median([a["rps"] for a in abs_]),
               "mean_ms": _median([a["mean_ms"] for a in abs_]),
               "failed": sum(a["failed"] for a in abs_),
               "non_2xx": sum(a["non_2xx"] for a in abs_),
               "not_done": sum(a["not_done"] for a in abs_),
               "failed_kinds": _sum_kinds([a["failed_kinds"] for a in abs_]),
               "aborted": [a["aborted"] for a in abs_ if a["aborted"]],
               "ab_cpu_share": _median([a["ab_cpu_s"] / a["wall_s"] for a in abs_
                                        if "ab_cpu_s" in a and a.get("wall_s")]),
               "server_log": {k: v for k, v in _sum_kinds(
                   [r.get("server_log") or {} for r in group]).items()
                   if "running uWSGI as root" not in k},  # a start-up notice
               "other_cpu_share": max((r.get("other_cpu_share") or 0 for r in group), default=0),
               "latency_ms": {p: _median([a["latency_ms"].get(p) for a in abs_])
                              for p in ("50", "66", "75", "90", "95", "99", "100")}}
        rows.append(row)
    _add_ratios(rows)
    return rows


def _sum_kinds(kinds: list[dict]) -> dict:
    total: dict[str, int] = {}
    for kind in kinds:
        for key, value in kind.items():
            total[key] = total.get(key, 0) + value
    return total


def baseline_of(section: str, mode: str) -> str:
    """The mode a row is compared with: the same upstream called directly, or
    the eventlet ceiling for vim_types."""
    if section == "vim_types":
        return "eventlet-bare"
    if section == "slow":
        return "direct-slow"
    # The fakecloud modes are gone, but the results files of 2026-11 and
    # 2026-12 hold them: --rewrite still compares them with their own upstream.
    return "direct-fakecloud" if "fakecloud" in mode else "direct-nginx"


def _add_ratios(rows: list[dict]) -> None:
    """Each row against its baseline at the same level."""
    by = {(r["section"], r["mode"], r["concurrency"]): r for r in rows}
    for row in rows:
        row["baseline"] = row["mode"] == baseline_of(row["section"], row["mode"])
        ref = by.get((row["section"], baseline_of(row["section"], row["mode"]),
                      row["concurrency"]))
        row["vs_baseline"] = None
        row["added_median_ms"] = None
        if ref is None or ref is row:
            continue
        if ref["rps"] and row["rps"]:
            row["vs_baseline"] = row["rps"] / ref["rps"]
        if ref["latency_ms"].get("50") is not None and row["latency_ms"].get("50") is not None:
            row["added_median_ms"] = row["latency_ms"]["50"] - ref["latency_ms"]["50"]


# -- Markdown ---------------------------------------------------------------------

def _num(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _pct(share) -> str:
    return "-" if share is None else f"{share:.0%}"


def _result_text(row: dict) -> str:
    if row["errors"]:
        return "not run: " + row["errors"][0].splitlines()[0][:80]
    parts = []
    if row["aborted"]:
        done = row["requests"] * row["repeats"] - row["not_done"]
        # ab's progress lines come every 10% of -n: a lower bound.
        parts.append(f"ab quit after >= {done:,} of {row['requests'] * row['repeats']:,} "
                     f"requests: {row['aborted'][0][:70]}")
    if row["failed"]:
        kinds = ", ".join(f"{k} {v}" for k, v in row["failed_kinds"].items() if v)
        parts.append(f"{row['failed']} failed ({kinds})")
    if row["non_2xx"]:
        parts.append(f"{row['non_2xx']} non-2xx")
    if row["not_done"]:
        parts.append(f"{row['not_done']} never completed")
    text = "; ".join(parts) or "all requests success"
    logged = sum((row.get("server_log") or {}).values())
    if logged:
        top = max(row["server_log"].items(), key=lambda kv: kv[1])
        text += f"; server logged {logged} warnings/errors (most: {top[1]} x {top[0][:90]})"
    if row.get("other_cpu_share", 0) > 0.05:
        text += f" (other processes used {row['other_cpu_share']:.0%} of the CPUs meanwhile)"
    return text


def _level_title(requests: int, conc: int) -> str:
    return f"{requests:,} requests, concurrency level {conc}"


def _section_md(section: str, rows: list[dict], meta: dict) -> list[str]:
    lines = [f"## {SECTION_TITLES[section]}", ""]
    ratio_head = ("vs eventlet ceiling" if section == "vim_types"
                  else "throughput vs same upstream direct")
    extra_head = "" if section == "vim_types" else " added at median (ms) |"
    for conc in sorted({r["concurrency"] for r in rows}):
        level = [r for r in rows if r["concurrency"] == conc]
        requests = level[0]["requests"]
        lines += [f"### {_level_title(requests, conc)}", "",
                  f"Command: `ab -n {requests} -c {conc} -s 30"
                  f"{' -k' if meta['keepalive'] else ''} http://127.0.0.1:PORT"
                  f"{meta['paths'][section]}`", "",
                  "| Mode | Time taken (s) | Requests/s | Failed | Non-2xx | 50% | 90% | 99% "
                  f"| 100% (ms) | {ratio_head} |{extra_head} ab's CPU | Result |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" +
                  ("---:|" if extra_head else "") + "---:|---|"]
        for r in level:
            lat = r["latency_ms"]
            ratio = f"{r['vs_baseline'] * 100:.0f}%" if r["vs_baseline"] else (
                "baseline" if r["baseline"] else "-")
            extra = "" if section == "vim_types" else f" {_num(r['added_median_ms'], 2)} |"
            lines.append(
                f"| {r['label']} | {_num(r['time_taken_s'], 3)} | {_num(r['rps'])} "
                f"| {r['failed']} | {r['non_2xx']} | "
                + " | ".join(_num(lat.get(p), 1) for p in PERCENTILES)
                + f" | {ratio} |{extra} {_pct(r.get('ab_cpu_share'))} | {_result_text(r)} |")
        lines.append("")
    return lines


def _spec_md(rows: list[dict]) -> list[str]:
    here = {(r["mode"], r["concurrency"]): r for r in rows if r["section"] == "vim_types"}
    lines = ["### The spec's figures next to ours (time taken, seconds)", "",
             "The spec ran ab on a separate 1-core VM against a 4-core VM; here ab "
             "shares the machine's cores with the server.", "",
             "| Level | spec: runserver | here: runserver | spec: Django+uWSGI "
             "| here: Django+uWSGI | spec: Pecan+eventlet | here: pecan | here: django |",
             "|---|---|---|---|---|---|---|---|"]
    for conc in sorted({c for _, c in here}):
        spec = SPEC_SECONDS.get(conc, {})

        def cell(mode: str) -> str:
            row = here.get((mode, conc))
            if row is None:
                return "-"
            if row["aborted"]:
                why = row["aborted"][0].lower()
                return "ab quit (" + ("timeout" if "timeout" in why else
                                      "connection reset" if "reset" in why else
                                      why[:30]) + ")"
            text = _num(row["time_taken_s"], 3)
            bad = row["failed"] + row["non_2xx"] + row["not_done"]
            return text + (f" ({bad} bad)" if bad else "")
        requests = next(r["requests"] for (m, c), r in here.items() if c == conc)
        lines.append(f"| {requests:,} x c{conc} | {spec.get('runserver', '-')} | "
                     f"{cell('runserver')} | {spec.get('uwsgi', '-')} | {cell('uwsgi')} | "
                     f"{spec.get('pecan', '-')} | {cell('pecan')} | {cell('django')} |")
    return lines + [""]


def targets(rows: list[dict], quick: bool) -> list[str]:
    """The issue's targets, each with what was measured (reported, not asserted)."""
    out = []
    vim = {(r["mode"], r["concurrency"]): r for r in rows if r["section"] == "vim_types"}
    fwd = {(r["mode"], r["concurrency"]): r for r in rows if r["section"] == "forward"}
    for mode in ("django", "pecan"):
        levels = [(c, r) for (m, c), r in sorted(vim.items()) if m == mode]
        if levels:
            bad = {c: r["failed"] + r["non_2xx"] + r["not_done"] for c, r in levels}
            ok = all(v == 0 and not vim[(mode, c)]["errors"] for c, v in bad.items())
            out.append(f"- {'MET' if ok else 'MISSED'}: zero failed/non-2xx for {mode} "
                       f"(bad requests per level: {bad})")
    for mode, goal in (("pecan", 0.70), ("django", 0.55)):
        for conc in (100, 1000):
            r = vim.get((mode, conc))
            if r and r["vs_baseline"] is not None:
                met = r["vs_baseline"] >= goal
                out.append(f"- {'MET' if met else 'MISSED'}: {mode} >= {goal:.0%} of the "
                           f"eventlet ceiling at -c {conc}: {r['vs_baseline']:.0%}")
    for mode in ("pecan-aai", "django-aai", "pecan-sqlite", "django-sqlite"):
        r = fwd.get((mode, 100))
        if r and r["rps"]:
            met = r["rps"] >= 1000
            out.append(f"- {'MET' if met else 'MISSED'}: forwarding >= 1000 req/s at "
                       f"-c 100, {mode}: {r['rps']:,.0f} req/s")
        r1 = fwd.get((mode, 1))
        if r1 and r1["added_median_ms"] is not None:
            met = r1["added_median_ms"] <= 1.0
            out.append(f"- {'MET' if met else 'MISSED'}: <= 1 ms added at the median "
                       f"(-c 1, one request at a time), {mode}: "
                       f"{r1['added_median_ms']:+.2f} ms")
    if quick:
        out.append("- (quick mode: 10x fewer requests; figures are only indicative)")
    return out


def _source_line(meta: dict) -> str:
    src = meta.get("source") or {}
    if not src:
        return "Broker source: not recorded."
    dirty = (f" plus uncommitted changes to {len(src['uncommitted'])} file(s) "
             f"(diff {src['diff_sha256']})" if src.get("uncommitted") else "")
    return f"Broker source: commit {src.get('commit') or '?'}{dirty}."


def markdown(results: dict) -> str:
    meta, rows = results["meta"], results["summary"]
    m, v = meta["machine"], meta["versions"]
    lines = [f"# Benchmark: {m['host']}, {meta['date']}{' (quick)' if meta['quick'] else ''}",
             "",
             f"Machine: {m.get('cpu_model', '?')}, {m['cpu_count']} CPUs "
             f"({m['usable_cpus']} usable), {m.get('memory_mb', '?')} MB, kernel "
             f"{m['kernel']}, somaxconn {m['somaxconn']}, open files {m['nofile'][0]}.",
             f"Workers/processes per server: {meta['workers']}. Repeats: {meta['repeats']} "
             f"(medians shown; failures summed over repeats). Keep-alive: "
             f"{'yes (-k)' if meta['keepalive'] else 'no (as in the spec)'}.",
             "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
             _source_line(meta),
             "",
             "ab is single-threaded and runs on the same cores as the servers "
             "(\"ab's CPU\": the share of one core it used), so all figures are "
             "lower than on a separate load machine and closer to each other at the top.",
             "Latencies are ab's percentiles in ms (from its -e CSV); at -c 100 and "
             "-c 1000 they are mostly queueing, -c 1 shows the cost of one request.", ""]
    for note in meta.get("notes", []):
        lines.append(f"> {note}")
    if meta.get("notes"):
        lines.append("")
    for section in SECTIONS:
        section_rows = [r for r in rows if r["section"] == section]
        if section_rows:
            lines += _section_md(section, section_rows, meta)
            if section == "vim_types":
                lines += _spec_md(rows)
    lines += ["## Targets (reported, not asserted)", "", *targets(rows, meta["quick"]), ""]
    if meta.get("profile_file"):
        lines += ["## Profile", "", f"Top self-time functions per mode: "
                  f"`{meta['profile_file']}`.", ""]
    if meta.get("chart_file"):
        lines += [f"![requests per second and failures]({Path(meta['chart_file']).name})", ""]
    return "\n".join(lines)


# -- chart ------------------------------------------------------------------------

def chart(results: dict, path: Path) -> bool:
    """Requests/s and bad requests per mode per level; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = results["summary"]
    sections = [s for s in SECTIONS if any(r["section"] == s for r in rows)]
    if not sections:
        return False
    fig, axes = plt.subplots(2, len(sections), figsize=(7.5 * len(sections), 8), squeeze=False)
    for col, section in enumerate(sections):
        srows = [r for r in rows if r["section"] == section]
        levels = sorted({r["concurrency"] for r in srows})
        modes = list(dict.fromkeys(r["mode"] for r in srows))
        by = {(r["mode"], r["concurrency"]): r for r in srows}
        width = 0.8 / max(1, len(modes))
        for i, mode in enumerate(modes):
            xs = [j + i * width for j in range(len(levels))]
            rps = [(by.get((mode, c)) or {}).get("rps") or 0 for c in levels]
            bad = [sum((by.get((mode, c)) or {}).get(k, 0) for k in ("failed", "non_2xx", "not_done"))
                   for c in levels]
            axes[0][col].bar(xs, rps, width, label=mode)
            axes[1][col].bar(xs, bad, width, label=mode)
        ticks = [j + 0.4 - width / 2 for j in range(len(levels))]
        for row, title in ((0, "requests/s"), (1, "failed + non-2xx + never completed")):
            ax = axes[row][col]
            ax.set_xticks(ticks, [f"-c {c}" for c in levels])
            ax.set_title(f"{section}: {title}")
            ax.grid(axis="y", alpha=0.3)
        axes[0][col].legend(fontsize=7, ncol=2)
        bottom = axes[1][col]
        if bottom.get_ylim()[1] <= 1:  # nothing failed: say so, not a blank axis
            bottom.set_ylim(0, 1)
            bottom.text(0.5, 0.5, "no failed, non-2xx or missing requests",
                        ha="center", transform=bottom.transAxes)
        bottom.set_ylim(bottom=0)
    fig.suptitle(f"multicloud-broker bench, {results['meta']['machine']['host']}, "
                 f"{results['meta']['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_all(results: dict, out_dir: Path, stem: str) -> list[Path]:
    """Writes <stem>.json, .png and .md; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results["summary"] = summarise(results["runs"])
    png = out_dir / f"{stem}.png"
    if chart(results, png):
        results["meta"]["chart_file"] = str(png.name)
    written = [png] if png.exists() else []
    js = out_dir / f"{stem}.json"
    js.write_text(json.dumps(results, indent=1))
    md = out_dir / f"{stem}.md"
    md.write_text(markdown(results))
    return [js, md, *written]
