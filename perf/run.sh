#!/usr/bin/env bash
# The standard performance suite (issue 5): release cairn on 6 drive
# directories at 4+2, driven by cairn-bench; the machine's ceilings (fio
# O_DIRECT, nginx static files) and a peer S3 server (s3s-fs) measured in the
# same run, the peer alternating with cairn mode by mode so that noise hits
# both. Writes perf/results/<date>-<sha>.json and .md (see perf/README.md).
#
#   perf/run.sh [duration]     measured time per mode after a 3 s warm-up
#                              (default 15s)
#   PEER=0 CEILINGS=0          skip the peer / the ceilings
#   MODES="put-1MiB get-1MiB"  run only these modes
#   CORES=N                    cairn on N cores (default: all); perf/scaling.sh
#                              runs the suite for each N
#   SUFFIX=name                appended to the results' name
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cairn-target}"
DUR="${1:-15s}"
PEER="${PEER:-1}"
CEILINGS="${CEILINGS:-1}"
BIN="$CARGO_TARGET_DIR/release"
cargo build --release -q -p cairn --bin cairn
cargo build --release -q -p cairn-bench

SHA="$(git rev-parse --short HEAD)"
STAMP="$(date -u +%Y-%m-%d)-$SHA${SUFFIX:+-$SUFFIX}"
CORE_ARGS=()
[ -n "${CORES:-}" ] && CORE_ARGS=(--cores "$CORES")
RESULTS="perf/results"
RAW="$RESULTS/$STAMP"
mkdir -p "$RAW"
# The PUT modes write about 30 GB before compaction catches up.
free_gb=$(df -P -BG /var/tmp | awk 'NR == 2 { sub("G", "", $4); print $4 }')
if [ "$free_gb" -lt 40 ]; then
  echo "perf/run.sh needs about 40 GB free under /var/tmp (has ${free_gb} GB)" >&2
  exit 1
fi
WORK="$(mktemp -d /var/tmp/cairn-perf.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

export WARP_ACCESS_KEY=bench WARP_SECRET_KEY=bench-secret-key
. perf/lib.sh

CAIRN_PORT="$(free_port)"
CAIRN_ROOT_USER="$WARP_ACCESS_KEY" CAIRN_ROOT_PASSWORD="$WARP_SECRET_KEY" CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/cairn/d"{1..6} --layout 4+2 "${CORE_ARGS[@]}" --listen "127.0.0.1:$CAIRN_PORT" \
  >/dev/null 2>"$WORK/cairn.log" &
CAIRN_PID=$!
PIDS+=("$CAIRN_PID")
wait_http "$CAIRN_PORT"

# The same node with the read cache off, for the GET that reads the disk
# (judged against fio's read, measured right after it).
DISK_PORT="$(free_port)"
CAIRN_ROOT_USER="$WARP_ACCESS_KEY" CAIRN_ROOT_PASSWORD="$WARP_SECRET_KEY" CAIRN_LOG=warn \
  "$BIN/cairn" serve "$WORK/cairn-disk/d"{1..6} --layout 4+2 --read-cache 0 "${CORE_ARGS[@]}" \
  --listen "127.0.0.1:$DISK_PORT" >/dev/null 2>"$WORK/cairn-disk.log" &
DISK_PID=$!
PIDS+=("$DISK_PID")
wait_http "$DISK_PORT"

PEER_PID=""
if [ "$PEER" = 1 ]; then
  S3S="$(command -v s3s-fs || echo "$HOME/.cargo/bin/s3s-fs")"
  if [ ! -x "$S3S" ]; then
    echo "installing the peer: cargo install s3s-fs 0.14.1" >&2
    CARGO_TARGET_DIR=/var/tmp/s3s-target cargo install -q s3s-fs --version 0.14.1 --features binary --locked
  fi
  PEER_PORT="$(free_port)"
  mkdir -p "$WORK/peer"
  "$S3S" --host 127.0.0.1 --port "$PEER_PORT" --access-key "$WARP_ACCESS_KEY" \
    --secret-key "$WARP_SECRET_KEY" "$WORK/peer" >"$WORK/peer.log" 2>&1 &
  PEER_PID=$!
  PIDS+=("$PEER_PID")
  wait_http "$PEER_PORT"
fi

# name | cairn-bench arguments. Concurrency 32 unless the mode needs another.
SUITE=(
  "put-4KiB|put --obj.size 4KiB"
  "get-4KiB|get --obj.size 4KiB --objects 2500"
  "put-1MiB|put --obj.size 1MiB"
  "get-1MiB|get --obj.size 1MiB --objects 500"
  # Read cache off: every GET reads the disk. No peer; fio read follows.
  "get-1MiB-disk|get --obj.size 1MiB --objects 500"
  # SSE-S3 on every object written (issue 14's budget: against put-1MiB and
  # get-1MiB; perf/sse.sh alternates the two for a closer comparison). No peer.
  "put-1MiB-sse|put --obj.size 1MiB --sse-s3-encrypt"
  "get-1MiB-sse|get --obj.size 1MiB --objects 500 --sse-s3-encrypt"
  "put-64MiB|put --obj.size 64MiB --concurrent 8"
  "get-64MiB|get --obj.size 64MiB --objects 16 --concurrent 8"
  "stat-4KiB|stat --obj.size 4KiB --objects 2500"
  "mixed-1MiB|mixed --obj.size 1MiB --objects 500"
  "list-10000|list --obj.size 4KiB --objects 10000 --concurrent 8"
  "multipart-256MiB|multipart --part.size 16MiB --parts 16 --concurrent 8"
  # A delete run ends when its objects do: no warm-up to spend them in.
  "delete-4KiB|delete --obj.size 4KiB --objects 20000 --batch 100 --warmup 0s"
)

bench() { # target port pid name args...
  local target=$1 port=$2 pid=$3 name=$4
  shift 4
  echo "== $name on $target" >&2
  local conc=(--concurrent 32) warm=(--warmup 3s)
  [[ " $* " == *" --concurrent "* ]] && conc=()
  [[ " $* " == *" --warmup "* ]] && warm=()
  # shellcheck disable=SC2068
  "$BIN/cairn-bench" $@ "${conc[@]}" "${warm[@]}" --host "127.0.0.1:$port" --duration "$DUR" \
    --no-progress --server-pid "$pid" --json "$RAW/$name.$target.json" \
    >"$RAW/$name.$target.txt" 2>&1 || echo "   $name on $target failed: see $RAW/$name.$target.txt" >&2
}

for entry in "${SUITE[@]}"; do
  name="${entry%%|*}"
  args="${entry#*|}"
  if [ -n "${MODES:-}" ] && [[ " $MODES " != *" $name "* ]]; then continue; fi
  if [[ "$name" == *-disk ]]; then
    bench cairn "$DISK_PORT" "$DISK_PID" "$name" "$args"
    if [ "$CEILINGS" = 1 ]; then
      perf/ceilings.sh /var/tmp read >"$RAW/fio-after-$name.txt" 2>&1 || echo "fio failed" >&2
    fi
    continue
  fi
  bench cairn "$CAIRN_PORT" "$CAIRN_PID" "$name" "$args"
  if [ -n "$PEER_PID" ] && [[ "$name" != *-sse ]]; then
    bench peer "$PEER_PORT" "$PEER_PID" "$name" "$args"
  fi
done

if [ "$CEILINGS" = 1 ]; then
  perf/ceilings.sh /var/tmp >"$RAW/fio.txt" 2>&1 || echo "fio failed: see $RAW/fio.txt" >&2
  NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
  if [ ! -x "$NGINX" ] && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >/dev/null 2>&1 || true
  fi
  if [ -x "$NGINX" ]; then
    NGINX_PORT="$(free_port)"
    mkdir -p "$WORK/nginx/logs"
    for spec in "4KiB:4096:2500" "1MiB:1048576:500"; do
      IFS=: read -r label bytes count <<<"$spec"
      dir="$WORK/nginx/www/static/$label/0"
      mkdir -p "$dir"
      head -c "$bytes" /dev/urandom >"$dir/0"
      for i in $(seq 1 $((count - 1))); do ln "$dir/0" "$dir/$i"; done
    done
    cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
user root;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/nginx/www;
  }
}
EOF
    "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    sleep 0.5
    for spec in "4KiB:2500" "1MiB:500"; do
      IFS=: read -r label count <<<"$spec"
      # nginx's workers are children of the master: the master's CPU time
      # does not include them, so no server CPU figure here.
      "$BIN/cairn-bench" get --host "127.0.0.1:$NGINX_PORT" --bucket static --prefix "$label" \
        --skip-upload --objects "$count" --obj.size "$label" --concurrent 32 \
        --duration "$DUR" --warmup 3s --no-progress --json "$RAW/nginx-get-$label.json" \
        >"$RAW/nginx-get-$label.txt" 2>&1 || echo "nginx $label failed" >&2
    done
  else
    echo "nginx is not installed: no HTTP ceiling" >&2
  fi
fi

python3 perf/summarize.py "$RAW" "$RESULTS/$STAMP" "$DUR" "$(git rev-parse "$SHA")"
echo "results: $RESULTS/$STAMP.json and $RESULTS/$STAMP.md"
