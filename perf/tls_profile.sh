#!/usr/bin/env bash
# CPU profile of a release cairn serving HTTPS GETs of 1 MiB (rustls in
# user space, or kTLS where the kernel has it): `perf record` of software
# cpu-clock samples (this VM has no hardware counters) with DWARF call
# graphs, on the server process only, under 16 cairn-bench workers over TLS.
# No inferno needed: the top functions by self time, and who calls memmove.
#
#   perf/tls_profile.sh TAG [seconds]          (default 8)
#   BIN=dir   cairn and cairn-bench (default $CARGO_TARGET_DIR/release)
#
# Writes perf/flame/get-tls-TAG.txt (top 40 by self time, the bench's
# figures, the load average, and memmove's callers).
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
TAG="${1:?perf/tls_profile.sh TAG [seconds]}"
SECS="${2:-8}"
BIN="${BIN:-${CARGO_TARGET_DIR:-/var/tmp/cairn-target}/release}"
OUT="$PWD/perf/flame/get-tls-$TAG.txt"
WORK="$(mktemp -d /var/tmp/cairn-tls-profile.XXXXXX)"
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem \
  -out cert.pem -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null
PORT="$(free_port)"
CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret-key CAIRN_LOG=info "$BIN/cairn" serve \
  d{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" --tls-cert cert.pem --tls-key key.pem \
  >/dev/null 2>server.log &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$PORT/" && break; sleep 0.1; done
# The bench runs past both ends of the recording (uploads and warm-up first).
"$BIN/cairn-bench" get --obj.size 1MiB --objects 200 --host "127.0.0.1:$PORT" --access-key bench \
  --secret-key bench-secret-key --tls --tls-ca cert.pem --concurrent 16 --duration "$((SECS + 10))s" \
  --no-progress --server-pid "$PID" --json /dev/null >bench.txt 2>&1 &
BENCH=$!
sleep 8
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
perf record -q -e cpu-clock -F 999 --call-graph dwarf,16384 -p "$PID" -o perf.data -- sleep "$SECS" 2>/dev/null
wait "$BENCH"
# head closes the pipes early: no pipefail here.
set +o pipefail
{
  echo "perf/tls_profile.sh $TAG $SECS; load average at start: $LOAD"
  grep -h -o 'kTLS[^\[]*' server.log | head -1
  grep -E "^  GET|server CPU" bench.txt
  echo
  perf report -i perf.data --no-children --sort sym --stdio -g none 2>/dev/null | grep -E "^ +[0-9]" | head -40
  echo
  perf report -i perf.data --no-children --sort sym --stdio -G -S __memmove_avx512_unaligned_erms 2>/dev/null |
    grep -E "[0-9]+\.[0-9]+%--" | head -20
} >"$OUT"
cat "$OUT"
