#!/usr/bin/env bash
# Field encryption throughput: strongroom's FieldCipher (Google Benchmark) against
# `openssl speed -evp aes-256-gcm`, at the same block sizes, in one run on this machine.
#
#   bench/field_cipher.sh      # prints a markdown table with the ratio per size
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps --bench
cmake --preset release -DSTRONGROOM_BUILD_BENCH=ON >/dev/null
cmake --build --preset release --target field_cipher_bench >/dev/null
work=$(mktemp -d /tmp/sr-cbench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# Interleaved (ours, openssl, ours) so a drift in the VM's speed shows up rather than skewing one side.
build/release/bench/field_cipher_bench --benchmark_filter='BM_FieldEncrypt' \
  --benchmark_min_time=1 --benchmark_format=json > "$work/ours.json" 2>/dev/null
openssl speed -evp aes-256-gcm -seconds 3 -mr 2>/dev/null > "$work/openssl.txt"
build/release/bench/field_cipher_bench --benchmark_filter='BM_FieldEncrypt' \
  --benchmark_min_time=1 --benchmark_format=json > "$work/ours2.json" 2>/dev/null

python3 - "$work/ours.json" "$work/openssl.txt" "$work/ours2.json" <<'PY'
import json, sys
def load(path):
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        name, size = b["name"].split("/")
        out[(name, int(size))] = b["bytes_per_second"]
    return out
first, second = load(sys.argv[1]), load(sys.argv[3])
ours = {k: (first[k] + second[k]) / 2 for k in first}  # mean of the runs either side of openssl
sizes, rates = [], []
for line in open(sys.argv[2]):  # machine-readable output of `openssl speed -mr`
    if line.startswith("+H:"):
        sizes = [int(x) for x in line.strip().split(":")[1:]]
    if line.startswith("+F:"):
        rates = [float(x) for x in line.strip().split(":")[3:]]   # bytes per second
openssl = dict(zip(sizes, rates))
print("| value size | openssl speed MB/s | Encrypt (new buffer) MB/s | ratio | EncryptTo (reused buffer) MB/s | ratio |")
print("|---|---|---|---|---|---|")
for size in sorted(openssl):
    a, b = ours.get(("BM_FieldEncrypt", size)), ours.get(("BM_FieldEncryptTo", size))
    if a and b:
        o = openssl[size]
        print("| %d B | %.0f | %.0f | **%.2f** | %.0f | **%.2f** |" % (size, o / 1e6, a / 1e6, a / o, b / 1e6, b / o))
PY
