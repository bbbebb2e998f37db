#!/usr/bin/env bash
# What event notifications cost (issue 17): a release node on 6 drive
# directories at 4+2, PUT 4 KiB for DUR at 32 in flight, alternated ROUNDS
# times between
#   plain:  a bucket without rules;
#   hook:   a bucket whose rule sends every PUT's event to a webhook target
#           (a Python receiver on loopback answering 200), the outbox
#           drained before the next round;
#   queued: the same with the receiver answering 503, so each PUT only
#           writes its event to the outbox (what the write path itself pays).
# Rounds rotate which mode goes first. Server CPU per PUT includes the
# delivery threads. Also: how fast one target drains a backlog. Writes
# perf/results/<date>-<sha>-notify.txt.
#
#   perf/notify.sh [duration] [rounds]   default 10s 2
set -euo pipefail
DUR="${1:-10s}"
ROUNDS="${2:-2}"
# shellcheck source=perf/admin_common.sh
source "$(dirname "$0")/admin_common.sh"
bench_setup "notify"
HOOK_PORT="$(free_port)"
MODE_FILE="$WORK/hook-mode"
echo 200 >"$MODE_FILE"
python3 - "$HOOK_PORT" "$MODE_FILE" <<'EOF' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, mode = int(sys.argv[1]), sys.argv[2]
class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        code = int(open(mode).read())
        self.send_response(code)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
EOF
HOOK_PID=$!
trap 'kill "$HOOK_PID" 2>/dev/null || true; cleanup' EXIT
wait_http "$HOOK_PORT" / || true
"$CAIRN" admin notify add local hook "http://127.0.0.1:$HOOK_PORT/" >/dev/null
python3 - "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" <<'EOF'
import sys, boto3
endpoint, key, secret = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1")
for b in ("nt-plain", "nt-hook"):
    s3.create_bucket(Bucket=b)
s3.put_bucket_notification_configuration(Bucket="nt-hook", NotificationConfiguration={
    "QueueConfigurations": [{"Id": "all", "QueueArn": "arn:cairn:sqs::hook:webhook",
                             "Events": ["s3:ObjectCreated:*"]}]})
EOF
target() { "$CAIRN" admin notify list local --json | python3 -c "import json,sys; print(json.load(sys.stdin)['targets'][0]['$1'])"; }
drained() { while [ "$(target pending)" != 0 ]; do sleep 0.5; done; }
bench() {
  "$BENCH" put --host "127.0.0.1:$PORT" --access-key "$ROOT_KEY" --secret-key "$ROOT_SECRET" \
    --no-progress --server-pid "$PID" --obj.size 4KiB --concurrent 32 --duration "$DUR" "$@"
}
{
  echo "# perf/notify.sh $DUR $ROUNDS at $SHA ($(date -u +%FT%TZ)), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  modes=(plain hook queued)
  for r in $(seq 1 "$ROUNDS"); do
    # Each round starts with the next mode, so what a mode leaves behind
    # (a drained backlog, deleted objects) falls before every mode alike.
    order=("${modes[@]:$(((r - 1) % 3))}" "${modes[@]:0:$(((r - 1) % 3))}")
    for mode in "${order[@]}"; do
      bucket=nt-plain
      [ "$mode" = plain ] || bucket=nt-hook
      if [ "$mode" = queued ]; then echo 503 >"$MODE_FILE"; else echo 200 >"$MODE_FILE"; fi
      bench --bucket "$bucket" --json "$WORK/put-$mode-$r.json" >/dev/null
      python3 - "$WORK/put-$mode-$r.json" "$mode" "$r" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["phases"][-1]
print(f"round {sys.argv[3]} {sys.argv[2]}: {t['total']['ops_per_s']:.0f} PUT/s, "
      f"p99 {t['total']['latency_ms']['p99']:.2f} ms, "
      f"server CPU {t['cpu'].get('server_cpu_ms_per_op', 0):.3f} ms/op")
EOF
      if [ "$mode" = queued ]; then
        # The backlog drains with the receiver back: events per second.
        backlog=$(target pending)
        echo 200 >"$MODE_FILE"
        t0=$(date +%s.%N)
        drained
        t1=$(date +%s.%N)
        python3 -c "print(f'backlog of {$backlog} events drained in {$t1 - $t0:.1f} s: {$backlog / ($t1 - $t0):.0f} events/s')"
      elif [ "$mode" = hook ]; then
        drained
      fi
    done
  done
  python3 - "$WORK" "$ROUNDS" <<'EOF'
import json, sys
w, rounds = sys.argv[1], int(sys.argv[2])
def avg(mode, f):
    return sum(f(json.load(open(f"{w}/put-{mode}-{r}.json"))["phases"][-1])
               for r in range(1, rounds + 1)) / rounds
ops = lambda t: t["total"]["ops_per_s"]
cpu = lambda t: t["cpu"].get("server_cpu_ms_per_op", 0)
p = avg("plain", ops)
for mode in ("hook", "queued"):
    m = avg(mode, ops)
    print(f"PUT 4 KiB, {mode}: {m:.0f}/s against {p:.0f}/s plain ({100 * (m / p - 1):+.1f}%; goal: no worse than -5%), "
          f"server CPU {avg(mode, cpu):.3f} against {avg('plain', cpu):.3f} ms/op")
EOF
  echo "target: sent $(target sent), dropped $(target dropped), failed deliveries $(target failed)"
} 2>&1 | tee "$OUT.txt"
