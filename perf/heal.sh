#!/usr/bin/env bash
# Healing speed and its cost to clients (issue 15, "How fast": rebuilding
# one drive of a 4+2 set at no less than 50% of the slowest drive's write
# bandwidth measured by fio, and client p99 during healing within +20% of
# idle). One release node, 6 drive directories at 4+2:
#
# 1. fill it with about N GiB of 4 MiB objects (cairn-bench put), then 500
#    64 KiB objects the GET runs read (one uploader: --skip-upload reads
#    the first worker's keys);
# 2. ROUNDS times, alternating so that drift on a shared machine falls on
#    both alike:
#    a. restart the node with nothing to heal and run the GET: p99;
#    b. stop, wipe drive 3 (its directory made again, empty), start, and
#       at once run the same GET while it heals: p99, and what the heal
#       wrote back while the GET ran (cairn_heal_bytes_total); then wait
#       for the log's "drive healed" line, so the next round starts whole.
#    Every GET run leaves out a 2 s warm-up (a restarted node's read cache
#    starts empty) and must have no failed request;
# 3. the same heal again with no client (idle heal speed);
# 4. fio on the same filesystem: sequential write, and the heal's own I/O
#    pattern (4 readers and 1 writer at once, perf/ceilings.sh heal): a
#    fifth of its total is the most a heal can write back when every drive
#    is a directory of one disk.
#
# Writes perf/results/<date>-<sha>-heal-rate<RATE>.md.
#
#   perf/heal.sh [GiB] [heal-rate] [get duration] [rounds]
#                default 2, default, 15s, 4
# (heal-rate: the server's --heal-rate, the rate while clients are served;
# "default" leaves it out; 0 is no limit.)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
GIB="${1:-2}"
RATE="${2:-default}"
DUR="${3:-15s}"
ROUNDS="${4:-4}"
BIN="$CARGO_TARGET_DIR/release"
RATE_ARG=()
[ "$RATE" = default ] || RATE_ARG=(--heal-rate "$RATE")
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench

SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-heal-rate$RATE"
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cairn-heal.XXXXXX)"
PID=""
. perf/lib.sh
cleanup() {
  stop_node
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT="$(free_port)"
start() {
  CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret-key CAIRN_LOG=info \
    "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" \
    --scrub-interval 0 ${RATE_ARG[@]+"${RATE_ARG[@]}"} >/dev/null 2>"$WORK/cairn.$1.log" &
  PID=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
}
bench() {
  "$BIN/cairn-bench" "$@" --host "127.0.0.1:$PORT" --access-key bench \
    --secret-key bench-secret-key --no-progress
}
# Seconds from the heal's start to the "drive healed" line, and its bytes.
wait_healed() {
  local log="$1" t0="$2"
  for _ in $(seq 1 36000); do
    if grep -q "drive healed" "$log"; then
      local t1 bytes
      t1="$(date +%s.%N)"
      bytes="$(grep "drive healed" "$log" | head -1 | sed -E 's/\x1b\[[0-9;]*m//g; s/.*bytes=([0-9]+).*/\1/')"
      echo "$(python3 -c "print(f'{$t1 - $t0:.2f}')") $bytes"
      return
    fi
    sleep 0.1
  done
  echo "heal did not finish" >&2
  exit 1
}
start fill
# 4 MiB objects until about GIB GiB of object data are stored (4+2: 1.5x
# that on the drives).
WANT=$((GIB * 3 * 1024 * 1024 * 1024 / 2))
i=0
while [ "$(du -sb "$WORK" | cut -f1)" -lt "$WANT" ]; do
  i=$((i + 1))
  bench put --obj.size 4MiB --bucket fill --prefix "f$i" --noclear --concurrent 8 \
    --duration 15s >>"$OUT/fill.txt" 2>&1
done
bench get --obj.size 64KiB --bucket small --prefix s --noclear --objects 500 --concurrent 1 \
  --duration 1s >"$OUT/prepare.txt" 2>&1
GET=(get --obj.size 64KiB --bucket small --prefix s --skip-upload --noclear --objects 500 --concurrent 16)
stop_node
STORED="$(du -sb "$WORK/d3" | cut -f1)"

: >"$OUT/rounds.txt"
for r in $(seq 1 "$ROUNDS"); do
  start "restarted$r"
  bench "${GET[@]}" --warmup 2s --duration "$DUR" --json "$OUT/restarted$r.json" \
    >"$OUT/restarted$r.txt" 2>&1
  stop_node
  rm -rf "$WORK/d3" && mkdir "$WORK/d3"
  T0="$(date +%s.%N)"
  start "busy$r"
  bench "${GET[@]}" --warmup 2s --duration "$DUR" --json "$OUT/healing$r.json" \
    >"$OUT/healing$r.txt" 2>&1
  # What it wrote back while the client ran (drive 3 is index 2).
  during_s="$(python3 -c "import time; print(f'{time.time() - $T0:.2f}')")"
  during_b="$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -nE 's/^cairn_heal_bytes_total\{drive="2"\} ([0-9]+)$/\1/p')"
  read -r busy_s busy_b < <(wait_healed "$WORK/cairn.busy$r.log" "$T0")
  stop_node
  echo "$r $during_s ${during_b:-0} $busy_s $busy_b" >>"$OUT/rounds.txt"
done

# Heal with no client.
rm -rf "$WORK/d3" && mkdir "$WORK/d3"
T0="$(date +%s.%N)"
start idle
read -r IDLE_S IDLE_B < <(wait_healed "$WORK/cairn.idle.log" "$T0")
stop_node
cp "$WORK"/cairn.*.log "$OUT/" 2>/dev/null || true
perf/ceilings.sh /var/tmp write heal >"$OUT/fio.txt" 2>&1
FIO_W="$(sed -nE 's/.*sequential write.*: ([0-9]+) MB\/s/\1/p' "$OUT/fio.txt")"
FIO_HEAL="$(sed -nE 's/.*heal pattern.*: write ([0-9]+) MB\/s, reads ([0-9]+) MB\/s.*/\1 \2/p' "$OUT/fio.txt")"

python3 - "$OUT" "$GIB" "$RATE" "$DUR" "$STORED" "$IDLE_S" "$IDLE_B" "$SHA" "$FIO_W" $FIO_HEAL >"$OUT.md" <<'EOF'
import statistics, sys, os
out, gib, rate, dur, stored, idle_s, idle_b, sha, fio_w, fio_hw, fio_hr = sys.argv[1:]
sys.path.insert(0, "perf")
from p99 import p99 as p99_of
def p99(name):
    return p99_of(os.path.join(out, name))
fio = float(fio_w) * 1e6
# A heal of one drive of 4+2 reads 4 bytes for each it writes: with the
# disk's mixed bandwidth shared out that way, the writer would get a fifth.
ceiling = (float(fio_hw) + float(fio_hr)) * 1e6 / 5
rounds = [l.split() for l in open(os.path.join(out, "rounds.txt"))]
load = open("/proc/loadavg").read().split()[:3]
print(f"# Healing one drive of a 4+2 set ({sha})\n")
print(f"Command: `perf/heal.sh {gib} {rate} {dur} {len(rounds)}`. Release build; one node, 6 drive")
print("directories on one ext4 virtio disk, 4+2; drive 3 wiped and healed.")
print(f"Load average when it ended: {' '.join(load)} (2 vCPUs).\n")
print(f"Stored on the wiped drive before the wipe: {int(stored)/1e9:.2f} GB.\n")
print(f"fio right after (fio.txt): sequential write {fio/1e6:.0f} MB/s; the heal's pattern,")
print(f"4 readers and 1 writer at once: write {fio_hw} MB/s, reads {fio_hr} MB/s; a heal")
print(f"reading 4 bytes per byte written back can write at most a fifth of that, {ceiling/1e6:.0f} MB/s.\n")
idle_rate = int(idle_b) / float(idle_s)
print(f"Idle heal (no client): {int(idle_b)} bytes in {idle_s} s, {idle_rate/1e6:.0f} MB/s:")
print(f"{100*idle_rate/fio:.1f}% of fio's write, {100*idle_rate/ceiling:.0f}% of the heal's bound here.\n")
print("64 KiB GET, 16 concurrent, alternating: a node just restarted with nothing to heal,")
print("then one healing drive 3 from the start of the GET.\n")
print("| round | p99 ms, nothing to heal | p99 ms, healing | change | heal MB/s while the GET ran | whole heal s |")
print("|---|---|---|---|---|---|")
base, heal = [], []
for r, during_s, during_b, busy_s, busy_b in rounds:
    b, h = p99(f"restarted{r}.json"), p99(f"healing{r}.json")
    if b is None or h is None:
        sys.exit(f"round {r}: a GET run has no p99")
    base.append(b)
    heal.append(h)
    rate_during = int(during_b) / float(during_s)
    print(f"| {r} | {b} | {h} | {100*(h/b-1):+.0f}% | {rate_during/1e6:.0f} | {busy_s} |")
mb, mh = statistics.median(base), statistics.median(heal)
print(f"\nMedians: {mb:.3f} ms with nothing to heal, {mh:.3f} ms healing:")
print(f"client p99 during the heal {100*(mh/mb-1):+.0f}% (goal: at most +20%).")
EOF
cat "$OUT.md"
