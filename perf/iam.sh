#!/usr/bin/env bash
# Authorisation cost on the data path (issue 12, "How fast"): GET and PUT
# 4 KiB signed by root and by an IAM user under 3 attached policies of 10
# statements each plus a bucket policy with conditions, alternating root and
# user run by run so that the disk's and the machine's drift hits both.
# Writes perf/results/<date>-<sha>-iam.md.
#
#   perf/iam.sh [duration] [rounds]   default 10s per run, 3 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-10s}"
ROUNDS="${2:-3}"
BIN="$CARGO_TARGET_DIR/release"
VENV="${CAIRN_VENV:-/var/tmp/cairn-venv}"
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/compat/requirements.txt

SHA="$(git rev-parse --short HEAD)"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-iam"
mkdir -p "$OUT"
WORK="$(mktemp -d /var/tmp/cairn-iam.XXXXXX)"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

ROOT_KEY=bench ROOT_SECRET=bench-secret-key
PORT="$(free_port)"
CAIRN_ROOT_USER="$ROOT_KEY" CAIRN_ROOT_PASSWORD="$ROOT_SECRET" CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/d"{1..6} --layout 4+2 --listen "127.0.0.1:$PORT" \
  >/dev/null 2>"$WORK/cairn.log" &
PID=$!
wait_http "$PORT"

# The user, its policies and the bucket policy; prints "KEY SECRET".
read -r USER_KEY USER_SECRET < <(ENDPOINT="http://127.0.0.1:$PORT" AK="$ROOT_KEY" SK="$ROOT_SECRET" \
  "$VENV/bin/python" perf/iam_setup.py)

# Both identities use the user's home, iam-bench/bench-user/ (all its policy
# allows), so that they read and write the same keys: with a prefix each,
# the user's GETs ran 10% slower than root's in every round while a profile
# put the policy check at 1-2% of the server's CPU.
run() { # who key secret mode round args...
  local who=$1 key=$2 secret=$3 mode=$4 round=$5
  shift 5
  "$BIN/cairn-bench" "$@" --host "127.0.0.1:$PORT" --access-key "$key" --secret-key "$secret" \
    --bucket iam-bench --prefix bench-user --concurrent 32 --warmup 3s --duration "$DUR" \
    --no-progress --server-pid "$PID" --json "$OUT/$mode.$who.$round.json" \
    >"$OUT/$mode.$who.$round.txt" 2>&1
}
for round in $(seq 1 "$ROUNDS"); do
  for mode in put get; do
    args=("$mode" --obj.size 4KiB)
    [ "$mode" = get ] && args+=(--objects 2500)
    # Alternate which identity goes first, so neither always runs warmer.
    if [ $((round % 2)) = 1 ]; then order=(root user); else order=(user root); fi
    for who in "${order[@]}"; do
      echo "== round $round $mode-4KiB as $who" >&2
      if [ "$who" = root ]; then run root "$ROOT_KEY" "$ROOT_SECRET" "$mode" "$round" "${args[@]}"
      else run user "$USER_KEY" "$USER_SECRET" "$mode" "$round" "${args[@]}"; fi
    done
  done
done
"$VENV/bin/python" perf/ab_summary.py "$OUT" \
  "Authorisation cost: IAM user vs root ($SHA, $DUR per run)" \
  "Command: \`perf/iam.sh $DUR $ROUNDS\`. The user has 3 attached policies of 10 statements and the bucket a 4-statement policy with conditions; runs alternate." \
  root user >"$OUT.md"
cat "$OUT.md"
