#!/usr/bin/env bash
# Cost of SSE-S3 on the data path (issue 14, "How fast": GET and PUT 1 MiB
# server CPU per operation within 1.25x of the unencrypted figures, and
# throughput within 10%): one release node (6 drive directories at 4+2),
# driven in turn by cairn-bench with and without --sse-s3-encrypt
# (x-amz-server-side-encryption: AES256 on every object written; a GET run
# reads objects its upload phase wrote that way), alternating which goes
# first round by round. Writes perf/results/<date>-<sha>-sse.md.
#
#   perf/sse.sh [duration] [rounds]   default 10s per run, 5 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-10s}"
ROUNDS="${2:-5}"
BIN="$CARGO_TARGET_DIR/release"
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench

SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-sse"
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cairn-sse.XXXXXX)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT="$(free_port)"
CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret-key CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" \
  >/dev/null 2>"$WORK/cairn.log" &
PID=$!
wait_http "$PORT"

for round in $(seq 1 "$ROUNDS"); do
  for mode in put get; do
    args=("$mode" --obj.size 1MiB)
    [ "$mode" = get ] && args+=(--objects 500)
    if [ $((round % 2)) = 1 ]; then order=(plain sse); else order=(sse plain); fi
    for side in "${order[@]}"; do
      extra=()
      [ "$side" = sse ] && extra=(--sse-s3-encrypt)
      echo "== round $round $mode-1MiB $side" >&2
      "$BIN/cairn-bench" "${args[@]}" "${extra[@]}" --host "127.0.0.1:$PORT" --access-key bench \
        --secret-key bench-secret-key --bucket ssecost --concurrent 32 --warmup 3s --duration "$DUR" \
        --no-progress --server-pid "$PID" --json "$OUT/$mode.$side.$round.json" \
        >"$OUT/$mode.$side.$round.txt" 2>&1
    done
  done
done
python3 perf/ab_summary.py "$OUT" \
  "SSE-S3 cost: PUT and GET 1 MiB encrypted vs in the clear ($SHA, $DUR per run)" \
  "Command: \`perf/sse.sh $DUR $ROUNDS\`. One node, 6 drive directories at 4+2; runs alternate between a client asking for SSE-S3 on every write and one that does not." \
  plain sse 1MiB >"$OUT.md"
cat "$OUT.md"
