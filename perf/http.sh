#!/usr/bin/env bash
# HTTP figures of issue 3: 1 MiB PUT (streaming chunk signatures) and 1 MiB
# GET over loopback against a release cairn on 6 drive directories at 4+2,
# driven by cairn-bench. Prints the reports; the JSON results land in $OUT.
#
#   perf/http.sh [duration]        (default 20s per mode)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-20s}"
cargo build --release -q -p cairn --bin cairn && cargo build --release -q -p cairn-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d /var/tmp/cairn-http.XXXXXX)"
OUT="${OUT:-$WORK}"
PORT=19900
CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" >/dev/null 2>"$WORK/server.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK/d"*' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
export WARP_HOST="127.0.0.1:$PORT" WARP_ACCESS_KEY=bench WARP_SECRET_KEY=bench-secret
common=(--obj.size 1MiB --concurrent 16 --duration "$DUR" --warmup 3s --no-progress --server-pid "$PID")
"$BIN/cairn-bench" put "${common[@]}" --json "$OUT/put-1MiB.json"
"$BIN/cairn-bench" get "${common[@]}" --objects 200 --json "$OUT/get-1MiB.json"
echo "results: $OUT"
