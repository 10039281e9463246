#!/usr/bin/env bash
# KEK rotation (issue 9): the background re-wrap's throughput (subject keys per second) and the
# latency of live record reads during a rotation against without one, in the same run.
#
# One vault with `SUBJECTS` subjects (one key each) and, for the reads, bench/lib.sh's
# preload_people (one subject, 10,000 records). wrk reads records at random over `CONNECTIONS`
# connections for `DURATION` s: first with no rotation (baseline), then with a rotation at the
# default pace (keys.rewrap_per_second = 1000, or PACE) running throughout. Then the server restarts with
# keys.rewrap_per_second = 0 and rotates again, with no reads: the unpaced re-wrap's throughput.
# Each re-wrap's time is the server's, from its keys.kek_rotated log line to keys.rewrap_finished.
#
#   bench/rotation.sh                    # 30,000 subjects, 8 s of reads per side
#   SUBJECTS=5000 DURATION=4 bench/rotation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

SUBJECTS=${SUBJECTS:-30000}
DURATION=${DURATION:-8}
CONNECTIONS=${CONNECTIONS:-8}
PACE=${PACE:-1000}  # keys.rewrap_per_second of the paced side (1000: the default)

scripts/install-deps --bench
cmake --preset release >/dev/null
cmake --build --preset release --target strongroom >/dev/null

api() {  # method path -> JSON answer
  curl -sf --cacert "$work/vault/tls/server.crt" -X "$1" -H "Authorization: Bearer $admin" \
    "$base$2"
}
state() { api GET /v1/keys | python3 -c 'import json,sys; print(json.load(sys.stdin)["rewrap"]["state"])'; }
wait_done() { for _ in $(seq 6000); do [ "$(state)" = done ] && return; sleep 0.1; done; exit 1; }
rewrap_rate() {  # log name -> "keys seconds keys/s" of the last re-wrap in that log
  python3 - "$work/$1.log" <<'PY'
import datetime, json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ts = lambda e: datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()
start = [e for e in events if e["event"] == "keys.kek_rotated"][-1]
done = [e for e in events if e["event"] == "keys.rewrap_finished"][-1]
seconds = ts(done) - ts(start)
print("%d %.2f %.0f" % (done["keys_moved"], seconds, done["keys_moved"] / seconds))
PY
}

new_vault sr-rbench
start_server build/release/strongroom paced --keys-rewrap-per-second "$PACE"
preload_people "$base" "$work/vault/tls/server.crt" "$admin" "$work" 10000
python3 - "$base" "$work/vault/tls/server.crt" "$admin" "$SUBJECTS" <<'PY'
import http.client, json, ssl, sys
base, ca, admin, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
for _ in range(count):
    conn.request("POST", "/v1/subjects", "{}", {"Authorization": "Bearer " + admin,
                                                "Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    assert r.status == 201, r.status
PY

printf "%-20s %-4s %10s %8s %8s\n" side run "req/s" "p50 ms" "p99 ms"
measure_gets baseline 1 20
api POST /v1/keys/rotate >/dev/null
measure_gets during-rewrap 1 20
[ "$(state)" = running ] || echo "warning: the paced re-wrap ended before the reads did" >&2
wait_done
read -r paced_keys paced_s paced_rate < <(rewrap_rate paced)
stop
start_server build/release/strongroom unpaced --keys-rewrap-per-second 0
api POST /v1/keys/rotate >/dev/null
wait_done
read -r unpaced_keys unpaced_s unpaced_rate < <(rewrap_rate unpaced)
echo
printf "re-wrap, paced (%s/s):           %d keys in %s s = %s keys/s\n" "$PACE" "$paced_keys" "$paced_s" "$paced_rate"
printf "re-wrap, unpaced, no reads:      %d keys in %s s = %s keys/s\n" "$unpaced_keys" "$unpaced_s" "$unpaced_rate"
