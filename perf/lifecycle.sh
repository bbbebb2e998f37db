#!/usr/bin/env bash
# What lifecycle rules cost (issue 17): a release node on 6 drive
# directories at 4+2,
#   1. PUT 4 KiB for DUR to a bucket without rules and to one whose rule
#      names every key (so each PUT answers `x-amz-expiration`), alternated
#      ROUNDS times: the bookkeeping's cost on the write path;
#   2. a lifecycle pass over OBJECTS objects that expires none
#      (--lifecycle-rate 0: no limit): keys examined per second and server
#      CPU per key;
#   3. the rule cut to 30 days and the lifecycle clock moved 40 days on
#      (CAIRN_TEST_CLOCK_FILE): a pass that expires them all, expirations
#      per second and CPU per expiry.
# Writes perf/results/<date>-<sha>-lifecycle.txt.
#
#   perf/lifecycle.sh [objects] [duration] [rounds]   default 100000 10s 2
set -euo pipefail
OBJECTS="${1:-100000}"
DUR="${2:-10s}"
ROUNDS="${3:-2}"
CLOCK_FILE="$(mktemp /var/tmp/cairn-lifecycle-clock.XXXXXX)"
export CAIRN_TEST_CLOCK_FILE="$CLOCK_FILE"
CAIRN_SERVE_ARGS="--lifecycle-rate 0"
# shellcheck source=perf/admin_common.sh
source "$(dirname "$0")/admin_common.sh"
trap 'cleanup; rm -f "$CLOCK_FILE"' EXIT
bench_setup "lifecycle"
status() { "$CAIRN" admin lifecycle status local --json; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
bench() {
  "$BENCH" "$1" --host "127.0.0.1:$PORT" --access-key "$ROOT_KEY" --secret-key "$ROOT_SECRET" \
    --no-progress --server-pid "$PID" "${@:2}"
}
# A rule on BUCKET naming every key, expiring after DAYS.
rule() {
  python3 - "$ENDPOINT" "$ROOT_KEY" "$ROOT_SECRET" "$1" "$2" <<'EOF'
import sys, boto3
endpoint, key, secret, bucket, days = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1")
try:
    s3.create_bucket(Bucket=bucket)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
    {"ID": "all", "Status": "Enabled", "Filter": {"Prefix": ""},
     "Expiration": {"Days": int(days)}}]})
EOF
}
# Waits for the passes under way, then starts passes with "$@" (a command)
# and waits for them: "seconds keys cpu_s".
timed() {
  while [ "$(status | field partitionsPending)" != 0 ]; do sleep 0.2; done
  local k0 k1 t0 t1 c0 c1
  k0=$(status | field keysExamined)
  c0=$(cpu_ticks)
  t0=$(date +%s.%N)
  "$@"
  sleep 0.2
  while [ "$(status | field partitionsPending)" != 0 ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  c1=$(cpu_ticks)
  k1=$(status | field keysExamined)
  python3 -c "print(round($t1 - $t0, 2), $k1 - $k0, ($c1 - $c0) / $(getconf CLK_TCK))"
}
run_pass() { "$CAIRN" admin lifecycle run local >/dev/null; }
# The clock 40 days on: every partition is due (the worker looks each second).
days_on() { echo $(( $(date +%s%3N) + 40 * 86400000 )) >"$CLOCK_FILE"; }
{
  echo "# perf/lifecycle.sh $OBJECTS $DUR $ROUNDS at $SHA ($(date -u +%FT%TZ)), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  date +%s%3N >"$CLOCK_FILE"
  rule lc-rule 3650
  echo "## 1. PUT 4 KiB, no rule vs a rule naming every key (alternated, $ROUNDS rounds of $DUR)"
  for r in $(seq 1 "$ROUNDS"); do
    for b in lc-plain lc-rule; do
      bench put --bucket "$b" --obj.size 4KiB --concurrent 32 --duration "$DUR" \
        --json "$WORK/put-$b-$r.json" >/dev/null
      python3 - "$WORK/put-$b-$r.json" "$b" "$r" <<'EOF'
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
def ops(b):
    return sum(json.load(open(f"{w}/put-{b}-{r}.json"))["phases"][-1]["total"]["ops_per_s"]
               for r in range(1, rounds + 1)) / rounds
p, r = ops("lc-plain"), ops("lc-rule")
print(f"PUT 4 KiB with a rule: {r:.0f}/s against {p:.0f}/s without ({100 * (r / p - 1):+.1f}%; goal: no worse than -5%)")
EOF
  echo "## 2. a pass over $OBJECTS objects that expires none"
  bench fill --bucket lc-rule --prefix fill --obj.size 512 --objects "$OBJECTS" --concurrent 32 \
    --json "$WORK/fill.json" >/dev/null
  read -r s k c < <(timed run_pass)
  python3 -c "print(f'pass: {$k} keys in {$s} s: {$k / $s:.0f} keys/s, server CPU {1e6 * $c / max($k, 1):.1f} µs/key')"
  echo "## 3. the rule cut to 30 days and the clock 40 days on: a pass that expires them all"
  rule lc-rule 30
  e0=$(status | field expired)
  read -r s k c < <(timed days_on)
  e1=$(status | field expired)
  python3 -c "e = $e1 - $e0; print(f'pass: {e} expired ({$k} keys examined) in {$s} s: {e / $s:.0f} expirations/s, server CPU {1e3 * $c / max(e, 1):.3f} ms/expiry')"
  echo "failures: $(status | field failures)"
} 2>&1 | tee "$OUT.txt"
