#!/usr/bin/env bash
# Backup and restore throughput (issue 8), on one vault in one run:
#  - a full backup (read from snapshots while the server runs, encrypted, fdatasync'ed, read
#    back) against `cp` of the same files followed by `sync` of the copies. Target >= 0.5x.
#  - an incremental after changing 1% of the records: its time and size against the full's.
#  - a restore of full + incremental into a new data directory (decrypt, load, verify the
#    audit trail, sync).
# Times exclude unsealing the root key (Argon2id, once per command). Runs alternate (cp, backup,
# cp, ...) and the medians are compared; all files are in the page cache on both sides, and
# nothing is left to write back when either starts (the preload's writes and the previous run's
# deletions are synced first: neither side pays for them).
#
#   bench/backup.sh                    # 30,000 records, 3 runs a side
#   RECORDS=5000 RUNS=1 bench/backup.sh
#   OTHER=/tmp/strongroom-before bench/backup.sh   # also time another build's full backups,
#                                                  # alternating in the same runs
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RECORDS=${RECORDS:-30000}
RUNS=${RUNS:-3}
OTHER=${OTHER:-}

scripts/install-deps --bench
cmake --preset release >/dev/null
cmake --build --preset release --target strongroom >/dev/null

new_vault sr-bbench
start_server build/release/strongroom release
preload_people "$base" "$work/vault/tls/server.crt" "$admin" "$work" "$RECORDS"
bin=build/release/strongroom
mkdir -p "$work/t"
data_bytes=$(du -cb "$work"/vault/*.db* "$work/vault/audit" | tail -1 | cut -f1)
echo "vault: $RECORDS records, $((data_bytes / 1048576)) MiB in the stores and the audit trail"
json_field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }
# One timed full backup by `binary` onto an emptied target: prints its row, appends to <side>.s.
time_backup() {  # side binary run
  local side=$1 binary=$2 run=$3 seconds
  rm -rf "$work"/t/2*
  sync
  seconds=$("$binary" backup create --full --data-dir "$work/vault" --target "$work/t" \
    --output json | json_field seconds)
  printf "%-8s %-4s %9.3f %10.1f\n" "$side" "$run" "$seconds" "$(echo "$data_bytes / 1048576 / $seconds" | bc -l)"
  echo "$seconds" >>"$work/$side.s"
}
printf "%-8s %-4s %9s %10s\n" side run seconds "MiB/s"
for run in $(seq "$RUNS"); do
  rm -rf "$work/cp"
  mkdir -p "$work/cp"
  sync
  start=$(date +%s.%N)
  cp -r "$work"/vault/*.db* "$work/vault/audit" "$work/cp/"
  sync -f "$work/cp"
  seconds=$(echo "$(date +%s.%N) - $start" | bc -l)
  printf "%-8s %-4s %9.3f %10.1f\n" cp "$run" "$seconds" "$(echo "$data_bytes / 1048576 / $seconds" | bc -l)"
  echo "$seconds" >>"$work/cp.s"
  time_backup backup "$bin" "$run"
  if [[ -n "$OTHER" ]]; then time_backup other "$OTHER" "$run"; fi
done
cp_s=$(median <"$work/cp.s")
backup_s=$(median <"$work/backup.s")
printf "full backup vs cp: %.2fx the throughput (medians %.3f s vs %.3f s)\n" \
  "$(echo "$cp_s / $backup_s" | bc -l)" "$backup_s" "$cp_s"
if [[ -n "$OTHER" ]]; then
  other_s=$(median <"$work/other.s")
  printf "other build's full backup vs cp: %.2fx (median %.3f s)\n" \
    "$(echo "$cp_s / $other_s" | bc -l)" "$other_s"
fi
# The last full backup is the base of the incremental: made by this build.
if [[ -n "$OTHER" ]]; then
  rm -rf "$work"/t/2*
  "$bin" backup create --full --data-dir "$work/vault" --target "$work/t" --output json >/dev/null
fi

full_bytes=$(du -sb "$work"/t/2* | cut -f1)
# Change 1% of the records (their phone field), then an incremental.
python3 - "$base" "$work/vault/tls/server.crt" "$work" <<'PY'
import http.client, json, ssl, sys
base, ca, work = sys.argv[1:4]
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
ids = open(work + "/ids.txt").read().split()
admin = json.load(open(work + "/init.json"))["admin_token"]
for record in ids[: len(ids) // 100]:
    conn.request("PATCH", "/v1/collections/people/records/" + record,
                 json.dumps({"fields": {"phone": "+44 20 7946 0000"}}),
                 {"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
PY
incremental=$("$bin" backup create --incremental --data-dir "$work/vault" --target "$work/t" \
  --output json)
inc_s=$(echo "$incremental" | json_field seconds)
inc_bytes=$(echo "$incremental" | json_field bytes)
printf "incremental after changing 1%% of the records: %.3f s, %d bytes = %.2f%% of the full (%d bytes)\n" \
  "$inc_s" "$inc_bytes" "$(echo "100 * $inc_bytes / $full_bytes" | bc -l)" "$full_bytes"
restore_s=$("$bin" backup restore --data-dir "$work/vault" --target "$work/t" --to "$work/restored" \
  --output json | json_field seconds)
printf "restore of full + incremental: %.3f s, %.1f MiB/s of vault data\n" "$restore_s" \
  "$(echo "$data_bytes / 1048576 / $restore_s" | bc -l)"
