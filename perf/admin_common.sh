# Shared by the perf scripts that run one node of their own (admin_usage,
# list_pages, dedup, notify, bucket_log, lifecycle): builds the release binary, starts
# it on temporary drives (6 at 4+2) and stops it on exit.
# Sets PORT, ENDPOINT, ROOT_KEY, ROOT_SECRET, PID, WORK, SHA, CAIRN.
# CAIRN_SERVE_ARGS: more `serve` flags (word-split).
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
# CAIRN_BIN: an already built binary (say, a dev build when a release
# build is too slow for the machine); the figures then say which.
if [ -n "${CAIRN_BIN:-}" ]; then
  CAIRN="$CAIRN_BIN"
else
  cargo build --release -q -p cairn --bin cairn
  CAIRN="$CARGO_TARGET_DIR/release/cairn"
fi
SHA="$(git rev-parse --short HEAD)"
WORK="$(mktemp -d /var/tmp/cairn-admin-perf.XXXXXX)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
ROOT_KEY=bench ROOT_SECRET=bench-secret-key
PORT="$(free_port)"
ENDPOINT="http://127.0.0.1:$PORT"
CAIRN_ROOT_USER="$ROOT_KEY" CAIRN_ROOT_PASSWORD="$ROOT_SECRET" CAIRN_LOG=warn \
  "$CAIRN" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" ${CAIRN_SERVE_ARGS:-} \
  >/dev/null 2>"$WORK/cairn.log" &
PID=$!
wait_http "$PORT" /health/ready

# For scripts that drive cairn-bench and `cairn admin`: builds the bench and
# sets BENCH, OUT (perf/results/<date>-<sha>-NAME, without extension) and
# an alias `local` for root in a HOME of the run's own.
#   bench_setup NAME
bench_setup() {
  cargo build --release -q -p cairn-bench
  BENCH="$CARGO_TARGET_DIR/release/cairn-bench"
  OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-$1"
  export HOME="$WORK/home"
  mkdir -p "$HOME"
  "$CAIRN" admin alias set local "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" >/dev/null
}
