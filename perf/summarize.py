#!/usr/bin/env python3
"""Folds one perf/run.sh run (a directory of cairn-bench JSON results, fio's
output and nginx's) into <out>.json and a Markdown summary <out>.md: per mode
cairn's and the peer's throughput, p99 latency and server CPU per operation,
their ratio, and cairn against the machine's ceilings and issue 5's targets.

    perf/summarize.py <raw dir> <out stem> <duration> [<commit measured>]
"""

import glob
import json
import os
import platform
import re
import subprocess
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def phase_figures(report):
    """The figures of each measured phase of one cairn-bench result."""
    out = {}
    for ph in report["phases"]:
        t = ph["total"]
        out[ph["name"]] = {
            "ops_per_s": t["ops_per_s"],
            "mib_per_s": t["mib_per_s"],
            "objects_per_s": t.get("objects_per_s"),
            "p50_ms": t["latency_ms"]["p50"],
            "p99_ms": t["latency_ms"]["p99"],
            "errors": sum(t["errors"].values()),
            "server_cpu_ms_per_op": ph["cpu"].get("server_cpu_ms_per_op"),
            "client_cpu_ms_per_1000_ops": ph["cpu"]["client_cpu_ms_per_1000_ops"],
        }
    return out


def headline(mode, figs, phase=""):
    """The figure a mode is judged by: the latency of a one-off request
    (Complete), listed or deleted objects per second where a request carries
    many, ops/s for small objects and HEAD, else MiB/s."""
    if phase == "complete":
        return figs["p50_ms"], "ms"
    if figs.get("objects_per_s"):
        return figs["objects_per_s"], "objects/s"
    if "4KiB" in mode or mode.startswith("stat"):
        return figs["ops_per_s"], "ops/s"
    return figs["mib_per_s"], "MiB/s"


def fio(raw, name="fio.txt"):
    out = {}
    try:
        text = open(os.path.join(raw, name)).read()
    except OSError:
        return out
    for rw, mbps in re.findall(r"sequential (\w+) .*?: (\d+) MB/s", text):
        out[rw] = int(mbps) * 1e6 / 2**20  # MiB/s
    return out


def main():
    raw, stem, duration = sys.argv[1], sys.argv[2], sys.argv[3]
    # The commit measured (the run's own, not HEAD when summarising later).
    measured = sys.argv[4] if len(sys.argv) > 4 else None
    modes = {}
    for path in sorted(glob.glob(os.path.join(raw, "*.cairn.json"))):
        name = os.path.basename(path)[: -len(".cairn.json")]
        cairn = load(path)
        peer = load(os.path.join(raw, f"{name}.peer.json"))
        entry = {"cairn": phase_figures(cairn) if cairn else None}
        entry["peer"] = phase_figures(peer) if peer else None
        modes[name] = entry
    nginx = {}
    for label in ("4KiB", "1MiB"):
        r = load(os.path.join(raw, f"nginx-get-{label}.json"))
        if r:
            nginx[label] = phase_figures(r)["get"]
    ceilings = {
        "fio_mib_per_s": fio(raw),
        "fio_read_after_get_disk_mib_per_s": fio(raw, "fio-after-get-1MiB-disk.txt").get("read"),
        "nginx_get": nginx,
    }
    sha = measured or subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    result = {
        "git": sha,
        "duration": duration,
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "load_avg_at_end": os.getloadavg(),
        },
        "modes": modes,
        "ceilings": ceilings,
    }
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    lines = [
        f"# perf/run.sh {duration} at {sha[:10]}",
        "",
        f"{os.cpu_count()} CPUs, load average at the end {os.getloadavg()[0]:.1f}. "
        "cairn: 6 drive directories at 4+2; peer: s3s-fs 0.14.1 on one directory; "
        "both on loopback, same cairn-bench settings, alternating mode by mode.",
        "",
        "| mode | phase | cairn | peer | cairn/peer | cairn p99 ms | peer p99 ms | cairn CPU ms/op | peer CPU ms/op |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in modes.items():
        c = m["cairn"] or {}
        p = m["peer"] or {}
        for phase in c or p:
            cf, pf = c.get(phase), p.get(phase)
            cv, unit = headline(name, cf, phase) if cf else (None, "")
            pv, punit = headline(name, pf, phase) if pf else (None, unit)
            unit = unit or punit
            fmt = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
            # For a latency, lower is better: the ratio is still cairn/peer.
            ratio = f"{cv / pv:.2f}" if cv and pv else "-"
            err = lambda f: f" ({f['errors']} errors)" if f and f["errors"] else ""
            lines.append(
                f"| {name} | {phase} | {fmt(cv)} {unit}{err(cf)} | {fmt(pv)}{err(pf)} | {ratio} "
                f"| {fmt(cf and cf['p99_ms'])} | {fmt(pf and pf['p99_ms'])} "
                f"| {fmt(cf and cf['server_cpu_ms_per_op'], 2)} | {fmt(pf and pf['server_cpu_ms_per_op'], 2)} |"
            )
    lines += ["", "## Ceilings", ""]
    f = ceilings["fio_mib_per_s"]
    if f:
        lines.append(
            "fio O_DIRECT sequential, 1 MiB, iodepth 32: "
            + ", ".join(f"{rw} {v:,.0f} MiB/s" for rw, v in f.items())
        )
    for label, n in nginx.items():
        lines.append(f"nginx static GET {label}: {n['mib_per_s']:,.1f} MiB/s, {n['ops_per_s']:,.0f} ops/s, p99 {n['p99_ms']:.1f} ms")
    get1 = (modes.get("get-1MiB", {}).get("cairn") or {}).get("get")
    if get1 and nginx.get("1MiB") and f.get("read"):
        floor = min(nginx["1MiB"]["mib_per_s"], f["read"])
        lines.append(
            f"\ncairn GET 1 MiB: {get1['mib_per_s']:,.1f} MiB/s = {get1['mib_per_s'] / floor:.0%} "
            f"of the lower of nginx and fio read ({floor:,.0f} MiB/s); target 80%."
        )
    disk = (modes.get("get-1MiB-disk", {}).get("cairn") or {}).get("get")
    fio_after = ceilings["fio_read_after_get_disk_mib_per_s"]
    if disk and fio_after:
        lines.append(
            f"\ncairn GET 1 MiB with the read cache off: {disk['mib_per_s']:,.1f} MiB/s = "
            f"{disk['mib_per_s'] / fio_after:.0%} of fio's sequential read measured right after it "
            f"({fio_after:,.0f} MiB/s); {disk['server_cpu_ms_per_op']:.2f} ms server CPU per GET."
        )
    for op in ("put", "get"):
        clear = (modes.get(f"{op}-1MiB", {}).get("cairn") or {}).get(op)
        sse = (modes.get(f"{op}-1MiB-sse", {}).get("cairn") or {}).get(op)
        if clear and sse and clear.get("server_cpu_ms_per_op") and sse.get("server_cpu_ms_per_op"):
            lines.append(
                f"\ncairn {op.upper()} 1 MiB with SSE-S3: {sse['ops_per_s'] / clear['ops_per_s'] - 1:+.1%} ops/s, "
                f"{sse['server_cpu_ms_per_op'] / clear['server_cpu_ms_per_op']:.2f}x server CPU per op "
                "against the clear run (issue 14: within 10% and 1.25x)."
            )
    lines += [
        "",
        "## Targets (issue 5)",
        "",
        "| target | figure |",
        "|---|---|",
    ]

    def ratio(mode, phase):
        m = modes.get(mode, {})
        c, p = (m.get("cairn") or {}).get(phase), (m.get("peer") or {}).get(phase)
        if not c or not p:
            return "-"
        return f"{headline(mode, c)[0] / headline(mode, p)[0]:.2f}x"

    def cpu(mode, phase):
        c = (modes.get(mode, {}).get("cairn") or {}).get(phase)
        v = c and c["server_cpu_ms_per_op"]
        return "-" if v is None else f"{v:.2f} ms"

    def p99(mode, phase):
        c = (modes.get(mode, {}).get("cairn") or {}).get(phase)
        return "-" if not c else f"{c['p99_ms']:.1f} ms"

    lines += [
        f"| GET 1 MiB >= 2x s3s-fs | {ratio('get-1MiB', 'get')} |",
        f"| PUT 1 MiB >= 2x s3s-fs | {ratio('put-1MiB', 'put')} |",
        f"| PUT and GET 4 KiB >= 3x s3s-fs ops/s | PUT {ratio('put-4KiB', 'put')}, GET {ratio('get-4KiB', 'get')} |",
        f"| PUT and GET 4 KiB p99 < 10 ms at 32 | PUT {p99('put-4KiB', 'put')}, GET {p99('get-4KiB', 'get')} |",
        f"| list 10,000 >= 5x s3s-fs keys/s | {ratio('list-10000', 'list')} |",
        f"| server CPU per 1 MiB GET <= 0.30 ms | {cpu('get-1MiB', 'get')} |",
        f"| server CPU per 1 MiB PUT <= 1.0 ms | {cpu('put-1MiB', 'put')} |",
    ]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
