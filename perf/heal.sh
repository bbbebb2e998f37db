#!/usr/bin/env bash
# Healing speed and its cost to clients (issue 15, "How fast": rebuilding
# one drive of a 4+2 set at no less than 50% of the slowest drive's write
# bandwidth measured by fio, and client p99 during healing within +20% of
# idle). One release node, 6 drive directories at 4+2:
#
# 1. fill it with about N GiB of 4 MiB objects (cairn-bench put), then a
#    set of 64 KiB objects the GET runs read;
# 2. idle baseline: cairn-bench get of the 64 KiB objects, p99;
# 3. stop, wipe drive 3 (its directory made again, empty), start with
#    --heal-rate RATE, and at once run the same GET while it heals: p99
#    (both GET runs leave out a 2 s warm-up: the restarted node's read
#    cache starts empty);
# 4. time the heal from the start to the log's "drive healed" line, and
#    its bytes written back (the log line's), for MB/s;
# 5. the same heal again with no client (idle heal speed);
# 6. fio on the same filesystem: sequential write, and the heal's own I/O
#    pattern (4 readers and 1 writer at once, perf/ceilings.sh heal): a
#    fifth of its total is the most a heal can write back when every drive
#    is a directory of one disk.
#
# Writes perf/results/<date>-<sha>-heal-rate<RATE>.md.
#
#   perf/heal.sh [GiB] [heal-rate] [get duration]   default 2, default, 10s
# (heal-rate: the server's --heal-rate, the rate while clients are served;
# "default" leaves it out; 0 is no limit.)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
GIB="${1:-2}"
RATE="${2:-default}"
DUR="${3:-10s}"
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
stop() {
  if [ -n "$PID" ]; then
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}
cleanup() {
  stop
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
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
bench get --obj.size 64KiB --bucket small --prefix s --noclear --objects 500 --concurrent 16 \
  --duration 1s >"$OUT/prepare.txt" 2>&1
GET=(get --obj.size 64KiB --bucket small --prefix s --skip-upload --noclear --objects 500 --concurrent 16)
bench "${GET[@]}" --warmup 2s --duration "$DUR" --json "$OUT/idle.json" >"$OUT/idle.txt" 2>&1
stop
STORED="$(du -sb "$WORK/d3" | cut -f1)"

# Heal with a client reading.
rm -rf "$WORK/d3" && mkdir "$WORK/d3"
T0="$(date +%s.%N)"
start busy
bench "${GET[@]}" --warmup 2s --duration "$DUR" --json "$OUT/healing.json" >"$OUT/healing.txt" 2>&1
# What it wrote back while the client ran (drive 3 is index 2).
DURING_S="$(python3 -c "import time; print(f'{time.time() - $T0:.2f}')")"
DURING_B="$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -nE 's/^cairn_heal_bytes_total\{drive="2"\} ([0-9]+)$/\1/p')"
DURING_B="${DURING_B:-0}"
read -r BUSY_S BUSY_B < <(wait_healed "$WORK/cairn.busy.log" "$T0")
stop

# Heal with no client.
rm -rf "$WORK/d3" && mkdir "$WORK/d3"
T0="$(date +%s.%N)"
start idle
read -r IDLE_S IDLE_B < <(wait_healed "$WORK/cairn.idle.log" "$T0")
stop
cp "$WORK"/cairn.*.log "$OUT/" 2>/dev/null || true
perf/ceilings.sh /var/tmp write heal >"$OUT/fio.txt" 2>&1
FIO_W="$(sed -nE 's/.*sequential write.*: ([0-9]+) MB\/s/\1/p' "$OUT/fio.txt")"
FIO_HEAL="$(sed -nE 's/.*heal pattern.*: write ([0-9]+) MB\/s, reads ([0-9]+) MB\/s.*/\1 \2/p' "$OUT/fio.txt")"

python3 - "$OUT" "$GIB" "$RATE" "$DUR" "$STORED" "$BUSY_S" "$BUSY_B" "$IDLE_S" "$IDLE_B" "$DURING_S" "$DURING_B" "$SHA" "$FIO_W" $FIO_HEAL >"$OUT.md" <<'EOF'
import json, sys, os
out, gib, rate, dur, stored, busy_s, busy_b, idle_s, idle_b, during_s, during_b, sha, fio_w, fio_hw, fio_hr = sys.argv[1:]
sys.path.insert(0, "perf")
from p99 import p99 as p99_of
def p99(name):
    return p99_of(os.path.join(out, name))
fio = float(fio_w) * 1e6
# A heal of one drive of 4+2 reads 4 bytes for each it writes: with the
# disk's mixed bandwidth shared out that way, the writer would get a fifth.
ceiling = (float(fio_hw) + float(fio_hr)) * 1e6 / 5
idle_rate = int(idle_b) / float(idle_s)
busy_rate = int(busy_b) / float(busy_s)
during_rate = int(during_b) / float(during_s)
load = open("/proc/loadavg").read().split()[:3]
print(f"# Healing one drive of a 4+2 set ({sha})\n")
print(f"Command: `perf/heal.sh {gib} {rate} {dur}`. Release build; one node, 6 drive")
print("directories on one ext4 virtio disk, 4+2; drive 3 wiped and healed.")
print(f"Load average when it ended: {' '.join(load)} (2 vCPUs).\n")
print(f"Stored on the wiped drive before the wipe: {int(stored)/1e9:.2f} GB.\n")
print(f"fio right after (fio.txt): sequential write {fio/1e6:.0f} MB/s; the heal's pattern,")
print(f"4 readers and 1 writer at once: write {fio_hw} MB/s, reads {fio_hr} MB/s; a heal")
print(f"reading 4 bytes per byte written back can write at most a fifth of that, {ceiling/1e6:.0f} MB/s.\n")
print("| heal | seconds | bytes written back | MB/s | of fio's write | of the heal's bound here |")
print("|---|---|---|---|---|---|")
rows = (
    ("idle node", idle_s, idle_b, idle_rate),
    ("while the GET client ran", during_s, during_b, during_rate),
    ("all of the heal with the client (it goes on after)", busy_s, busy_b, busy_rate),
)
for name, s_, b_, r_ in rows:
    print(f"| {name} | {s_} | {int(b_)} | {r_/1e6:.0f} | {100*r_/fio:.1f}% | {100*r_/ceiling:.0f}% |")
i, h = p99("idle.json"), p99("healing.json")
print("\n| 64 KiB GET, 16 concurrent | p99 ms |")
print("|---|---|")
print(f"| idle | {i} |")
print(f"| during the heal | {h} |")
if i and h:
    print(f"\nClient p99 during the heal: {100*(h/i-1):+.0f}% of idle (goal: at most +20%).")
EOF
cat "$OUT.md"
