#!/usr/bin/env bash
# The suite's modes on 1, 2, ... cores up to the machine's count (issue 16,
# part 6): perf/run.sh with CORES=N for each N, no peer and no ceilings,
# then one table of throughput, p99 and server CPU per operation by core
# count, with the speed-up over one core: perf/results/<date>-<sha>-scaling.md.
# cairn-bench runs on the same machine and takes CPU of its own: on a small
# machine the curve flattens early for that reason too (perf/README.md).
#
#   perf/scaling.sh [duration] [max cores]   (default 10s, nproc)
#   MODES="put-4KiB get-4KiB"                 modes (default below)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10s}"
MAX="${2:-$(nproc)}"
MODES="${MODES:-put-4KiB get-4KiB put-1MiB get-1MiB stat-4KiB list-10000}"
SHA="$(git rev-parse --short HEAD)"
STAMP="$(date -u +%Y-%m-%d)-$SHA"
runs=()
for n in $(seq 1 "$MAX"); do
  CORES="$n" SUFFIX="cores$n" PEER=0 CEILINGS=0 MODES="$MODES" perf/run.sh "$DUR"
  runs+=("perf/results/$STAMP-cores$n.json")
done
python3 perf/scaling.py "perf/results/$STAMP-scaling.md" "${runs[@]}"
echo "results: perf/results/$STAMP-scaling.md"
