#!/usr/bin/env bash
# Subject erasure (issue 9): DELETE /v1/subjects/{id} of a subject with 10,000 records, against
# deleting the same number of records one DELETE at a time, in the same run. Each run preloads
# a fresh subject (bench/lib.sh's preload_people: one subject, `RECORDS` records, a blind index
# on each) into one vault; the erasure's time is the HTTPS call's, from request to receipt
# (keys destroyed, rows and index entries deleted, the receipt fdatasync'ed, the stores
# checkpointed). The one-by-one side deletes `SAMPLE` records and is scaled to `RECORDS`.
#
#   bench/erasure.sh                     # 10,000 records, 3 runs
#   RECORDS=2000 RUNS=1 bench/erasure.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RECORDS=${RECORDS:-10000}
RUNS=${RUNS:-3}
SAMPLE=${SAMPLE:-500}

scripts/install-deps --bench
cmake --preset release >/dev/null
cmake --build --preset release --target strongroom >/dev/null

new_vault sr-ebench
start_server build/release/strongroom release
printf "%-10s %-4s %10s %14s\n" side run seconds "records/s"
for run in $(seq "$RUNS"); do
  python3 - "$base" "$work/vault/tls/server.crt" "$admin" "$RECORDS" "$SAMPLE" "$run" <<'PY'
import http.client, json, ssl, sys, time
base, ca, admin, count, sample, run = sys.argv[1:7]
count, sample = int(count), int(sample)
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
def call(method, path, body=None):
    conn.request(method, path, None if body is None else json.dumps(body),
                 {"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
    r = conn.getresponse(); data = r.read()
    assert r.status < 300, (path, r.status, data)
    return json.loads(data) if data else None
c = {"grade": "confidential", "category": "contact"}
if run == "1":
    call("POST", "/v1/collections", {"name": "people", "fields": [
        {"name": "email", "type": "email", "indexed": True, "classification": c},
        {"name": "full_name", "type": "name", "classification": c}]})
def preload(n):
    subject = call("POST", "/v1/subjects", {})["id"]
    ids = []
    for start in range(0, n, 100):
        result = call("POST", "/v1/collections/people/records/batch", {"records": [
            {"subject_id": subject, "fields": {"email": "r%s-%d@example.com" % (run, i),
                                               "full_name": "Alice Example"}}
            for i in range(start, min(start + 100, n))]})
        ids += [r["record"]["id"] for r in result["results"]]
    return subject, ids
subject, _ = preload(count)
start = time.monotonic()
erased = call("DELETE", "/v1/subjects/" + subject)
erase_s = time.monotonic() - start
assert erased["destroyed"]["records"] == count, erased["destroyed"]
print("%-10s %-4s %10.3f %14.0f" % ("erase", run, erase_s, count / erase_s))
_, ids = preload(sample)
start = time.monotonic()
for record in ids:
    call("DELETE", "/v1/collections/people/records/" + record)
one_s = (time.monotonic() - start) * count / sample
print("%-10s %-4s %10.3f %14.0f" % ("one-by-one", run, one_s, count / one_s))
PY
done | tee "$work/runs.txt"
erase=$(awk '$1 == "erase" {print $3}' "$work/runs.txt" | median)
one=$(awk '$1 == "one-by-one" {print $3}' "$work/runs.txt" | median)
printf "erasure of one subject with %d records: %.3f s (median), %.0fx faster than deleting its records one DELETE at a time (%.3f s, scaled from %d)\n" \
  "$RECORDS" "$erase" "$(echo "$one / $erase" | bc -l)" "$one" "$SAMPLE"
