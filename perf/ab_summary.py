"""Summarises an A/B run of cairn-bench (perf/iam.sh, perf/access_log.sh):
per mode, each side's ops/s and server CPU per op in every round, their
medians, and B relative to A.

    ab_summary.py OUT_DIR TITLE DESCRIPTION A B [SIZE]

reads OUT_DIR/{put,get}.{A,B}.ROUND.json; SIZE labels the modes (4KiB)."""
import glob
import json
import os
import statistics
import sys

out, title, description, a, b = sys.argv[1:6]
size = sys.argv[6] if len(sys.argv) > 6 else "4KiB"


def total(path):
    phase = json.load(open(path))["phases"][-1]
    t = phase["total"]
    return t["ops_per_s"], phase["cpu"]["server_cpu_ms_per_op"] * 1000, sum(t["errors"].values())


print(f"# {title}\n")
print(description + "\n")
print("| mode | side | ops/s per round | median ops/s | server µs CPU/op (median) | errors |")
print("|---|---|---|---|---|---|")
for mode in ("put", "get"):
    med = {}
    for side in (a, b):
        runs = sorted(glob.glob(os.path.join(out, f"{mode}.{side}.*.json")))
        figs = [total(r) for r in runs]
        if not figs:
            continue
        ops = [f[0] for f in figs]
        cpu = [f[1] for f in figs]
        med[side] = (statistics.median(ops), statistics.median(cpu))
        print(f"| {mode}-{size} | {side} | {', '.join(f'{o:.0f}' for o in ops)} | "
              f"{med[side][0]:.0f} | {med[side][1]:.1f} | {sum(f[2] for f in figs)} |")
    if len(med) == 2:
        r = med[b][0] / med[a][0] - 1
        c = med[b][1] / med[a][1] - 1
        print(f"| {mode}-{size} | {b} vs {a} | | {r:+.1%} | {c:+.1%} | |")
