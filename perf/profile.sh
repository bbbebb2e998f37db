#!/usr/bin/env bash
# CPU profile of a release cairn under the 1 MiB load of perf/http.sh: linux
# `perf record` (DWARF call graphs: the release profile has debug info but no
# frame pointers) on the server process only, folded and drawn with inferno.
#
#   perf/profile.sh [put|get|both] [seconds] [tag]     (default: put 15 local)
#
# Writes perf/flame/MODE-TAG.svg (flame graph), MODE-TAG.txt (top functions by
# self time) and MODE-TAG.breakdown (samples by stage, see stages.awk).
# Needs /usr/bin/perf and inferno (`cargo install inferno`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
MODE="${1:-put}"
SECS="${2:-15}"
TAG="${3:-local}"
FLAME="perf/flame"
for t in perf inferno-collapse-perf inferno-flamegraph; do
  command -v "$t" >/dev/null || { echo "profile.sh: $t not found (cargo install inferno)" >&2; exit 1; }
done
cargo build --release -q -p cairn --bin cairn && cargo build --release -q -p cairn-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d /var/tmp/cairn-profile.XXXXXX)"
PORT=19901
mkdir -p "$FLAME"
CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" >/dev/null 2>"$WORK/server.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
export WARP_HOST="127.0.0.1:$PORT" WARP_ACCESS_KEY=bench WARP_SECRET_KEY=bench-secret

profile() {
  local mode=$1 lead=$2
  shift 2
  # The bench runs past both ends of the recording: lead covers its warm-up
  # (and a GET run's uploads), the tail its last requests.
  "$BIN/cairn-bench" "$mode" --obj.size 1MiB --concurrent 16 --duration "$((SECS + lead + 3))s" \
    --no-progress --server-pid "$PID" --json "$WORK/$mode.json" "$@" >"$WORK/$mode.bench" &
  local bench=$!
  sleep "$lead"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$FLAME/$mode-$TAG.load"
  perf record -q -F 499 --call-graph dwarf,16384 -p "$PID" -o "$WORK/$mode.data" -- sleep "$SECS" 2>/dev/null
  wait "$bench"
  cat "$WORK/$mode.bench"
  perf script -i "$WORK/$mode.data" 2>/dev/null | inferno-collapse-perf >"$WORK/$mode.folded"
  inferno-flamegraph --title "cairn 1 MiB $mode ($TAG)" <"$WORK/$mode.folded" >"$FLAME/$mode-$TAG.svg"
  perf report -i "$WORK/$mode.data" --no-children --sort sym --stdio 2>/dev/null |
    awk '/^ +[0-9]/ && n++ < 60' >"$FLAME/$mode-$TAG.txt"
  local msop
  msop=$(sed -n 's/.*server CPU: .*, \([0-9.]*\) ms per op.*/\1/p' "$WORK/$mode.bench")
  awk -v msop="${msop:-0}" -f perf/stages.awk "$WORK/$mode.folded" | tee "$FLAME/$mode-$TAG.breakdown"
}

case "$MODE" in
  put) profile put 4 ;;
  get) profile get 12 --objects 200 ;;
  both) profile put 4; profile get 12 --objects 200 ;;
  *) echo "usage: perf/profile.sh [put|get|both] [seconds] [tag]" >&2; exit 2 ;;
esac
echo "flame graphs: $FLAME/*-$TAG.svg"
