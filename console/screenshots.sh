#!/usr/bin/env bash
# Saves a screenshot of each main console page to docs/console/*.png by
# running the browser tests with CAIRN_CONSOLE_SCREENSHOTS set (needs the
# built binary, see tests/console/run.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CAIRN_CONSOLE_SCREENSHOTS="$ROOT/docs/console" exec "$ROOT/tests/console/run.sh" "$@"
