#!/usr/bin/env bash
# HTTPS against plain HTTP (issue 16, part 3): release cairn on 6 drive
# directories at 4+2 with a self-signed certificate (openssl), driven by
# cairn-bench over loopback. Three variants, each on a fresh node: plain
# HTTP with signed streaming chunks (as minio-go sends over HTTP), HTTPS
# with UNSIGNED-PAYLOAD (as minio-go and warp send over TLS), and HTTPS
# with signed streaming for comparison; each runs GET and PUT of 1 MiB and
# 4 KiB. Rounds rotate which variant goes first, so drift falls on all.
#
#   perf/tls.sh NAME [duration] [rounds]     default 10s, 3
#   BIN=dir          cairn and cairn-bench (default $CARGO_TARGET_DIR/release)
#   CONC=16          requests in flight
#   SERVE_ARGS=...   more `cairn serve` arguments for the TLS node
#                    (e.g. --no-ktls)
#   MODES="put-1MiB get-1MiB"   a subset of put-1MiB put-4KiB get-1MiB get-4KiB
#
# Writes perf/results/<date>-<sha>-NAME/ (each run's JSON and output) and
# perf/results/<date>-<sha>-NAME.md (perf/tls_summary.py).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${1:?perf/tls.sh NAME [duration] [rounds]}"
DUR="${2:-10s}"
ROUNDS="${3:-3}"
BIN="${BIN:-${CARGO_TARGET_DIR:-/var/tmp/cairn-target}/release}"
CONC="${CONC:-16}"
MODES="${MODES:-get-1MiB get-4KiB put-4KiB put-1MiB}"
SERVE_ARGS="${SERVE_ARGS:-}"
# BIN/REV, when there, names the build (a copied binary may not be HEAD's).
SHA="$(cat "$BIN/REV" 2>/dev/null || git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-$NAME"
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cairn-tls.XXXXXX)"
PID=""
. perf/lib.sh
stop() {
  stop_node
  rm -rf "$WORK"/d*
}
trap 'stop; rm -rf "$WORK"' EXIT
# An end-entity certificate (CA:FALSE: rustls refuses a CA as a server's).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth" 2>/dev/null
export WARP_ACCESS_KEY=bench WARP_SECRET_KEY=bench-secret-key
node() { # scheme round variant
  local scheme="$1" round="$2" v="$3" port args=()
  rm -rf "$WORK"/d*
  port="$(free_port)"
  if [ "$scheme" = https ]; then
    # shellcheck disable=SC2206
    args=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" $SERVE_ARGS)
  fi
  CAIRN_ROOT_USER=bench CAIRN_ROOT_PASSWORD=bench-secret-key CAIRN_LOG=info \
    "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$port" "${args[@]}" \
    >/dev/null 2>"$OUT/cairn.$v.$round.log" &
  PID=$!
  for _ in $(seq 1 200); do
    curl -sk -o /dev/null "$scheme://127.0.0.1:$port/" && break
    sleep 0.1
  done
  PORT="$port"
}
bench() { # variant round mode-size extra-args...
  local variant="$1" round="$2" ms="$3"
  shift 3
  local mode="${ms%-*}" size="${ms#*-}" args=()
  [ "$mode" = get ] && args+=(--objects 200)
  echo "== round $round $variant $ms" >&2
  "$BIN/cairn-bench" "$mode" --obj.size "$size" "${args[@]}" "$@" --host "127.0.0.1:$PORT" \
    --bucket tls-bench --concurrent "$CONC" --warmup 3s --duration "$DUR" --no-progress \
    --server-pid "$PID" --json "$OUT/$ms.$variant.$round.json" >"$OUT/$ms.$variant.$round.txt" 2>&1
}
# One fresh node per variant: deleting a run's objects leaves compaction
# work behind, which must not land on the next variant's figures.
variant() { # variant round
  local v="$1" round="$2" extra=()
  case "$v" in
    http-signed) node http "$round" "$v" ;;
    https-unsigned) node https "$round" "$v"; extra=(--tls --tls-ca "$WORK/cert.pem" --disable-sha256-payload) ;;
    https-signed) node https "$round" "$v"; extra=(--tls --tls-ca "$WORK/cert.pem") ;;
  esac
  for ms in $MODES; do bench "$v" "$round" "$ms" "${extra[@]}"; done
  if [ "$v" != http-signed ]; then
    grep -h -o 'kTLS[^\[]*' "$OUT/cairn.$v.$round.log" | head -1 >"$OUT/ktls.txt" || true
  fi
  stop
}
VARIANTS=(http-signed https-unsigned https-signed)
for round in $(seq 1 "$ROUNDS"); do
  # Each round starts with the next variant: every variant goes first once
  # in three rounds.
  for i in 0 1 2; do variant "${VARIANTS[$(((round - 1 + i) % 3))]}" "$round"; done
done
python3 perf/tls_summary.py "$OUT" "HTTPS against HTTP: $NAME ($DUR per run, $ROUNDS rounds)" \
  "Command: \`CONC=$CONC MODES=\"$MODES\" SERVE_ARGS=\"$SERVE_ARGS\" perf/tls.sh $NAME $DUR $ROUNDS\` at $SHA. A fresh node per variant per round, 6 drive directories at 4+2, $CONC in flight, loopback, cairn-bench on one thread. TLS: rustls (ring), TLS 1.3, self-signed P-256 certificate; server: $(cat "$OUT/ktls.txt" 2>/dev/null). Load before the run: $(cut -d' ' -f1-3 /proc/loadavg)." \
  >"$OUT.md"
cat "$OUT.md"
