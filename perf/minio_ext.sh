#!/usr/bin/env bash
# MinIO's fan-out and zip extensions as warp drives them (`warp fanout`,
# `warp zip`), one run each on a fresh release node (4+2 on 6 drive
# directories). Build first (`cargo build --release -p cairn -p
# cairn-bench`); run under the benchmark lock:
#
#   flock -x /work/bench.lock perf/minio_ext.sh [duration]   (default 10s)
# Writes perf/results/<date>-<sha>-minioext.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-10s}"
BIN="$CARGO_TARGET_DIR/release"
SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-minioext.md"
WORK="$(mktemp -d /var/tmp/cairn-minioext.XXXXXX)"
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
  echo "\`cairn-bench $* --duration $DUR\`" >"$WORK/$label.cmd"
  "$BIN/cairn-bench" "$@" --host "127.0.0.1:$PORT" --duration "$DUR" --no-progress \
    --server-pid "$PID" --json "$WORK/$label.json" >"$WORK/$label.txt" 2>&1
  python3 - "$WORK/$label.json" "$label" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for ph in r["phases"]:
    t = ph["total"]
    objs = t.get("objects_per_s")
    cpu = ph["cpu"].get("server_cpu_ms_per_op")
    errs = sum(t["errors"].values())
    objs = "-" if objs is None else f"{objs:,.0f}"
    cpu = "-" if cpu is None else f"{cpu:.3f}"
    lat = t["latency_ms"]
    print(f"| {sys.argv[2]} | {t['op']} | {t['ops_per_s']:,.1f} | {objs} | "
          f"{t['mib_per_s']:,.1f} | {lat['p50']:.1f} | {lat['p99']:.1f} | {cpu} | {errs} |")
PY
}
{
  echo "# MinIO's fan-out and zip extensions ($SHA)"
  echo
  echo "\`flock -x /work/bench.lock perf/minio_ext.sh $DUR\`, one release node (4+2 on 6"
  echo "directories of one disk), cairn-bench's warp defaults (fanout: 1 MiB file,"
  echo "100 copies a POST, 20 in flight; zip: 10,000 members of 10 KiB, 20 GETs in"
  echo "flight, \`--verify\`). Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| run | op | ops/s | objects/s | MiB/s | p50 ms | p99 ms | server CPU ms per op | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  run fanout fanout
  run zip zip --verify
  echo
  for l in fanout zip; do
    echo "$l: $(cat "$WORK/$l.cmd")"
    echo '```'
    cat "$WORK/$l.txt"
    echo '```'
  done
} | tee "$OUT"
