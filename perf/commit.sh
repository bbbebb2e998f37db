#!/usr/bin/env bash
# Durable small PUTs by concurrency (issue 16, part 2): PUT 4 KiB with
# streaming signatures at each concurrency against cairn (4+2 on 6 drive
# directories, every PUT fdatasync'd before it is acknowledged) and the
# s3s-fs peer (which never syncs), alternating per round on fresh nodes.
# Reports throughput, p50/p99/p99.9, server CPU per op and cairn's segment
# flushes per acknowledged PUT (from /metrics).
#
#   perf/commit.sh [duration] [rounds] [concurrencies]
#                  default 15s, 2, "1 8 32 128"
#   PEER=0         cairn only
#   BIN_DIR=dir    take cairn and cairn-bench from dir (default: build)
#   SIZE=4KiB      object size
#   NAME=commit    results' name: perf/results/<date>-<sha>-NAME.md
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-15s}"
ROUNDS="${2:-2}"
CONCS="${3:-1 8 32 128}"
PEER="${PEER:-1}"
SIZE="${SIZE:-4KiB}"
NAME="${NAME:-commit}"
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -q -p cairn --bin cairn -p cairn-bench
  BIN_DIR="$CARGO_TARGET_DIR/release"
fi
REV="$(cat "$BIN_DIR/REV" 2>/dev/null || git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$REV-$NAME"
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cairn-commit.XXXXXX)"
PID=""
. perf/lib.sh
stop() {
  stop_node
  rm -rf "${WORK:?}"/*
}
trap 'stop; rm -rf "$WORK"' EXIT
export WARP_ACCESS_KEY=bench WARP_SECRET_KEY=bench-secret-key
S3S=""
if [ "$PEER" = 1 ]; then
  S3S="$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")"
  if [ ! -x "$S3S" ]; then
    echo "installing the peer: cargo install s3s-fs 0.14.1" >&2
    CARGO_TARGET_DIR=/var/tmp/s3s-target cargo install -q s3s-fs --version 0.14.1 --features binary --locked
  fi
fi
flushes() { # port -> "flushes writes" summed over drives and cores
  curl -s "http://127.0.0.1:$1/metrics" | awk '
    /^cairn_segment_flushes_total/ { f += $NF }
    /^cairn_segment_flushed_writes_total/ { w += $NF }
    END { printf "%d %d\n", f, w }'
}
run() { # target round
  local target="$1" round="$2" port
  port="$(free_port)"
  if [ "$target" = cairn ]; then
    CAIRN_ROOT_USER="$WARP_ACCESS_KEY" CAIRN_ROOT_PASSWORD="$WARP_SECRET_KEY" CAIRN_LOG=warn \
      "$BIN_DIR/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$port" \
      >/dev/null 2>"$OUT/cairn.$round.log" &
  else
    mkdir -p "$WORK/peer"
    "$S3S" --host 127.0.0.1 --port "$port" --access-key "$WARP_ACCESS_KEY" \
      --secret-key "$WARP_SECRET_KEY" "$WORK/peer" >"$OUT/peer.$round.log" 2>&1 &
  fi
  PID=$!
  wait_http "$port"
  for c in $CONCS; do
    echo "== round $round $target c=$c" >&2
    local before
    [ "$target" = cairn ] && before="$(flushes "$port")"
    "$BIN_DIR/cairn-bench" put --obj.size "$SIZE" --host "127.0.0.1:$port" \
      --bucket "commit-$c" --concurrent "$c" --warmup 3s --duration "$DUR" --no-progress \
      --server-pid "$PID" --json "$OUT/put.$target.c$c.$round.json" \
      >"$OUT/put.$target.c$c.$round.txt" 2>&1 || echo "   failed: $OUT/put.$target.c$c.$round.txt" >&2
    if [ "$target" = cairn ]; then
      echo "$before $(flushes "$port")" >"$OUT/flushes.c$c.$round.txt"
    fi
  done
  stop
}
for round in $(seq 1 "$ROUNDS"); do
  if [ "$PEER" = 1 ] && [ $((round % 2)) = 0 ]; then
    run peer "$round"; run cairn "$round"
  else
    run cairn "$round"
    [ "$PEER" = 1 ] && run peer "$round"
  fi
done
python3 perf/commit_summary.py "$OUT" "$SIZE" \
  "Command: \`SIZE=$SIZE PEER=$PEER perf/commit.sh $DUR $ROUNDS \"$CONCS\"\` at $REV; load before: $(cut -d' ' -f1-3 /proc/loadavg)." \
  >"$OUT.md"
cat "$OUT.md"
