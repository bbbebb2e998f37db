"""Summarises perf/commit.sh: per concurrency, cairn's and the peer's PUT
throughput (each round and the median), cairn's latency percentiles, server
CPU per op, and record writes per segment flush (from /metrics).

    commit_summary.py OUT_DIR SIZE COMMAND_LINE"""
import glob
import json
import os
import re
import statistics
import sys

out, size, command = sys.argv[1:4]


def total(path):
    phase = json.load(open(path))["phases"][-1]
    t = phase["total"]
    lat = t["latency_ms"]
    return {
        "ops": t["ops_per_s"],
        "p50": lat["p50"],
        "p99": lat["p99"],
        "p999": lat.get("p999", float("nan")),
        "cpu": phase["cpu"]["server_cpu_ms_per_op"] * 1000,
        "errors": sum(t["errors"].values()),
    }


def runs(target, c):
    return [total(p) for p in sorted(glob.glob(os.path.join(out, f"put.{target}.c{c}.*.json")))]


def per_flush(c):
    ratios = []
    for p in sorted(glob.glob(os.path.join(out, f"flushes.c{c}.*.txt"))):
        f0, w0, f1, w1 = map(int, open(p).read().split())
        if f1 > f0:
            ratios.append((w1 - w0) / (f1 - f0))
    return statistics.median(ratios) if ratios else None


concs = sorted({int(m.group(1)) for p in os.listdir(out) if (m := re.match(r"put\.\w+\.c(\d+)\.", p))})
med = lambda rs, k: statistics.median(r[k] for r in rs)
print(f"# Durable PUT {size} by concurrency\n")
print(command + "\n")
print("cairn: 4+2 on 6 drive directories, every PUT's commit record fdatasync'd on 3 drives "
      "before it is acknowledged. s3s-fs: one file per object, never synced. "
      "Medians over rounds; latencies are cairn's.\n")
print("| in flight | cairn ops/s (rounds) | p50 ms | p99 ms | p99.9 ms | CPU µs/op | writes per flush "
      "| s3s-fs ops/s (rounds) | s3s-fs p99 ms | cairn / s3s-fs | errors |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for c in concs:
    a, p = runs("cairn", c), runs("peer", c)
    if not a:
        continue
    wpf = per_flush(c)
    peer = ", ".join(f"{r['ops']:.0f}" for r in p) if p else "-"
    peer_p99 = f"{med(p, 'p99'):.2f}" if p else "-"
    ratio = f"{med(a, 'ops') / med(p, 'ops'):.2f}" if p else "-"
    errors = sum(r["errors"] for r in a + p)
    rounds = ", ".join(f"{r['ops']:.0f}" for r in a)
    print(f"| {c} | {med(a, 'ops'):.0f} ({rounds}) "
          f"| {med(a, 'p50'):.2f} | {med(a, 'p99'):.2f} | {med(a, 'p999'):.2f} | {med(a, 'cpu'):.0f} "
          f"| {'-' if wpf is None else f'{wpf:.1f}'} | {peer} | {peer_p99} | {ratio} | {errors} |")
