#!/usr/bin/env python3
"""One table from perf/run.sh results taken with CORES=1, 2, ...: per mode
and core count, throughput, p99 and server CPU per operation, and the
speed-up over one core.

    perf/scaling.py <out.md> <run with 1 core>.json <2 cores>.json ...
"""

import json
import re
import sys


def main():
    out, runs = sys.argv[1], sys.argv[2:]
    by_cores = []
    for path in runs:
        m = re.search(r"cores(\d+)\.json$", path)
        if not m:
            sys.exit(f"{path}: not a CORES=N result")
        with open(path) as f:
            by_cores.append((int(m.group(1)), json.load(f)))
    by_cores.sort(key=lambda r: r[0])
    first = by_cores[0][1]
    lines = [
        f"# Scaling by core count ({str(first['git'])[:7]}, {first['duration']} per mode)",
        "",
        f"Machine: {first['machine']['cpus']} CPUs, Linux {first['machine']['kernel']}. Command: `perf/scaling.sh {first['duration']} "
        f"{by_cores[-1][0]}`. cairn-bench shares the machine's CPUs with the node.",
        "",
        "| mode | cores | ops/s | speed-up | p99 ms | server CPU ms/op |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode in first["modes"]:
        base = None
        for n, run in by_cores:
            cairn = (run["modes"].get(mode) or {}).get("cairn") or {}
            for op, f in cairn.items():
                ops = f.get("ops_per_s") or 0
                if base is None:
                    base = ops or None
                up = f"{ops / base:.2f}x" if base else "-"
                cpu = f.get("server_cpu_ms_per_op")
                cpu = f"{cpu:.3f}" if cpu is not None else "-"
                lines.append(
                    f"| {mode} {op} | {n} | {ops:,.0f} | {up} | {f.get('p99_ms', 0):.2f} | {cpu} |"
                )
                break
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
