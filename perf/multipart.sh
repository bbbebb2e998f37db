#!/usr/bin/env bash
# Issue 4's multipart figures against a release cairn on 6 drive directories
# at 4+2, driven by cairn-bench:
#  1. a 1 GiB multipart upload (64 parts of 16 MiB, 8 in flight) against
#     single PUTs of 16 MiB objects at the same concurrency, alternating
#     ROUNDS times so that noise hits both;
#  2. CompleteMultipartUpload of 1,000 parts (5 MiB each, so 5 GiB uploaded
#     first): its latency and server CPU.
#
#   perf/multipart.sh [rounds]        (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
ROUNDS="${1:-3}"
cargo build --release -q -p cairn --bin cairn && cargo build --release -q -p cairn-bench
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d /var/tmp/cairn-mp.XXXXXX)"
OUT="${OUT:-$WORK}"
PORT="$(free_port)"
CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" >/dev/null 2>"$WORK/server.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK/d"*' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
export WARP_HOST="127.0.0.1:$PORT" WARP_ACCESS_KEY=bench WARP_SECRET_KEY=bench-secret
common=(--concurrent 8 --no-progress --server-pid "$PID")
for r in $(seq 1 "$ROUNDS"); do
  "$BIN/cairn-bench" put --obj.size 16MiB --duration 10s --warmup 2s "${common[@]}" \
    --json "$OUT/put-16MiB.$r.json" | grep -E "^  PUT|server CPU"
  "$BIN/cairn-bench" multipart --part.size 16MiB --parts 64 --duration 2s "${common[@]}" \
    --json "$OUT/multipart-1GiB.$r.json" | grep -E "^  (PUTPART|PUT|UPLOAD|COMPLETE)|^upload parts|^complete|server CPU"
done
"$BIN/cairn-bench" multipart --part.size 5MiB --parts 1000 --duration 2s "${common[@]}" \
  --json "$OUT/complete-1000.json" | grep -E "^complete|COMPLETE|server CPU"
python3 - "$OUT" "$ROUNDS" <<'EOF'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def phase(path, name):
    return next(p for p in json.load(open(path))["phases"] if p["name"] == name)
put = [phase(f"{out}/put-16MiB.{r}.json", "put")["total"]["mib_per_s"] for r in range(1, rounds + 1)]
mp = [phase(f"{out}/multipart-1GiB.{r}.json", "upload parts")["total"]["mib_per_s"] for r in range(1, rounds + 1)]
c = phase(f"{out}/complete-1000.json", "complete")
print(f"single PUT 16 MiB x8: {', '.join(f'{v:.0f}' for v in put)} MiB/s")
print(f"multipart 1 GiB, 16 MiB parts x8: {', '.join(f'{v:.0f}' for v in mp)} MiB/s")
print(f"multipart / PUT, mean of rounds: {sum(mp) / sum(put):.0%} (target 90%)")
print(f"Complete of 1,000 parts: {c['total']['latency_ms']['max']:.1f} ms, "
      f"server CPU {c['cpu'].get('server_cpu_ms', 0):.1f} ms (target 50 ms)")
EOF
echo "results: $OUT"
