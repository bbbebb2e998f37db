"""Summarises perf/iam.sh's runs: per mode, each identity's ops/s and server
CPU per op in every round, their medians, and the user's figure relative to
root's."""
import glob
import json
import os
import statistics
import sys

out, dur, sha = sys.argv[1], sys.argv[2], sys.argv[3]


def total(path):
    phase = json.load(open(path))["phases"][-1]
    t = phase["total"]
    return t["ops_per_s"], phase["cpu"]["server_cpu_ms_per_op"] * 1000, sum(t["errors"].values())


print(f"# Authorisation cost: IAM user vs root ({sha[:7]}, {dur} per run)\n")
print("Command: `perf/iam.sh " + dur + "`. The user has 3 attached policies of 10 "
      "statements and the bucket a 4-statement policy with conditions; runs alternate.\n")
print("| mode | identity | ops/s per round | median ops/s | server µs CPU/op (median) | errors |")
print("|---|---|---|---|---|---|")
for mode in ("put", "get"):
    med = {}
    for who in ("root", "user"):
        runs = sorted(glob.glob(os.path.join(out, f"{mode}.{who}.*.json")))
        figs = [total(r) for r in runs]
        if not figs:
            continue
        ops = [f[0] for f in figs]
        cpu = [f[1] for f in figs]
        med[who] = (statistics.median(ops), statistics.median(cpu))
        print(f"| {mode}-4KiB | {who} | {', '.join(f'{o:.0f}' for o in ops)} | "
              f"{med[who][0]:.0f} | {med[who][1]:.1f} | {sum(f[2] for f in figs)} |")
    if len(med) == 2:
        r = med["user"][0] / med["root"][0] - 1
        c = med["user"][1] / med["root"][1] - 1
        print(f"| {mode}-4KiB | user vs root | | {r:+.1%} | {c:+.1%} | |")
