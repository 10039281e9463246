#!/usr/bin/env bash
# A 10-field record through the service in process (Google Benchmark): encrypt + validate + index
# + durable SQLite write, read + decrypt, and the crypto alone. Prints the benchmark table; the
# numbers go to docs/performance.md.
#
#   bench/record.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps --bench
cmake --preset release -DSTRONGROOM_BUILD_BENCH=ON >/dev/null
cmake --build --preset release --target record_bench >/dev/null
# The vault lives in $TMPDIR (default /tmp): run it on the disk you mean to measure.
build/release/bench/record_bench --benchmark_min_time=2 2>/dev/null
