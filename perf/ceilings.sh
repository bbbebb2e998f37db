#!/usr/bin/env bash
# Measures the machine's ceilings on the filesystem holding $1 (default
# /var/tmp): fio O_DIRECT sequential write and read, 1 MiB blocks, io_uring
# engine, iodepth 32. Prints one line per test in MB/s.
#
# `heal` is the I/O of rebuilding one drive of a k+m set when every drive
# is a directory of this one disk: 4 jobs reading while one writes, at the
# same time for 15 s; it prints the writer's MB/s, the most a heal of one
# drive of 4+2 can write back here (on separate NVMe drives that figure is
# the healed drive's own write bandwidth).
#
#   perf/ceilings.sh [dir] [write read heal]   the tests to run (default write read)
set -euo pipefail
dir="${1:-/var/tmp}"
command -v fio >/dev/null || { apt-get update -qq && apt-get install -y -qq fio >/dev/null; }
work=$(mktemp -d "$dir/cairn-fio.XXXXXX")
trap 'rm -rf "$work"' EXIT
shift || true
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(write read)
for rw in "${tests[@]}"; do
  if [ "$rw" = heal ]; then
    out=$(fio --directory="$work" --bs=1M --size=2G --ioengine=io_uring --iodepth=32 --direct=1 \
          --time_based --runtime=15s --output-format=json \
          --name=r1 --rw=read --name=r2 --rw=read --name=r3 --rw=read --name=r4 --rw=read \
          --name=w --rw=write)
    printf '%s' "$out" | python3 -c "
import json, sys
jobs = json.load(sys.stdin)['jobs']
w = sum(j['write']['bw_bytes'] for j in jobs) / 1e6
r = sum(j['read']['bw_bytes'] for j in jobs) / 1e6
print(f'fio O_DIRECT heal pattern (4 readers, 1 writer) 1 MiB iodepth 32: write {w:.0f} MB/s, reads {r:.0f} MB/s')"
    continue
  fi
  out=$(fio --name=seq$rw --directory="$work" --rw=$rw --bs=1M --size=2G --ioengine=io_uring \
        --iodepth=32 --direct=1 --numjobs=1 --group_reporting --output-format=json)
  bw=$(printf '%s' "$out" | python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]['$rw']; print(round(j['bw_bytes']/1e6))")
  echo "fio O_DIRECT sequential $rw 1 MiB iodepth 32: $bw MB/s"
done
