# Shared by the HTTPS benchmark scripts (sourced, not run): ports, wrk's numbers, medians, and
# the record set and read script the record-get benchmarks use.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wrk_stats() {  # wrk output file -> "rps p50 p99" (ms)
  python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = {k: ms(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", text, re.M)}
print("%.0f %.2f %.2f" % (rps, p["50"], p["99"]))
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }  # numbers on stdin

# On a running server: collection "people" (3 confidential fields), one subject, `count` records
# (their ids in $work/ids.txt), a service account "bench-app" with a data:read token
# ($work/token.txt), and $work/get.lua, a wrk script that reads those records at random.
preload_people() {  # base ca-file admin-token work count
  python3 - "$@" <<'PY'
import http.client, json, ssl, sys
base, ca, admin, work, count = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
def call(method, path, body, token=admin):
    conn.request(method, path, json.dumps(body), {"Authorization": "Bearer " + token,
                                                  "Content-Type": "application/json"})
    r = conn.getresponse(); data = json.loads(r.read() or b"null")
    assert r.status < 300, (path, data)
    return data
c = {"grade": "confidential", "category": "contact"}
call("POST", "/v1/collections", {"name": "people", "fields": [
    {"name": "email", "type": "email", "indexed": True, "classification": c},
    {"name": "full_name", "type": "name", "classification": c},
    {"name": "phone", "type": "phone", "classification": c}]})
subject = call("POST", "/v1/subjects", {})["id"]
ids = []
for start in range(0, count, 100):
    result = call("POST", "/v1/collections/people/records/batch", {"records": [
        {"subject_id": subject, "fields": {"email": "p%d@example.com" % n,
                                           "full_name": "Alice Example",
                                           "phone": "+44 20 7946 0958"}}
        for n in range(start, start + 100)]})
    ids += [r["record"]["id"] for r in result["results"]]
app = call("POST", "/v1/principals", {"username": "bench-app", "kind": "service",
                                      "roles": ["service"]})
token = call("POST", "/v1/principals/%s/tokens" % app["id"],
             {"name": "bench", "scopes": ["data:read"]})["token"]
open(work + "/ids.txt", "w").write("\n".join(ids) + "\n")
open(work + "/token.txt", "w").write(token)
PY
  local work=$4
  cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $(cat "$work/token.txt")"
local ids = {}
for line in io.lines("$work/ids.txt") do ids[#ids + 1] = line end
request = function()
  return wrk.format("GET", "/v1/collections/people/records/" .. ids[math.random(#ids)])
end
LUA
}

# A fresh vault in a temporary directory, removed (with every server started on it) at exit.
# Sets work, admin (the bootstrap token), port and base (the API's URL).
new_vault() {  # name-prefix
  work=$(mktemp -d "/tmp/$1-XXXXXX")
  pids=()
  trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done; rm -rf "$work"' EXIT
  export STRONGROOM_UNSEAL_PASSPHRASE="benchmark-only passphrase"
  build/release/strongroom init --data-dir "$work/vault" --output json >"$work/init.json" 2>/dev/null
  admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_token"])' "$work/init.json")
  port=$(free_port)
  base=https://127.0.0.1:$port
}

# Serves the vault with `binary` (its log in $work/<log-name>.log) and waits until it is ready;
# sets server_pid. The benchmark-only builds' acknowledgements are set: they start only on
# loopback, which is where this listens. The traffic guard is off unless GUARD_FLAGS says
# otherwise: wrk from one address would be (rightly) throttled and banned; the web application
# firewall is off unless WAF_FLAGS says otherwise. bench/guard.sh measures what both cost.
start_server() {  # binary log-name [flags...]
  local binary=$1 log=$2
  shift 2
  # shellcheck disable=SC2086  # GUARD_FLAGS and WAF_FLAGS are lists of words
  BENCH_AUTH_BYPASS_ACKNOWLEDGED=1 BENCH_AUDIT_OFF_ACKNOWLEDGED=1 "$binary" serve "$@" \
    ${GUARD_FLAGS---guard-enabled false} ${WAF_FLAGS---waf-enabled false} \
    --data-dir "$work/vault" --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$(free_port)" \
    --log-file "$work/$log.log" 2>>"$work/stderr" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 100); do
    curl -sf --cacert "$work/vault/tls/server.crt" "$base/v1/ready" >/dev/null && return
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$work/stderr" >&2; exit 1
}
stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }

# One measured run of record gets ($work/get.lua) against $base: a 1 s warm-up, then
# $DURATION s with $CONNECTIONS connections. Prints "side run req/s p50 p99" (the side's column
# `width` wide), appends req/s to $work/<side>.rps, and stops everything on a non-2xx answer.
measure_gets() {  # side run width
  local side=$1 run=$2 width=$3 rps p50 p99
  wrk -t1 -c"$CONNECTIONS" -d1s -s "$work/get.lua" "$base" >/dev/null 2>&1  # warm the caches
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/get.lua" "$base" \
    >"$work/$side-$run.txt" 2>&1
  if grep -q "Non-2xx" "$work/$side-$run.txt"; then cat "$work/$side-$run.txt" >&2; exit 1; fi
  read -r rps p50 p99 < <(wrk_stats "$work/$side-$run.txt")
  printf "%-${width}s %-4s %10s %8s %8s\n" "$side" "$run" "$rps" "$p50" "$p99"
  echo "$rps" >>"$work/$side.rps"
}
