#!/usr/bin/env bash
# ListObjectsV2 pages of 1000 with delimiter '/' over KEYS keys under one
# prefix, plus a sub-"directory" every 100 keys (issue 13: the console's
# object browser, target under 100 ms a page), p50/p99 over walking every
# page with boto3 (its XML parsing included, as the console's is).
# cairn-bench loads the keys (1,000,000 take about 15 minutes here).
# Writes perf/results/<date>-<sha>-list-pages.json and prints it.
#
#   perf/list_pages.sh [keys]   default 1000000
KEYS="${1:-1000000}"
. "$(dirname "$0")/admin_common.sh"
BENCH="${CAIRN_BENCH_BIN:-}"
if [ -z "$BENCH" ]; then
  cargo build --release -q -p cairn-bench
  BENCH="$CARGO_TARGET_DIR/release/cairn-bench"
fi
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-list-pages.json"
# Keys big/0/0 .. big/0/<KEYS-1>: one worker keeps them under one prefix.
"$BENCH" list --objects "$KEYS" --max-keys 1000 --obj.size 16 --host "127.0.0.1:$PORT" \
  --access-key "$ROOT_KEY" --secret-key "$ROOT_SECRET" --bucket list-pages --prefix big \
  --noclear --concurrent 8 --duration 1s --no-progress --json "$WORK/load.json" >"$WORK/load.txt" 2>&1
python3 perf/admin_load.py list "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" list-pages big/0/ "$KEYS" | tee "$OUT"
