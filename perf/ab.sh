#!/usr/bin/env bash
# A/B of two cairn builds under the same load: PUT (and GET) 1 MiB with
# streaming chunk signatures, 16 in flight, over loopback, on 6 drive
# directories at 4+2. Each run starts a fresh node of one build; runs
# alternate A B, B A, ... so drift on a shared machine falls on both.
#
#   perf/ab.sh A_DIR B_DIR NAME [duration] [rounds] [modes]
#              default 20s, 4, "put"
#   SIZE=4KiB CONC=32   object size and requests in flight (default 1MiB, 16)
#   TLS=1               HTTPS (a self-signed certificate from openssl) with
#                       UNSIGNED-PAYLOAD bodies, as warp sends over TLS
#
# A_DIR and B_DIR each hold a release `cairn` and `cairn-bench` (copy them
# out of target/release after building each side). Writes
# perf/results/<date>-NAME/ and perf/results/<date>-NAME.md
# (perf/ab_summary.py: ops/s and server CPU per op, medians, B against A).
set -euo pipefail
cd "$(dirname "$0")/.."
A="$1"
B="$2"
NAME="$3"
DUR="${4:-20s}"
ROUNDS="${5:-4}"
MODES="${6:-put}"
SIZE="${SIZE:-1MiB}"
CONC="${CONC:-16}"
TLS="${TLS:-0}"
OUT="perf/results/$(date -u +%Y-%m-%d)-$NAME"
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cairn-ab.XXXXXX)"
PID=""
. perf/lib.sh
stop() {
  stop_node
  rm -rf "$WORK"/d*
}
trap 'stop; rm -rf "$WORK"' EXIT
SERVE_TLS=() BENCH_TLS=() SCHEME=http
if [ "$TLS" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null
  SERVE_TLS=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
  BENCH_TLS=(--tls --tls-ca "$WORK/cert.pem" --disable-sha256-payload)
  SCHEME=https
fi
run() { # side dir round
  local side="$1" dir="$2" round="$3"
  local port
  port="$(free_port)"
  CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret-key CAIRN_LOG=warn \
    "$dir/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$port" "${SERVE_TLS[@]}" \
    >/dev/null 2>"$OUT/cairn.$side.$round.log" &
  PID=$!
  for _ in $(seq 1 200); do curl -sk -o /dev/null "$SCHEME://127.0.0.1:$port/" && break; sleep 0.1; done
  for mode in $MODES; do
    local args=("$mode" --obj.size "$SIZE" "${BENCH_TLS[@]}")
    [ "$mode" = get ] && args+=(--objects 200)
    echo "== round $round $mode $side" >&2
    "$dir/cairn-bench" "${args[@]}" --host "127.0.0.1:$port" --access-key bench \
      --secret-key bench-secret-key --bucket ab-bench --concurrent "$CONC" --warmup 3s --duration "$DUR" \
      --no-progress --server-pid "$PID" --json "$OUT/$mode.$side.$round.json" \
      >"$OUT/$mode.$side.$round.txt" 2>&1
  done
  stop
}
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then
    run A "$A" "$round"; run B "$B" "$round"
  else
    run B "$B" "$round"; run A "$A" "$round"
  fi
done
python3 perf/ab_summary.py "$OUT" \
  "A/B: $NAME ($DUR per run, $ROUNDS rounds)" \
  "Command: \`SIZE=$SIZE CONC=$CONC TLS=$TLS perf/ab.sh A B $NAME $DUR $ROUNDS \"$MODES\"\`. A: $(cat "$A/REV" 2>/dev/null || echo "$A"); B: $(cat "$B/REV" 2>/dev/null || echo "$B"). One node per run, 6 drive directories at 4+2, $CONC in flight." \
  A B "$SIZE" >"$OUT.md"
cat "$OUT.md"
