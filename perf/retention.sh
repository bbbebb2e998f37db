#!/usr/bin/env bash
# `warp retention` against cairn, with cairn-bench's retention mode (warp
# itself cannot be built here: no Go module proxy): a bucket created with
# object lock, --objects objects of --versions versions each of 1 KiB, then
# PutObjectRetention (GOVERNANCE, a day ahead, with
# x-amz-bypass-governance-retention and Content-MD5, as minio-go sends it)
# on versions at random; clean-up deletes every version bypassing
# governance. One release node, 6 drive directories at 4+2. Writes
# perf/results/<date>-<sha>-retention.{txt,json}.
#
#   perf/retention.sh [duration] [objects] [versions]   default 30s 25000 5 (warp's)
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-30s}"
OBJECTS="${2:-25000}"
VERSIONS="${3:-5}"
BIN="$CARGO_TARGET_DIR/release"
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench

SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-retention"
WORK="$(mktemp -d /var/tmp/cairn-retention.XXXXXX)"
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

"$BIN/cairn-bench" retention --obj.size 1KiB --objects "$OBJECTS" --versions "$VERSIONS" \
  --host "127.0.0.1:$PORT" --access-key bench --secret-key bench-secret-key \
  --bucket warp-retention --concurrent 20 --duration "$DUR" --no-progress \
  --server-pid "$PID" --json "$OUT.json" 2>&1 | tee "$OUT.txt"
