#!/usr/bin/env bash
# The access log's share of a release node's CPU under PUT and GET 4 KiB,
# by sampling (perf record on the node, all its threads), where the disk
# makes A/B throughput runs (perf/access_log.sh) too noisy to resolve 3%.
# Prints the threads' and the log functions' shares of the samples.
#
#   perf/access_log_profile.sh          (needs /usr/bin/perf)
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d /var/tmp/cairn-logprof.XXXXXX)"
PORT="$(free_port)"
CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret-key CAIRN_LOG=warn CAIRN_LOG_FORMAT=json \
  "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" --access-log "$WORK/access.log" >/dev/null 2>"$WORK/cairn.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
wait_http "$PORT"
for mode in put get; do
  args=($mode --obj.size 4KiB); [ $mode = get ] && args+=(--objects 2500)
  "$BIN/cairn-bench" "${args[@]}" --host "127.0.0.1:$PORT" --access-key bench --secret-key bench-secret-key \
    --bucket logprof --concurrent 32 --warmup 3s --duration 20s --no-progress --server-pid $PID > "$WORK/bench-$mode.txt" 2>&1 &
  B=$!
  sleep 12
  perf record -F 1999 -g -p $PID -o "$WORK/$mode.data" -- sleep 10 2>/dev/null
  wait $B
done
echo "access log lines written: $(wc -l <"$WORK/access.log")"
for mode in put get; do
  echo "== $mode 4 KiB: $(grep -A1 'ops/s' "$WORK/bench-$mode.txt" | tail -1)"
  perf report -i "$WORK/$mode.data" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]'
  perf report -i "$WORK/$mode.data" --no-children --sort symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | grep -E 'logs::|RequestLog' | sed 's/  *-  *-  *$//'
done
