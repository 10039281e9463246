#!/usr/bin/env bash
# Retention passes (issue 9) in process (Google Benchmark): a pass deleting 10,000 expired
# records (with their blind-index entries and subject links) and one deleting 10,000 expired
# activity events, against deleting records one VaultService::DeleteRecord at a time, in the
# same run. Prints the benchmark table; the numbers go to docs/performance.md.
#
#   bench/retention.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps --bench
cmake --preset release -DSTRONGROOM_BUILD_BENCH=ON >/dev/null
cmake --build --preset release --target retention_bench >/dev/null
# The vault lives in $TMPDIR (default /tmp): run it on the disk you mean to measure.
build/release/bench/retention_bench --benchmark_report_aggregates_only=true 2>/dev/null
