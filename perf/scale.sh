#!/usr/bin/env bash
# Cost as the node fills (issue 16, part 5): a release node on 6 drive
# directories at 4+2 is filled step by step with OBJECTS small objects of
# SIZE under one bucket, keys `logs/<i % 100>/<i / 100>` (100 prefixes that
# grow together, as a day's or a host's logs do). At each checkpoint:
#   - the fill's own PUT rate since the last checkpoint (64 in flight);
#   - PUT 4 KiB for DUR, 32 in flight, new keys (kept);
#   - GET for DUR, 32 in flight, of fill objects at random over all of them
#     (past the 1 GiB read cache most read the drive), and of the first
#     10,000 (a hot set the cache holds at any size: the index's cost alone);
#   - listing throughput, 4 listers: from the bucket root (pages of 1000) and
#     at a deep prefix, `logs/42/` (pages of 100: at 10,000 objects it holds
#     one full page);
#   - index bytes per object (the LMDB files on the drives), the node's
#     resident memory per core (anonymous and file-backed);
#   - a compaction pass after 20,000 4 KiB objects were written and deleted:
#     its wall time, the node's CPU and what it reclaimed (they sit in
#     segments still being written, so it measures the pass's fixed cost);
#   - start-up after a clean stop, `cairn repair --rebuild-index` (node
#     stopped) and the start-up after it.
# Writes perf/results/<date>-<sha>-scale.{md,jsonl} (perf/scale_summary.py).
#
#   perf/scale.sh [objects] [size] [duration]   default 10000000 512 10s
#   (10 million objects need about 130 GB; a smaller disk states its
#   maximum: 3000000 on the 64 GB this was written on)
#   CHECKPOINTS="10000 100000 ..."   default: 10k, 100k, 1M, 3M, 10M (up
#                                    to OBJECTS)
#   REBUILD_MAX=N                    skip the rebuild above N objects
#   LOCK=FILE                        hold `flock -x FILE` while measuring
#                                    (not while filling), through the gate
#                                    FILE.gate (builds should take
#                                    `flock -s FILE.gate true` first)
#   SETTLE=1                         `sync` before measuring: the fill's
#                                    dirty pages written back first (the
#                                    seconds it took are recorded)
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
OBJECTS="${1:-10000000}"
SIZE="${2:-512}"
DUR="${3:-10s}"
REBUILD_MAX="${REBUILD_MAX:-$OBJECTS}"
CHECKPOINTS="${CHECKPOINTS:-10000 100000 1000000 3000000 10000000}"
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench
SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-scale"
mkdir -p "$OUT"
LINES="$OUT.jsonl"
: >"$LINES"

size_bytes=$(python3 -c "
import re, sys
m = re.fullmatch(r'(\d+)(KiB|MiB|)', '$SIZE')
print(int(m[1]) * {'KiB': 1024, 'MiB': 1 << 20, '': 1}[m[2]] if m else sys.exit('SIZE: bytes, KiB or MiB'))")
# Three copies of each small object (4+2 keeps m + 1), each a record padded
# to 4 KiB blocks; about 1 KB of index; 6 GB for the PUT and compaction
# runs' objects and room to spare.
record=$(( (size_bytes + 256 + 4095) / 4096 * 4096 ))
need_gb=$(( OBJECTS * (3 * record + 1024) / 1000000000 + 6 ))
free_gb=$(df -P -BG /var/tmp | awk 'NR == 2 { sub("G", "", $4); print $4 }')
if [ "$free_gb" -lt "$need_gb" ]; then
  echo "perf/scale.sh: $OBJECTS objects of $SIZE need about $need_gb GB under /var/tmp (has $free_gb GB)" >&2
  exit 1
fi

WORK="$(mktemp -d /var/tmp/cairn-scale.XXXXXX)"
PID=""
cleanup() {
  stop_node
  rm -rf "$WORK"
}
trap cleanup EXIT
# Copies: a build during the hours of the run must not change the binaries.
mkdir "$WORK/bin"
cp "$CARGO_TARGET_DIR/release/cairn" "$CARGO_TARGET_DIR/release/cairn-bench" "$WORK/bin/"
CAIRN="$WORK/bin/cairn"
BENCH="$WORK/bin/cairn-bench"
KEY=bench SECRET=bench-secret-key
PORT="$(free_port)"
DRIVES=("$WORK"/d{1..6})
export HOME="$WORK/home"
mkdir -p "$HOME"

# Starts the node; STARTUP: the seconds until /health/ready answers 200.
start_node() {
  local t0 t1
  t0=$(date +%s.%N)
  CAIRN_ROOT_USER="$KEY" CAIRN_ROOT_PASSWORD="$SECRET" CAIRN_LOG=warn \
    "$CAIRN" serve "${DRIVES[@]}" --layout 4+2 --listen "127.0.0.1:$PORT" \
    >/dev/null 2>>"$WORK/cairn.log" &
  PID=$!
  for _ in $(seq 1 30000); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health/ready")" = 200 ]; then
      t1=$(date +%s.%N)
      STARTUP=$(python3 -c "print(round($t1 - $t0, 3))")
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || { echo "the node exited; see $WORK/cairn.log" >&2; tail -5 "$WORK/cairn.log" >&2; exit 1; }
    sleep 0.02
  done
  echo "the node did not get ready in 10 minutes" >&2
  exit 1
}

bench() {
  "$BENCH" "$@" --host "127.0.0.1:$PORT" --access-key "$KEY" --secret-key "$SECRET" \
    --bucket scale --no-progress --server-pid "$PID"
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
majflt() { awk '{ print $12 }' "/proc/$PID/stat"; }
compaction() { "$CAIRN" admin compaction status local --json; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Holding "$LOCK.gate" while waiting stops new shared holders (builds that
# pass the gate first) from starving the exclusive lock.
lock() { [ -z "${LOCK:-}" ] || { exec 8>"$LOCK.gate" 9>"$LOCK"; flock -x 8; flock -x 9; flock -u 8; }; }
unlock() { [ -z "${LOCK:-}" ] || flock -u 9; }

start_node
"$CAIRN" admin alias set local "http://127.0.0.1:$PORT" "$KEY" "$SECRET" >/dev/null
echo "# perf/scale.sh $OBJECTS $SIZE $DUR at $SHA ($(date -u +%FT%TZ)); $(nproc) cores; drives under $WORK" | tee "$OUT/log.txt"
have=0
for cp in $CHECKPOINTS; do
  [ "$cp" -le "$OBJECTS" ] || break
  echo "## $cp objects ($(date -u +%T))" | tee -a "$OUT/log.txt"
  bench fill --from "$have" --objects $((cp - have)) --slots 100 --prefix logs \
    --obj.size "$SIZE" --concurrent 64 --json "$OUT/fill-$cp.json" >>"$OUT/log.txt"
  have=$cp
  lock
  # What the kernel still has to write back of the fill, in KiB.
  dirty=$(awk '/^Dirty:/ { d = $2 } /^Writeback:/ { w = $2 } END { print d + w }' /proc/meminfo)
  settle=null
  if [ "${SETTLE:-0}" = 1 ]; then
    t0=$(date +%s.%N)
    sync
    settle=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
  fi
  bench put --obj.size 4KiB --concurrent 32 --duration "$DUR" --prefix "put-$cp" \
    --noclear --json "$OUT/put-$cp.json" >>"$OUT/log.txt"
  # Major page faults: index pages read from the drive on an executor.
  f0=$(majflt)
  bench get --skip-upload --slots 100 --prefix logs --objects "$cp" --concurrent 32 \
    --duration "$DUR" --json "$OUT/get-$cp.json" >>"$OUT/log.txt"
  f1=$(majflt)
  bench get --skip-upload --slots 100 --prefix logs --objects 10000 --concurrent 32 \
    --duration "$DUR" --warmup 3s --json "$OUT/get-hot-$cp.json" >>"$OUT/log.txt"
  bench list --skip-upload --prefix logs --list-prefix "" --max-keys 1000 --objects "$cp" \
    --concurrent 4 --duration "$DUR" --json "$OUT/list-root-$cp.json" >>"$OUT/log.txt"
  bench list --skip-upload --prefix logs --list-prefix logs/42/ --max-keys 100 \
    --objects $((cp / 100)) --concurrent 4 --duration "$DUR" --json "$OUT/list-deep-$cp.json" >>"$OUT/log.txt"
  index_bytes=$(find "$WORK" -path '*/index/*' -type f -name '*.mdb' -printf '%b\n' | awk '{ s += $1 * 512 } END { print s + 0 }')
  read -r rss anon file < <(awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { print r, a, f }' "/proc/$PID/status")
  # Compaction: 20,000 objects written and deleted, then one pass.
  bench delete --obj.size 4KiB --objects 20000 --batch 100 --concurrent 32 --duration 5m \
    --prefix "del-$cp" --json "$OUT/delete-$cp.json" >>"$OUT/log.txt"
  runs0=$(compaction | field runs)
  c0=$(compaction)
  t0=$(date +%s.%N)
  k0=$(cpu_ticks)
  "$CAIRN" admin compaction run local >/dev/null
  while [ "$(compaction | field runs)" -lt $((runs0 + $(nproc))) ] || [ "$(compaction | field state)" != idle ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  k1=$(cpu_ticks)
  c1=$(compaction)
  # Start-up after a clean stop, then the rebuild and the start-up after it.
  stop_node
  start_node
  startup=$STARTUP
  stop_node
  rebuild=null
  startup_rebuilt=null
  if [ "$cp" -le "$REBUILD_MAX" ]; then
    t2=$(date +%s.%N)
    "$CAIRN" repair --rebuild-index "${DRIVES[@]}" --layout 4+2 >>"$WORK/cairn.log" 2>&1
    t3=$(date +%s.%N)
    rebuild=$(python3 -c "print(round($t3 - $t2, 2))")
    start_node
    startup_rebuilt=$STARTUP
  else
    start_node
  fi
  unlock
  python3 - "$OUT" "$cp" <<EOF >>"$LINES"
import json, sys
null = None  # what the shell writes for a figure not measured
out, cp = sys.argv[1], sys.argv[2]
def total(name):
    return json.load(open(f"{out}/{name}-{cp}.json"))["phases"][-1]["total"]
def cpu(name):
    return json.load(open(f"{out}/{name}-{cp}.json"))["phases"][-1]["cpu"].get("server_cpu_ms_per_op")
c0, c1 = json.loads('''$c0'''), json.loads('''$c1''')
print(json.dumps({
    "objects": int(cp),
    "fill": {"ops_per_s": total("fill")["ops_per_s"], "p99_ms": total("fill")["latency_ms"]["p99"], "server_cpu_ms_per_op": cpu("fill")},
    "put_4k": {"ops": total("put")["ops"], "ops_per_s": total("put")["ops_per_s"], "p99_ms": total("put")["latency_ms"]["p99"], "server_cpu_ms_per_op": cpu("put")},
    "get": {"ops_per_s": total("get")["ops_per_s"], "p99_ms": total("get")["latency_ms"]["p99"], "server_cpu_ms_per_op": cpu("get"), "major_faults": $f1 - $f0},
    "get_hot": {"ops_per_s": total("get-hot")["ops_per_s"], "p99_ms": total("get-hot")["latency_ms"]["p99"], "server_cpu_ms_per_op": cpu("get-hot")},
    "list_root_keys_per_s": total("list-root")["objects_per_s"],
    "list_deep_keys_per_s": total("list-deep")["objects_per_s"],
    "dirty_kib_before": $dirty, "settle_s": $settle,
    "index_bytes": $index_bytes,
    "rss_kib": {"total": $rss, "anon": $anon, "file": $file},
    "compaction": {"seconds": round($t1 - $t0, 2), "server_cpu_s": ($k1 - $k0) / $(getconf CLK_TCK),
                   "bytes_reclaimed": c1["bytesReclaimed"] - c0["bytesReclaimed"],
                   "bytes_moved": c1["bytesMoved"] - c0["bytesMoved"],
                   "segments_removed": c1["segmentsRemoved"] - c0["segmentsRemoved"]},
    "startup_s": $startup, "rebuild_s": $rebuild, "startup_after_rebuild_s": $startup_rebuilt,
}))
EOF
  tail -1 "$LINES" | tee -a "$OUT/log.txt"
done
python3 perf/scale_summary.py "$LINES" "$(nproc)" "perf/scale.sh $OBJECTS $SIZE $DUR at $SHA" >"$OUT.md"
cat "$OUT.md"
