"""The markdown summary of perf/scale.sh's checkpoints (one JSON object a
line), judged against issue 16's targets: PUT and GET within 15% and
listing within 20% of the first checkpoint, start-up under 5 s.

    python3 perf/scale_summary.py CHECKPOINTS.jsonl CORES "command"
"""
import json
import sys


def main():
    path, cores, command = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rows = [json.loads(line) for line in open(path) if line.strip()]
    if not rows:
        sys.exit(f"{path}: no checkpoints")
    print(f"# Cost as the node fills\n\n`{command}`\n")
    print(
        "Objects: the fill's objects plus those the PUT runs added. Rates in "
        "operations (listing: keys) per second; CPU: the node's, per "
        "operation; memory: resident, per core.\n"
    )
    print(
        "| objects | fill PUT/s | PUT 4 KiB/s (p99 ms, CPU ms) | GET/s (p99 ms, CPU ms) "
        "| GET major faults | GET hot 10k/s (p99 ms, CPU ms) "
        "| list root keys/s | list deep keys/s | index B/object | RSS MiB/core (anon, file) "
        "| compaction s (CPU s, MiB reclaimed) | start-up s | rebuild s | start-up after rebuild s "
        "| dirty MiB before (sync s) |"
    )
    print("|" + "---|" * 15)
    stored = 0
    for r in rows:
        stored_now = r["objects"] + stored + r["put_4k"]["ops"]
        c = r["compaction"]
        rss = r["rss_kib"]
        dirty = (
            f"{r['dirty_kib_before'] / 1024:.0f} ({r['settle_s']})" if "dirty_kib_before" in r else "-"
        )

        def mib(kib):
            return f"{kib / 1024 / cores:.0f}"

        def op(k):
            v = r[k]
            return f"{v['ops_per_s']:,.0f} ({v['p99_ms']:.1f}, {v['server_cpu_ms_per_op'] or 0:.3f})"

        print(
            f"| {stored_now:,} | {r['fill']['ops_per_s']:,.0f} | {op('put_4k')} | {op('get')} "
            f"| {r['get'].get('major_faults', '-')} | {op('get_hot') if 'get_hot' in r else '-'} "
            f"| {r['list_root_keys_per_s'] or 0:,.0f} | {r['list_deep_keys_per_s'] or 0:,.0f} "
            f"| {r['index_bytes'] / stored_now:,.0f} "
            f"| {mib(rss['total'])} ({mib(rss['anon'])}, {mib(rss['file'])}) "
            f"| {c['seconds']:.1f} ({c['server_cpu_s']:.1f}, {c['bytes_reclaimed'] / 2**20:.0f}) "
            f"| {r['startup_s']} | {r['rebuild_s']} | {r['startup_after_rebuild_s']} | {dirty} |"
        )
        stored += r["put_4k"]["ops"]
    first, last = rows[0], rows[-1]

    def ratio(get):
        a, b = get(first), get(last)
        return b / a if a else float("nan")

    checks = [
        ("PUT 4 KiB", ratio(lambda r: r["put_4k"]["ops_per_s"]), 0.85),
        ("GET at random over every object", ratio(lambda r: r["get"]["ops_per_s"]), 0.85),
        ("GET of a hot set", ratio(lambda r: r.get("get_hot", {}).get("ops_per_s", 0)), 0.85),
        ("list from the root", ratio(lambda r: r["list_root_keys_per_s"] or 0), 0.80),
        ("list at a deep prefix", ratio(lambda r: r["list_deep_keys_per_s"] or 0), 0.80),
    ]
    print(f"\nAt {last['objects']:,} fill objects against {first['objects']:,}:\n")
    for name, x, floor in checks:
        verdict = "met" if x >= floor else "MISSED"
        print(f"- {name}: {x:.2f}x the rate (target at least {floor:.2f}x): {verdict}")
    worst = max(r["startup_s"] for r in rows)
    verdict = "met" if worst < 5 else "MISSED"
    print(f"- start-up after a clean stop: at most {worst} s (target under 5 s): {verdict}")


if __name__ == "__main__":
    main()
