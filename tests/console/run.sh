#!/usr/bin/env bash
# The web console's browser tests: Playwright (from PyPI) drives Debian's
# Chromium against the real binary; each test starts what it needs.
#
#   CAIRN_BIN   the binary to test (default: $CARGO_TARGET_DIR/debug/cairn)
#   CAIRN_VENV  the Python venv to use or create (default /var/tmp/cairn-venv)
#   CAIRN_CONSOLE_SCREENSHOTS  a directory: save a screenshot of each page
#
# In CI (CI=true) a missing Chromium fails the run; locally its tests skip.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${CAIRN_VENV:-/var/tmp/cairn-venv}"
export CAIRN_BIN="${CAIRN_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/cairn}"
if [ ! -x "$CAIRN_BIN" ]; then
  echo "console tests: no cairn binary at $CAIRN_BIN (build it, or set CAIRN_BIN)" >&2
  exit 1
fi
if [ "${CI:-}" = true ] && [ ! -x /usr/bin/chromium ]; then
  echo "console tests: FAILED (CI=true): /usr/bin/chromium is not installed" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
export PYTHONDONTWRITEBYTECODE=1
cd "$HERE"
exec "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider "$@"
