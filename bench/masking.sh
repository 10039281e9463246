#!/usr/bin/env bash
# What masking costs (issue 6): record gets over HTTPS with every field masked against the same
# gets plain, on one server in one run. The application's account reads plain under the
# built-in policy; the masked side stores a policy that caps its reads at "masked" (a limit
# rule), the plain side stores the built-in text back. Runs alternate (plain, masked, plain,
# ...) and the medians are compared, so drift hits both alike. Target >= 0.9x.
#
# Client and server share the machine's 2 cores.
#
#   bench/masking.sh                               # 64 connections, 10 s a run, 3 runs a side
#   DURATION=5 RUNS=1 CONNECTIONS=16 bench/masking.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNECTIONS=${CONNECTIONS:-64}
PRELOAD=1000

scripts/install-deps --bench
cmake --preset release >/dev/null
cmake --build --preset release --target strongroom >/dev/null

new_vault sr-mbench
start_server build/release/strongroom release
preload_people "$base" "$work/vault/tls/server.crt" "$admin" "$work" "$PRELOAD"

set_policy() {  # plain|masked: stores the built-in policy, or it with every read capped
  python3 - "$base" "$work/vault/tls/server.crt" "$admin" "$1" <<'PY'
import http.client, json, ssl, sys
base, ca, admin, side = sys.argv[1:]
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
def call(method, path, body=None):
    conn.request(method, path, json.dumps(body) if body is not None else None,
                 {"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
    r = conn.getresponse(); data = json.loads(r.read() or b"null")
    assert r.status < 300, (path, data)
    return data
# The document in force without this script's rule: the built-in text.
builtin = call("GET", "/v1/policy")["document"].split("\n[[rule]]\nname = \"bench: ")[0]
if side == "masked":
    builtin += ('\n[[rule]]\nname = "bench: every read masked"\neffect = "limit"\n'
                'roles = ["service"]\nactions = ["read"]\nview = "masked"\n')
call("PUT", "/v1/policy", {"document": builtin})
PY
}

# One record as each side shows it (the check that the sides differ as they should).
show() {
  curl -sf --cacert "$work/vault/tls/server.crt" -H "Authorization: Bearer $(cat "$work/token.txt")" \
    "$base/v1/collections/people/records/$(head -1 "$work/ids.txt")" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(" ", r["fields"], r["views"])'
}

echo "== record gets over HTTPS, $CONNECTIONS connections, ${DURATION}s a run, $RUNS runs a side"
printf "%-7s %-4s %10s %8s %8s\n" side run "req/s" "p50 ms" "p99 ms"
: >"$work/plain.rps"; : >"$work/masked.rps"
for run in $(seq "$RUNS"); do
  for side in plain masked; do
    set_policy "$side"
    [ "$run" = 1 ] && show
    measure_gets "$side" "$run" 7
  done
done
plain=$(median <"$work/plain.rps"); masked=$(median <"$work/masked.rps")
python3 -c "import sys; p, m = float(sys.argv[1]), float(sys.argv[2]); print('median: plain %.0f req/s, masked %.0f req/s: %.2fx (target >= 0.90x)' % (p, m, m / p))" "$plain" "$masked"
