#!/usr/bin/env bash
# What deduplication costs and saves (issue 17): a release node on 6 drive
# directories at 4+2, PUT SIZE objects for DUR at CONC in flight,
# alternated ROUNDS times between a plain bucket and a dedup bucket.
# cairn-bench's bodies are slices of one random buffer at 4 KiB strides
# (256 distinct 1 MiB bodies, 16 distinct bodies of 16 MiB or more), so
# after the first few hundred stripes nearly every stripe of the dedup
# bucket is already stored: the steady state of a backup that repeats.
# Also reports what the dedup bucket stored against what its objects hold.
# MODE=multipart-put uploads CONC objects at a time of PARTS parts of
# PART_SIZE (PART_CONC in flight each) instead: a dedup bucket's
# completions read and cut each object into contents, which shows in the
# parts' rate and in the completion's latency.
# Writes perf/results/<date>-<sha>-dedup-<size>.txt (-dedup-mp-<parts>x<part
# size>.txt for multipart-put).
#
#   SIZE=1MiB CONC=16 perf/dedup.sh [duration] [rounds]   default 10s 2
#   MODE=multipart-put PARTS=4 PART_SIZE=8MiB CONC=4 perf/dedup.sh
set -euo pipefail
DUR="${1:-10s}"
ROUNDS="${2:-2}"
SIZE="${SIZE:-1MiB}"
CONC="${CONC:-16}"
MODE="${MODE:-put}"
case "$MODE" in
  put) ARGS=(--obj.size "$SIZE"); NAME="$SIZE" ;;
  multipart-put)
    ARGS=(--parts "${PARTS:-4}" --part.size "${PART_SIZE:-8MiB}" --part.concurrent "${PART_CONC:-4}")
    NAME="mp-${PARTS:-4}x${PART_SIZE:-8MiB}" ;;
  *) echo "MODE is put or multipart-put" >&2; exit 2 ;;
esac
# shellcheck source=perf/admin_common.sh
source "$(dirname "$0")/admin_common.sh"
bench_setup "dedup-$NAME"
"$CAIRN" admin mb local/dd-plain >/dev/null
"$CAIRN" admin mb local/dd-dedup >/dev/null
"$CAIRN" admin bucket dedup local dd-dedup on >/dev/null
bench() {
  "$BENCH" "$MODE" --host "127.0.0.1:$PORT" --access-key "$ROOT_KEY" --secret-key "$ROOT_SECRET" \
    --no-progress --server-pid "$PID" "${ARGS[@]}" --concurrent "$CONC" --duration "$DUR" "$@"
}
{
  echo "# MODE=$MODE SIZE=$SIZE PARTS=${PARTS:-} PART_SIZE=${PART_SIZE:-} CONC=$CONC perf/dedup.sh $DUR $ROUNDS at $SHA ($(date -u +%FT%TZ)), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for r in $(seq 1 "$ROUNDS"); do
    for mode in plain dedup; do
      bench --bucket "dd-$mode" --json "$WORK/put-$mode-$r.json" >/dev/null
      python3 - "$WORK/put-$mode-$r.json" "$mode" "$r" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["phases"][-1]
print(f"round {sys.argv[3]} {sys.argv[2]}: {t['total']['ops_per_s']:.1f} ops/s, "
      f"{t['total'].get('mib_per_s', 0):.0f} MiB/s, "
      f"p99 {t['total']['latency_ms']['p99']:.2f} ms, "
      f"server CPU {t['cpu'].get('server_cpu_ms_per_op', 0):.3f} ms/op")
PY
    done
  done
  python3 - "$WORK" "$ROUNDS" "$MODE" <<'PY'
import json, sys
w, rounds = sys.argv[1], int(sys.argv[2])
def avg(mode, f):
    return sum(f(json.load(open(f"{w}/put-{mode}-{r}.json"))["phases"][-1])
               for r in range(1, rounds + 1)) / rounds
ops = lambda t: t["total"]["ops_per_s"]
cpu = lambda t: t["cpu"].get("server_cpu_ms_per_op", 0)
p, d = avg("plain", ops), avg("dedup", ops)
print(f"{sys.argv[3]}, dedup bucket: {d:.1f}/s against {p:.1f}/s plain ({100 * (d / p - 1):+.1f}%), "
      f"server CPU {avg('dedup', cpu):.3f} against {avg('plain', cpu):.3f} ms/op")
PY
  "$CAIRN" admin dedup status local
  "$CAIRN" admin bucket info local dd-dedup | grep -E "Objects|Bytes|Stored"
  "$CAIRN" admin bucket info local dd-plain | grep -E "Objects|Bytes|Stored"
} 2>&1 | tee "$OUT.txt"
