#!/usr/bin/env bash
# The scrubber's speed and what it costs clients (issue 15): a release node
# on 6 drive directories at 4+2 is filled with OBJECTS objects of SIZE
# (cairn-bench get's upload, kept with --noclear), then
#   1. GET at random for DUR with nothing else running (the baseline),
#   2. the same GETs while a scrub pass runs at RATE per drive (0: no
#      limit; it still gives way to client requests),
#   3. a scrub pass alone: bytes read and verified per second, against the
#      drives' sequential read figure in ../shared/MEASURED.md.
# Writes perf/results/<date>-<sha>-scrub[-RATE].{txt,json} (the GET runs'
# JSON) and prints the p99 of both GET runs.
#
#   perf/scrub.sh [objects] [size] [duration] [rate]   default 2000 1MiB 20s 0
set -euo pipefail
OBJECTS="${1:-2000}"
SIZE="${2:-1MiB}"
DUR="${3:-20s}"
RATE="${4:-0}"
CAIRN_SERVE_ARGS="--scrub-rate $RATE"
# shellcheck source=perf/admin_common.sh
source "$(dirname "$0")/admin_common.sh"
cargo build --release -q -p cairn-bench
BENCH="$CARGO_TARGET_DIR/release/cairn-bench"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-scrub"
[ "$RATE" = 0 ] || OUT="$OUT-$RATE"
export HOME="$WORK/home"
mkdir -p "$HOME"
"$CAIRN" admin alias set local "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" >/dev/null
status() { "$CAIRN" admin scrub status local --json; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
bench() {
  "$BENCH" get --obj.size "$SIZE" --objects "$OBJECTS" \
    --host "127.0.0.1:$PORT" --access-key "$ROOT_KEY" --secret-key "$ROOT_SECRET" \
    --bucket scrub-perf --prefix scrub --noclear --no-progress --server-pid "$PID" "$@"
}
{
  echo "# perf/scrub.sh $OBJECTS $SIZE $DUR at $SHA ($(date -u +%FT%TZ)), load $(cut -d' ' -f1-3 /proc/loadavg)"
  # One uploader: --skip-upload reads <prefix>/0/N, the first worker's keys.
  echo "## 0. upload"
  bench --concurrent 1 --duration 1s --json "$WORK/fill.json" >/dev/null
  echo "## 1. GET, nothing else running"
  bench --skip-upload --concurrent 8 --duration "$DUR" --json "$OUT-idle.json"
  echo "## 2. GET while a scrub pass runs (--scrub-rate $RATE)"
  "$CAIRN" admin scrub run local >/dev/null
  bench --skip-upload --concurrent 8 --duration "$DUR" --json "$OUT-during.json"
  echo "scrub during the GETs: $(status | python3 -c 'import json,sys; s=json.load(sys.stdin); print("progress", s["progress"], "bytes", s["bytesChecked"], "problems", s["problemsFound"])')"
  echo "## 3. a scrub pass alone"
  while [ "$(status | field partitionsScrubbing)" != 0 ]; do sleep 0.5; done
  b0=$(status | field bytesChecked)
  t0=$(date +%s.%N)
  "$CAIRN" admin scrub run local >/dev/null
  sleep 0.5
  while [ "$(status | field partitionsScrubbing)" != 0 ]; do sleep 0.2; done
  t1=$(date +%s.%N)
  b1=$(status | field bytesChecked)
  python3 -c "b=$b1-$b0; t=$t1-$t0; print(f'scrub pass alone: {b/2**20:.0f} MiB read and verified in {t:.1f} s: {b/2**20/t:.0f} MiB/s over 6 drives ({b/2**20/t/6:.0f} MiB/s per drive)')"
  echo "problems found: $(status | field problemsFound)"
  i="$(python3 perf/p99.py "$OUT-idle.json")" d="$(python3 perf/p99.py "$OUT-during.json")"
  python3 -c "i, d = $i, $d; print(f'GET p99: alone {i} ms, during the scrub {d} ms ({100 * (d / i - 1):+.0f}%; goal: at most +20%)')"
} 2>&1 | tee "$OUT.txt"
