#!/usr/bin/env bash
# Proves the committed console/dist is what the source and the lockfile
# build: installs exactly the locked packages, runs the unit tests, builds,
# and fails if the build differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
npm test
npm run build
if ! git diff --exit-code --stat -- dist || [ -n "$(git ls-files --others --exclude-standard -- dist)" ]; then
  echo "console/dist differs from a fresh build: run 'npm run build' in console/ and commit dist" >&2
  git ls-files --others --exclude-standard -- dist >&2
  exit 1
fi
echo "console: dist matches a fresh build"
