#!/usr/bin/env bash
# ListObjectsV2 pages of 1000 with delimiter '/' over KEYS keys under one
# prefix (issue 13: target under 100 ms a page), p50/p99 over walking every
# page. Loading 1,000,000 keys through S3 takes a while: give a smaller
# count where that is too long, and record the count that ran.
# Writes perf/results/<date>-<sha>-list-pages.json and prints it.
#
#   perf/list_pages.sh [keys]   default 1000000
KEYS="${1:-1000000}"
. "$(dirname "$0")/admin_common.sh"
OUT="perf/results/$(date -u +%Y-%m-%d)-$SHA-list-pages.json"
python3 perf/admin_load.py list "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" "$KEYS" | tee "$OUT"
