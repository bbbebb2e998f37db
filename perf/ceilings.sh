#!/usr/bin/env bash
# Measures the machine's ceilings on the filesystem holding $1 (default
# /var/tmp): fio O_DIRECT sequential write and read, 1 MiB blocks, io_uring
# engine, iodepth 32. Prints one line per test in MB/s.
#
#   perf/ceilings.sh [dir] [write read]   the tests to run (default both)
set -euo pipefail
dir="${1:-/var/tmp}"
command -v fio >/dev/null || { apt-get update -qq && apt-get install -y -qq fio >/dev/null; }
work=$(mktemp -d "$dir/cairn-fio.XXXXXX")
trap 'rm -rf "$work"' EXIT
shift || true
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(write read)
for rw in "${tests[@]}"; do
  out=$(fio --name=seq$rw --directory="$work" --rw=$rw --bs=1M --size=2G --ioengine=io_uring \
        --iodepth=32 --direct=1 --numjobs=1 --group_reporting --output-format=json)
  bw=$(printf '%s' "$out" | python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]['$rw']; print(round(j['bw_bytes']/1e6))")
  echo "fio O_DIRECT sequential $rw 1 MiB iodepth 32: $bw MB/s"
done
