#!/usr/bin/env bash
# What the audit trail costs, in one run on this machine (issue 5):
#
#  A. In process (Google Benchmark, bench/audit_bench.cc): appends per second with group commit
#     (target >= 100,000/s), one append waiting for its own fsync, and offline verification
#     (entries per second), and what naming a subject costs an entry (its own pseudonym
#     against the audit key's HMAC).
#  B. Over HTTPS: record gets (wrk, a data:read token) against the same server built with
#     auditing skipped (preset release-auditoff: binary strongroom-auditoff-bench, loopback only,
#     starts only with BENCH_AUDIT_OFF_ACKNOWLEDGED=1). Target >= 0.8x. Runs alternate
#     (audited, off, audited, ...) and the medians are compared, so drift hits both alike.
#
# Client and server share the machine's 2 cores.
#
#   bench/audit.sh                          # both parts; 64 and 256 connections, 10 s a run,
#                                           # 3 runs a side at each
#   PARTS=B DURATION=5 RUNS=1 CONNECTIONS=64 bench/audit.sh
#   SERVER_FLAGS="--audit-writer-nice=0" PARTS=B bench/audit.sh   # flags for both servers
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-"64 256"}
PARTS=${PARTS:-AB}
SERVER_FLAGS=${SERVER_FLAGS:-}
PRELOAD=1000

scripts/install-deps --bench
export CCACHE_BASEDIR=$PWD  # the builds share ccache entries

if [[ $PARTS == *A* ]]; then
  cmake --preset release -DSTRONGROOM_BUILD_BENCH=ON >/dev/null
  cmake --build --preset release --target audit_bench >/dev/null
  echo "== A. in process (the trail in \$TMPDIR, default /tmp)"
  build/release/bench/audit_bench --benchmark_min_time=2 2>/dev/null
fi
[[ $PARTS == *B* ]] || exit 0

for preset in release release-auditoff; do
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target strongroom >/dev/null
done

new_vault sr-abench

start() {  # build-dir -> that build's server on the vault
  local binary=build/$1/strongroom
  [ "$1" = release-auditoff ] && binary=build/$1/strongroom-auditoff-bench
  # shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
  start_server "$binary" "$1" $SERVER_FLAGS
}

start release
preload_people "$base" "$work/vault/tls/server.crt" "$admin" "$work" "$PRELOAD"
stop


for connections in $CONNECTIONS; do
echo "== B. record gets over HTTPS, $connections connections, ${DURATION}s a run, $RUNS runs a side"
printf "%-9s %-4s %10s %8s %8s\n" side run "req/s" "p50 ms" "p99 ms"
: >"$work/on.rps"; : >"$work/off.rps"
for run in $(seq "$RUNS"); do
  for side in release release-auditoff; do
    start "$side"
    wrk -t1 -c"$connections" -d1s -s "$work/get.lua" "$base" >/dev/null 2>&1  # warm the caches
    wrk -t1 -c"$connections" -d"${DURATION}s" --latency -s "$work/get.lua" "$base" \
      >"$work/$side-$run.txt" 2>&1
    if grep -q "Non-2xx" "$work/$side-$run.txt"; then cat "$work/$side-$run.txt" >&2; exit 1; fi
    read -r rps p50 p99 < <(wrk_stats "$work/$side-$run.txt")
    label=audited; [ "$side" = release-auditoff ] && label=off
    printf "%-9s %-4s %10s %8s %8s\n" "$label" "$run" "$rps" "$p50" "$p99"
    [ "$label" = audited ] && echo "$rps" >>"$work/on.rps" || echo "$rps" >>"$work/off.rps"
    if [ "$label" = audited ]; then
      # Group commit under load: entries per fsync.
      metrics_port=$(grep -o '"metrics":"http://127.0.0.1:[0-9]*' "$work/release.log" | tail -1 |
        grep -o '[0-9]*$')
      curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '
        /^strongroom_audit_entries_total/ {e=$2} /^strongroom_audit_batches_total/ {b=$2}
        END {if (b>0) printf "          (audit: %d entries, %.1f per fsync)\n", e, e/b}'
    fi
    stop
  done
done
on=$(median <"$work/on.rps"); off=$(median <"$work/off.rps")
python3 -c "import sys; on, off = float(sys.argv[1]), float(sys.argv[2]); print('median at %s connections: audited %.0f req/s, off %.0f req/s: %.2fx (target >= 0.80x)' % (sys.argv[3], on, off, on / off))" "$on" "$off" "$connections"
done
