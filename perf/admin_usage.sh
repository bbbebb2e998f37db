#!/usr/bin/env bash
# GET /_cairn/admin/v1/usage on a node holding OBJECTS objects in BUCKETS
# buckets (issue 13: target under 50 ms). The figures are counters kept with
# each change, so the time should not grow with the object count.
# Writes perf/results/<date>-<sha>-admin-usage.json and prints it.
#
#   perf/admin_usage.sh [objects] [buckets] [repeats]   default 100000 100 50
OBJECTS="${1:-100000}"
BUCKETS="${2:-100}"
REPEATS="${3:-50}"
. "$(dirname "$0")/admin_common.sh"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-admin-usage.json"
python3 perf/admin_load.py usage "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" \
  "$BUCKETS" "$OBJECTS" "$REPEATS" | tee "$OUT"
