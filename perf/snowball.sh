#!/usr/bin/env bash
# Small-file ingest: objects stored per second by single PUTs against
# snowball archives of the same objects (warp's snowball mode), on one
# release node (4+2 on 6 drive directories), alternating the two modes.
#
#   perf/snowball.sh [obj size] [objs per archive] [duration] [rounds]
#                    (default 4KiB 50 10s 2)
# Writes perf/results/<date>-<sha>-snowball.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
SIZE="${1:-4KiB}"
PER="${2:-50}"
DUR="${3:-10s}"
ROUNDS="${4:-2}"
BIN="$CARGO_TARGET_DIR/release"
cargo build --release -q -p cairn --bin cairn -p cairn-bench
SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-snowball.md"
WORK="$(mktemp -d /var/tmp/cairn-snowball.XXXXXX)"
PID=""
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
export WARP_ACCESS_KEY=bench WARP_SECRET_KEY=bench-secret-key
PORT="$(free_port)"
CAIRN_ROOT_USER="$WARP_ACCESS_KEY" CAIRN_ROOT_PASSWORD="$WARP_SECRET_KEY" CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" \
  >/dev/null 2>"$WORK/cairn.log" &
PID=$!
wait_http "$PORT"
run() { # label args...
  local label=$1
  shift
  "$BIN/cairn-bench" "$@" --host "127.0.0.1:$PORT" --duration "$DUR" --no-progress \
    --server-pid "$PID" --json "$WORK/$label.json" >"$WORK/$label.txt" 2>&1
  python3 - "$WORK/$label.json" "$label" "$PER" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
per = int(sys.argv[3]) if sys.argv[2].startswith("snowball") else 1
for ph in r["phases"]:
    t = ph["total"]
    ops = t["ops_per_s"] or 0
    cpu = ph["cpu"].get("server_cpu_ms_per_op")
    errs = sum(t["errors"].values())
    cpu_obj = f"{cpu / per:.3f}" if cpu is not None else "-"
    print(f"| {sys.argv[2]} | {ops * per:,.0f} | {t['latency_ms']['p99']:.1f} | {cpu_obj} | {errs} |")
PY
}
{
  echo "# Small-file ingest: single PUTs against snowball archives ($SHA)"
  echo
  echo "\`perf/snowball.sh $SIZE $PER $DUR $ROUNDS\`: $SIZE objects, $PER per archive, concurrency 32 (cairn-bench's default), alternating."
  echo
  echo "| mode | objects/s | p99 ms (per request) | server CPU ms per object | errors |"
  echo "|---|---:|---:|---:|---:|"
  for r in $(seq 1 "$ROUNDS"); do
    run "put-r$r" put --obj.size "$SIZE" --concurrent 32
    run "snowball-r$r" snowball --obj.size "$SIZE" --objs.per "$PER" --concurrent 32
    run "snowball-zstd-r$r" snowball --obj.size "$SIZE" --objs.per "$PER" --compress --concurrent 32
  done
} | tee "$OUT"
