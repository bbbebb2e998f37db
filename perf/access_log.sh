#!/usr/bin/env bash
# Access-log cost on the data path (issue 13, "How fast": at most 3% of PUT
# and GET 4 KiB): two release nodes on their own drives, one writing the
# JSON access log (--access-log, CAIRN_LOG_FORMAT=json), one not, driven in
# turn, alternating which goes first round by round.
# Writes perf/results/<date>-<sha>-access-log.md.
#
#   perf/access_log.sh [duration] [rounds]   default 10s per run, 5 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-10s}"
ROUNDS="${2:-5}"
BIN="$CARGO_TARGET_DIR/release"
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench

SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-access-log"
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cairn-logcost.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
. perf/lib.sh

declare -A PORT PID
for side in nolog log; do
  PORT[$side]="$(free_port)"
  extra=()
  [ "$side" = log ] && extra=(--access-log "$WORK/access.log")
  CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret-key CAIRN_LOG=warn CAIRN_LOG_FORMAT=json \
    "$BIN/cairn" serve "$WORK/$side/d"{1..6} --layout 4+2 --listen "127.0.0.1:${PORT[$side]}" "${extra[@]}" \
    >/dev/null 2>"$WORK/$side.log" &
  PID[$side]=$!
  PIDS+=("$!")
  wait_http "${PORT[$side]}"
done

for round in $(seq 1 "$ROUNDS"); do
  for mode in put get; do
    args=("$mode" --obj.size 4KiB)
    [ "$mode" = get ] && args+=(--objects 2500)
    if [ $((round % 2)) = 1 ]; then order=(nolog log); else order=(log nolog); fi
    for side in "${order[@]}"; do
      echo "== round $round $mode-4KiB $side" >&2
      "$BIN/cairn-bench" "${args[@]}" --host "127.0.0.1:${PORT[$side]}" --access-key bench \
        --secret-key bench-secret-key --bucket logcost --concurrent 32 --warmup 3s --duration "$DUR" \
        --no-progress --server-pid "${PID[$side]}" --json "$OUT/$mode.$side.$round.json" \
        >"$OUT/$mode.$side.$round.txt" 2>&1
    done
  done
done
lines=$(wc -l <"$WORK/access.log")
python3 perf/ab_summary.py "$OUT" \
  "Access-log cost: JSON access log on vs off ($SHA, $DUR per run)" \
  "Command: \`perf/access_log.sh $DUR $ROUNDS\`. Two nodes, 6 drive directories each at 4+2, one with \`--access-log\` (JSON lines; $lines lines written in all); runs alternate." \
  nolog log >"$OUT.md"
cat "$OUT.md"
