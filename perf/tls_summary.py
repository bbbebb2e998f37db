"""Summarises perf/tls.sh: per mode and variant (http-signed,
https-unsigned, https-signed), each round's ops/s, the medians of ops/s,
p99 latency and server CPU per operation, and each HTTPS variant against
plain HTTP.

    tls_summary.py OUT_DIR TITLE DESCRIPTION

reads OUT_DIR/<mode>-<size>.<variant>.<round>.json."""
import glob
import json
import os
import statistics
import sys

out, title, description = sys.argv[1:4]
VARIANTS = ("http-signed", "https-unsigned", "https-signed")


def figures(path):
    phase = json.load(open(path))["phases"][-1]
    t = phase["total"]
    return (t["ops_per_s"], t["latency_ms"]["p99"],
            phase["cpu"]["server_cpu_ms_per_op"] * 1000, sum(t["errors"].values()))


print(f"# {title}\n")
print(description + "\n")
print("| mode | variant | ops/s per round | median ops/s | p99 ms (median) "
      "| server µs CPU/op (median) | errors |")
print("|---|---|---|---|---|---|---|")
modes = sorted({os.path.basename(p).split(".")[0] for p in glob.glob(os.path.join(out, "*.json"))})
for mode in modes:
    med = {}
    for v in VARIANTS:
        runs = sorted(glob.glob(os.path.join(out, f"{mode}.{v}.*.json")))
        figs = [figures(r) for r in runs]
        if not figs:
            continue
        med[v] = tuple(statistics.median(f[i] for f in figs) for i in range(3))
        print(f"| {mode} | {v} | {', '.join(f'{f[0]:.0f}' for f in figs)} | {med[v][0]:.0f} "
              f"| {med[v][1]:.2f} | {med[v][2]:.1f} | {sum(f[3] for f in figs)} |")
    base = med.get("http-signed")
    for v in VARIANTS[1:]:
        if base and v in med:
            print(f"| {mode} | {v} / http | | {med[v][0] / base[0]:.2f}x | "
                  f"{med[v][1] / base[1]:.2f}x | {med[v][2] / base[2]:.2f}x | |")
