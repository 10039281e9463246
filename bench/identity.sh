#!/usr/bin/env bash
# What identity costs the requests that carry it (issue 4), in one run on this machine:
#
#  A. API-token authentication overhead: record gets over HTTPS (wrk) with a bearer token
#     against the same server built with authentication skipped (preset release-authbypass:
#     every request is the operator; that binary, strongroom-authbypass-bench, listens on
#     loopback only and starts only with BENCH_AUTH_BYPASS_ACKNOWLEDGED=1). Target >= 0.95x.
#  B. Record reads under a sign-in flood: the p99 of record gets alone, then while other
#     clients post sign-ins as fast as they can (Argon2id, m=19 MiB t=2, saturating the
#     credential pool and its queue; surplus sign-ins get 503). Target: p99 within 2x.
#
# Client and server share the machine's 2 cores. Runs alternate (auth, bypass, auth, ...) and
# the medians are compared, so drift hits both sides alike.
#
#   bench/identity.sh                       # 16 connections, 10 s a run, 3 runs a side
#   DURATION=5 RUNS=1 bench/identity.sh
#   PARTS=B NICE_VALUES="0 10" bench/identity.sh   # B only, credential niceness 0 against 10
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-16}
FLOOD_CONNECTIONS=${FLOOD_CONNECTIONS:-32}
PARTS=${PARTS:-AB}              # which parts to run
NICE_VALUES=${NICE_VALUES:-"0 10"}  # credential thread niceness compared in part B
PRELOAD=1000

scripts/install-deps --bench
export CCACHE_BASEDIR=$PWD  # the two builds share ccache entries
for preset in release release-authbypass; do
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target strongroom >/dev/null
done

new_vault sr-ibench

start() {  # build-dir [flags...] -> that build's server on the vault
  local binary=build/$1/strongroom
  [ "$1" = release-authbypass ] && binary=build/$1/strongroom-authbypass-bench
  local build=$1
  shift
  start_server "$binary" "$build" "$@"
}

# Set-up, on the real build: a collection, records, a service account with a data:read token,
# and a user whose password the flood tries.
start release
preload_people "$base" "$work/vault/tls/server.crt" "$admin" "$work" "$PRELOAD"
python3 - "$base" "$work/vault/tls/server.crt" "$admin" <<'PY'
import http.client, json, ssl, sys
base, ca, admin = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
conn.request("POST", "/v1/principals", json.dumps({"username": "flood-target", "roles": ["auditor"],
             "password": "a temporary passphrase 2026"}),
             {"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
assert conn.getresponse().status == 201
PY
stop

# The right password: every attempt runs Argon2id and succeeds, so no lock cuts the flood short
# (wrong passwords would lock the username after 30 and then be refused without Argon2id).
cat >"$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"flood-target","password":"a temporary passphrase 2026"}'
LUA

run_gets() {  # label connections -> "rps p50 p99"
  wrk -t1 -c"$2" -d"${DURATION}s" --latency -s "$work/get.lua" "$base" >"$work/$1.txt" 2>&1
  if grep -q "Non-2xx" "$work/$1.txt"; then cat "$work/$1.txt" >&2; exit 1; fi
  wrk_stats "$work/$1.txt"
}

# --- A: token authentication vs none ----------------------------------------------------------
auth_rps=0; bypass_rps=1
if [[ "$PARTS" == *A* ]]; then
  : >"$work/a_auth"; : >"$work/a_bypass"
  for run in $(seq "$RUNS"); do
    for build in release release-authbypass; do
      start "$build"
      run_gets warm 4 >/dev/null  # fill the read cache
      result=$(run_gets "a_${build}_$run" "$CONNECTIONS")
      echo "A $build run $run: $result (req/s p50 p99 ms)"
      [ "$build" = release ] && echo "$result" >>"$work/a_auth" || echo "$result" >>"$work/a_bypass"
      stop
    done
  done
  auth_rps=$(cut -d' ' -f1 "$work/a_auth" | median)
  bypass_rps=$(cut -d' ' -f1 "$work/a_bypass" | median)
fi

# --- B: record reads under a sign-in flood ----------------------------------------------------
# Each run measures every credential niceness in NICE_VALUES on a fresh server, alternating.
if [[ "$PARTS" == *B* ]]; then
  : >"$work/b_alone"; : >"$work/b_flood"
  for run in $(seq "$RUNS"); do
    for nice in $NICE_VALUES; do
      start release --auth-credential-nice "$nice"
      run_gets warm 4 >/dev/null
      result=$(run_gets "b_alone_$run" "$CONNECTIONS")
      echo "B nice $nice run $run alone: $result"
      echo "$nice $result" >>"$work/b_alone"
      wrk -t1 -c"$FLOOD_CONNECTIONS" -d"$((DURATION + 2))s" -s "$work/login.lua" \
        "$base/v1/auth/login" >"$work/flood_$run.txt" 2>&1 &
      flood_pid=$!
      sleep 1
      result=$(run_gets "b_flood_$run" "$CONNECTIONS")
      wait "$flood_pid" || true
      echo "B nice $nice run $run under flood: $result; sign-ins/s: $(awk '/Requests\/sec/ {print $2}' "$work/flood_$run.txt")"
      echo "$nice $result" >>"$work/b_flood"
      stop
    done
  done
  for nice in $NICE_VALUES; do
    alone=$(awk -v n="$nice" '$1 == n {print $4}' "$work/b_alone" | median)
    flood=$(awk -v n="$nice" '$1 == n {print $4}' "$work/b_flood" | median)
    python3 -c 'import sys; n, a, f = sys.argv[1:]; print("B  credential_nice %2s: p99 alone %6.2f ms, under flood %6.2f ms: %.3f x (target <= 2)" % (n, float(a), float(f), float(f) / float(a)))' "$nice" "$alone" "$flood"
  done
fi
[[ "$PARTS" == *A* ]] || exit 0
python3 - "$auth_rps" "$bypass_rps" <<'PY'
import sys
auth, bypass = map(float, sys.argv[1:])
print("A  record get, token auth : %8.0f req/s (median)" % auth)
print("   record get, no auth    : %8.0f req/s (median)" % bypass)
print("   ratio                  : %8.3f x   (target >= 0.95)" % (auth / bypass))
PY
