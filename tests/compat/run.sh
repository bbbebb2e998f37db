#!/usr/bin/env bash
# Client compatibility suite: boto3, the aws CLI and rclone against a real
# cairn started here on a free loopback port with temporary drives.
#
#   CAIRN_BIN   the binary to test (default: $CARGO_TARGET_DIR/debug/cairn);
#               this script builds nothing.
#   CAIRN_VENV  the Python venv to use or create (default /var/tmp/cairn-venv).
#
# Extra arguments go to pytest. rclone comes from Debian's packages; when it
# cannot be installed its tests are skipped with the reason, except in CI
# (CI=true), where any skipped test fails the run.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${CAIRN_VENV:-/var/tmp/cairn-venv}"
BIN="${CAIRN_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/cairn}"

if [ ! -x "$BIN" ]; then
  echo "compat: no cairn binary at $BIN (build it, or set CAIRN_BIN)" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"

# rclone: install from Debian if missing; skip its tests if that fails.
RCLONE="$(command -v rclone || true)"
RCLONE_SKIP=""
if [ -z "$RCLONE" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null 2>&1; then
      apt-get update -q >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q rclone >/dev/null 2>&1 || true
    fi
    RCLONE="$(command -v rclone || true)"
  fi
  [ -n "$RCLONE" ] || RCLONE_SKIP="rclone is not installed and could not be installed with apt-get"
fi
# In CI (CI=true) nothing may be skipped: conftest.py turns skips into
# failures; a missing rclone stops the run here already.
if [ "${CI:-}" = true ] && [ -n "$RCLONE_SKIP" ]; then
  echo "compat: FAILED (CI=true): $RCLONE_SKIP" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cairn-compat.XXXXXX")"
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
USER_KEY="compatadmin"
# Buckets' websites are served as <bucket>.$WEBSITE_DOMAIN (test_website.py).
WEBSITE_DOMAIN="web.compat.test"
SECRET_KEY="compat-secret-$$-$RANDOM"
PID=""

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

CAIRN_ROOT_USER="$USER_KEY" CAIRN_ROOT_PASSWORD="$SECRET_KEY" CAIRN_LOG="${CAIRN_LOG:-info}" \
  "$BIN" serve "$WORK/d1" "$WORK/d2" "$WORK/d3" "$WORK/d4" \
  --listen "127.0.0.1:$PORT" --cores 2 --no-pin --partitions 16 --segment-size $((64 << 20)) \
  --website-domain "$WEBSITE_DOMAIN" \
  >"$WORK/server.out" 2>"$WORK/server.log" &
PID=$!

ready=""
for _ in $(seq 1 300); do
  if ! kill -0 "$PID" 2>/dev/null; then break; fi
  if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health/ready', timeout=1)" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "compat: cairn did not become ready; its log:" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi

# No __pycache__ in the work tree.
export PYTHONDONTWRITEBYTECODE=1
export CAIRN_ENDPOINT="http://127.0.0.1:$PORT"
export CAIRN_ACCESS_KEY="$USER_KEY"
export CAIRN_SECRET_KEY="$SECRET_KEY"
export CAIRN_BIN="$BIN"
export CAIRN_WEBSITE_DOMAIN="$WEBSITE_DOMAIN"
export CAIRN_RCLONE="$RCLONE"
export CAIRN_RCLONE_SKIP="$RCLONE_SKIP"
status=0
(cd "$HERE" && "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider "$@") || status=$?
if [ "$status" != 0 ]; then
  echo "compat: pytest failed ($status); cairn log tail:" >&2
  tail -n 80 "$WORK/server.log" >&2
fi
exit "$status"
