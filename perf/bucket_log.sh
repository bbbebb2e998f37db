#!/usr/bin/env bash
# Server access logging's cost on the data path (issue 17 part 7): 4 KiB
# PUTs into a bucket without logging and into one whose access log goes to
# a third bucket, on one release node (6 drive directories at 4+2),
# alternating which goes first round by round. Log objects are written
# every --bucket-log-interval (10 s here, so several are written during
# each logged run) and when a core's batch reaches 1 MiB.
# Writes perf/results/<date>-<sha>-bucket-log.txt.
#
#   perf/bucket_log.sh [duration] [rounds]   default 10s per run, 3 rounds
set -euo pipefail
DUR="${1:-10s}"
ROUNDS="${2:-3}"
CAIRN_SERVE_ARGS="--bucket-log-interval 10s"
source "$(dirname "$0")/admin_common.sh"
bench_setup "bucket-log"
python3 - "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" <<'EOF'
import sys, boto3
endpoint, key, secret = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1")
for b in ("bl-plain", "bl-logged", "bl-logs"):
    s3.create_bucket(Bucket=b)
s3.put_bucket_logging(Bucket="bl-logged", BucketLoggingStatus={
    "LoggingEnabled": {"TargetBucket": "bl-logs", "TargetPrefix": "access/"}})
EOF
metric() { curl -s "$ENDPOINT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
bench() {
  "$BENCH" put --host "127.0.0.1:$PORT" --access-key "$ROOT_KEY" --secret-key "$ROOT_SECRET" \
    --no-progress --server-pid "$PID" --obj.size 4KiB --concurrent 32 --warmup 3s \
    --duration "$DUR" "$@"
}
{
  echo "# perf/bucket_log.sh $DUR $ROUNDS at $SHA ($(date -u +%FT%TZ)), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order=(plain logged); else order=(logged plain); fi
    for mode in "${order[@]}"; do
      bench --bucket "bl-$mode" --json "$WORK/put-$mode-$r.json" >/dev/null
      python3 - "$WORK/put-$mode-$r.json" "$mode" "$r" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["phases"][-1]
print(f"round {sys.argv[3]} {sys.argv[2]}: {t['total']['ops_per_s']:.0f} PUT/s, "
      f"p99 {t['total']['latency_ms']['p99']:.2f} ms, "
      f"server CPU {t['cpu'].get('server_cpu_ms_per_op', 0):.3f} ms/op")
EOF
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
p99 = lambda t: t["total"]["latency_ms"]["p99"]
p, l = avg("plain", ops), avg("logged", ops)
print(f"PUT 4 KiB, logged: {l:.0f}/s against {p:.0f}/s plain ({100 * (l / p - 1):+.1f}%), "
      f"p99 {avg('logged', p99):.2f} against {avg('plain', p99):.2f} ms, "
      f"server CPU {avg('logged', cpu):.3f} against {avg('plain', cpu):.3f} ms/op")
EOF
  sleep 11
  echo "lines batched $(metric cairn_bucket_log_lines_total), dropped $(metric cairn_bucket_log_lines_dropped_total), log objects $(metric cairn_bucket_log_objects_total), failed $(metric cairn_bucket_log_failures_total)"
} 2>&1 | tee "$OUT.txt"
