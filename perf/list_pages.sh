#!/usr/bin/env bash
# ListObjectsV2 pages of 1000 over KEYS keys (issue 13: the console's object
# browser, target under 100 ms a page). cairn-bench loads the keys with 8
# connections, which spreads them over big/0/ .. big/7/, then walks them
# three ways for DUR each: the whole prefix with a delimiter that never
# matches (every key searched), one directory with '/', and the top level
# with '/' (8 directories rolled up). 1,000,000 keys take about 15 minutes
# to load here. Prints each walk's latency line; JSON in perf/results/.
#
#   perf/list_pages.sh [keys] [duration]   default 1000000 15s
KEYS="${1:-1000000}"
DUR="${2:-15s}"
. "$(dirname "$0")/admin_common.sh"
BENCH="${CAIRN_BENCH_BIN:-}"
if [ -z "$BENCH" ]; then
  cargo build --release -q -p cairn-bench
  BENCH="$CARGO_TARGET_DIR/release/cairn-bench"
fi
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-list-pages"
mkdir -p "$OUT"
common=(--max-keys 1000 --host "127.0.0.1:$PORT" --access-key "$ROOT_KEY" --secret-key "$ROOT_SECRET"
  --bucket list-pages --prefix big --no-progress --server-pid "$PID")
"$BENCH" list "${common[@]}" --objects "$KEYS" --obj.size 16 --noclear --concurrent 8 --duration 1s \
  --json "$OUT/load.json" >"$WORK/load.txt" 2>&1
for walk in "all|big/|#" "directory|big/0/|/" "rollup|big/|/"; do
  IFS='|' read -r name prefix delim <<<"$walk"
  echo "== $name: prefix $prefix, delimiter $delim"
  "$BENCH" list "${common[@]}" --skip-upload --objects "$KEYS" --list-prefix "$prefix" --delimiter "$delim" \
    --concurrent 1 --duration "$DUR" --json "$OUT/$name.json" 2>&1 | grep -A1 ' op ' | tail -1
done
