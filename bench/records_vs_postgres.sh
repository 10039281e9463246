#!/usr/bin/env bash
# Record create and get over HTTPS (wrk) against PostgreSQL doing the same job (pgbench), in one
# run on this machine: plaintext insert / select by id, and the same with pgcrypto encrypting the
# fields (what a team would do without a vault). Both durable: strongroom acknowledges after its
# fsync; PostgreSQL runs with fsync=on and synchronous_commit=on.
#
# The record: 10 fields (email, name, phone, date, address, national id, string, integer, boolean,
# json), 3 of them searchable (strongroom: blind indexes; PostgreSQL: b-tree indexes on the
# plaintext, or on HMACs of it with pgcrypto). Strongroom is called over TLS with a bearer token;
# pgbench talks plain TCP to PostgreSQL on loopback (its usual deployment). Client and server
# share the machine's 2 cores in both cases.
#
#   bench/records_vs_postgres.sh                         # 16 and 64 connections, 10 s each
#   DURATION=5 CONNECTIONS="16" bench/records_vs_postgres.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-"16 64"}
PRELOAD=2000

scripts/install-deps --bench
cmake --preset release >/dev/null
cmake --build --preset release --target strongroom >/dev/null
bin=$PWD/build/release/strongroom
pgbin=/usr/lib/postgresql/15/bin

work=$(mktemp -d /tmp/sr-rbench-XXXXXX)
chmod 755 "$work"
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  [ -n "${sr_pid:-}" ] && kill "$sr_pid" 2>/dev/null && wait "$sr_pid" 2>/dev/null || true
  [ -d "$work/pg/data" ] && as_postgres "$pgbin/pg_ctl" -D "$work/pg/data" -m fast stop >/dev/null 2>&1 || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- strongroom ------------------------------------------------------------------------------
export STRONGROOM_UNSEAL_PASSPHRASE="benchmark-only passphrase"
"$bin" init --data-dir "$work/vault" --output json >"$work/init.json" 2>/dev/null
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_token"])' "$work/init.json")
sr_port=$(free_port)
# The traffic guard and the web application firewall off, as in bench/lib.sh: wrk from one
# address would (rightly) be throttled and banned; bench/guard.sh measures what both cost.
"$bin" serve --data-dir "$work/vault" --listen "127.0.0.1:$sr_port" \
  --guard-enabled false --waf-enabled false \
  --metrics-listen "127.0.0.1:$(free_port)" --log-file "$work/strongroom.log" 2>"$work/strongroom.stderr" &
sr_pid=$!
base=https://127.0.0.1:$sr_port
for _ in $(seq 100); do
  curl -sf --cacert "$work/vault/tls/server.crt" "$base/v1/ready" >/dev/null && break
  sleep 0.1
done

python3 - "$base" "$work/vault/tls/server.crt" "$token" "$work" "$PRELOAD" <<'PY'
import http.client, json, ssl, sys
base, ca, token, work, preload = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
def call(method, path, body):
    conn.request(method, path, json.dumps(body), {"Authorization": "Bearer " + token,
                                                  "Content-Type": "application/json"})
    r = conn.getresponse(); data = json.loads(r.read())
    assert r.status < 300, data
    return data
classify = lambda grade, category: {"grade": grade, "category": category}
fields = [("email", "email", True), ("full_name", "name", True), ("phone", "phone", True),
          ("birth_date", "date", False), ("address", "address", False),
          ("national_id", "national_id", False), ("employer", "string", False),
          ("visits", "integer", False), ("consent", "boolean", False), ("notes", "json", False)]
call("POST", "/v1/collections", {"name": "people", "fields": [
    {"name": n, "type": t, "indexed": i, "classification": classify("confidential", "identity")}
    for n, t, i in fields]})
# Data calls as an application (role app): an administrator would see the fields masked.
app = call("POST", "/v1/principals", {"username": "bench-app", "kind": "service", "roles": ["app"]})
token = call("POST", "/v1/principals/%s/tokens" % app["id"], {"name": "bench"})["token"]
open(work + "/app_token.txt", "w").write(token)
subject = call("POST", "/v1/subjects", {})["id"]
def record(n):
    return {"subject_id": subject, "fields": {
        "email": "person%d@example.com" % n, "full_name": "Alice Example", "phone": "+44 20 7946 0958",
        "birth_date": "1990-02-28", "address": "1 High Street, Exampleton EX1 2AB",
        "national_id": "AB 12 34 56 C", "employer": "Example Health Ltd", "visits": 12,
        "consent": True, "notes": {"allergies": ["pollen"], "smoker": False}}}
ids = []
for start in range(0, preload, 100):
    result = call("POST", "/v1/collections/people/records/batch",
                  {"records": [record(n) for n in range(start, start + 100)]})
    ids += [r["record"]["id"] for r in result["results"]]
with open(work + "/ids.txt", "w") as f:
    f.write("\n".join(ids) + "\n")
with open(work + "/create_body.json", "w") as f:
    f.write(json.dumps(record(999999)))
PY

cat >"$work/create.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $(cat "$work/app_token.txt")"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/create_body.json"); wrk.body = f:read("*a"); f:close()
LUA
cat >"$work/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $(cat "$work/app_token.txt")"
local ids = {}
for line in io.lines("$work/ids.txt") do ids[#ids + 1] = line end
request = function()
  return wrk.format("GET", "/v1/collections/people/records/" .. ids[math.random(#ids)])
end
LUA

cat >"$work/health.lua" <<LUA
wrk.path = "/v1/health"
request = function() return wrk.format("GET", "/v1/health") end
LUA

# wrk: requests/s, p50, p99 (ms); fails on any non-2xx answer.
run_wrk() {  # script connections -> "rps p50 p99"
  wrk -t2 -c"$2" -d"${DURATION}s" --latency -s "$work/$1.lua" "$base/v1/collections/people/records" \
    >"$work/wrk.txt" 2>&1
  if grep -q "Non-2xx" "$work/wrk.txt"; then cat "$work/wrk.txt" >&2; exit 1; fi
  python3 - "$work/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v, unit): return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = {k: ms(v, u) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", text, re.M)}
print("%.0f %.2f %.2f" % (rps, p["50"], p["99"]))
PY
}

# --- PostgreSQL --------------------------------------------------------------------------------
pg_port=$(free_port)
install -d -o postgres -g postgres "$work/pg"
as_postgres "$pgbin/initdb" -D "$work/pg/data" -A trust -U postgres >/dev/null
as_postgres "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c max_connections=200" >/dev/null
psql_() { as_postgres psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "CREATE DATABASE bench" >/dev/null
psql_ -d bench >/dev/null <<SQL
CREATE EXTENSION pgcrypto;
CREATE TABLE people (id bigserial PRIMARY KEY, subject_id text, email text, full_name text,
  phone text, birth_date date, address text, national_id text, employer text, visits int,
  consent boolean, notes jsonb);
CREATE INDEX ON people (email); CREATE INDEX ON people (full_name); CREATE INDEX ON people (phone);
CREATE TABLE people_enc (id bigserial PRIMARY KEY, subject_id text, email bytea, full_name bytea,
  phone bytea, birth_date bytea, address bytea, national_id bytea, employer bytea, visits bytea,
  consent bytea, notes bytea, email_hmac bytea, full_name_hmac bytea, phone_hmac bytea);
CREATE INDEX ON people_enc (email_hmac); CREATE INDEX ON people_enc (full_name_hmac);
CREATE INDEX ON people_enc (phone_hmac);
SQL
cat >"$work/insert_plain.sql" <<'SQL'
\set n random(1, 100000000)
INSERT INTO people (subject_id, email, full_name, phone, birth_date, address, national_id, employer, visits, consent, notes)
VALUES ('sub_x', 'person' || :n || '@example.com', 'Alice Example', '+442079460958', '1990-02-28',
  '1 High Street, Exampleton EX1 2AB', 'AB123456C', 'Example Health Ltd', 12, true,
  '{"allergies":["pollen"],"smoker": false}');
SQL
cat >"$work/select_plain.sql" <<SQL
\set id random(1, $PRELOAD)
SELECT * FROM people WHERE id = :id;
SQL
cat >"$work/insert_enc.sql" <<'SQL'
\set n random(1, 100000000)
INSERT INTO people_enc (subject_id, email, full_name, phone, birth_date, address, national_id, employer, visits, consent, notes, email_hmac, full_name_hmac, phone_hmac)
VALUES ('sub_x', pgp_sym_encrypt('person' || :n || '@example.com', :key),
  pgp_sym_encrypt('Alice Example', :key), pgp_sym_encrypt('+442079460958', :key),
  pgp_sym_encrypt('1990-02-28', :key), pgp_sym_encrypt('1 High Street, Exampleton EX1 2AB', :key),
  pgp_sym_encrypt('AB123456C', :key), pgp_sym_encrypt('Example Health Ltd', :key),
  pgp_sym_encrypt('12', :key), pgp_sym_encrypt('true', :key),
  pgp_sym_encrypt('{"allergies":["pollen"],"smoker": false}', :key),
  hmac('person' || :n || '@example.com', :key, 'sha256'), hmac('alice example', :key, 'sha256'),
  hmac('+442079460958', :key, 'sha256'));
SQL
cat >"$work/select_enc.sql" <<SQL
\set id random(1, $PRELOAD)
SELECT pgp_sym_decrypt(email, :key), pgp_sym_decrypt(full_name, :key), pgp_sym_decrypt(phone, :key),
  pgp_sym_decrypt(birth_date, :key), pgp_sym_decrypt(address, :key), pgp_sym_decrypt(national_id, :key),
  pgp_sym_decrypt(employer, :key), pgp_sym_decrypt(visits, :key), pgp_sym_decrypt(consent, :key),
  pgp_sym_decrypt(notes, :key) FROM people_enc WHERE id = :id;
SQL
chmod 644 "$work"/*.sql
pg_key=$(head -c 24 /dev/urandom | base64)
# Preload the rows the selects read (the same count as strongroom's).
for table in plain enc; do
  as_postgres "$pgbin/pgbench" -n -M prepared -h 127.0.0.1 -p "$pg_port" -U postgres -D key="$pg_key" \
    -f "$work/insert_$table.sql" -t "$PRELOAD" -c 1 bench >/dev/null
done

run_pgbench() {  # script connections -> "tps p50 p99"
  rm -f "$work"/pg/pglog*
  (cd "$work" && as_postgres "$pgbin/pgbench" -n -M prepared -h 127.0.0.1 -p "$pg_port" -U postgres \
     -D key="$pg_key" -c "$2" -j 2 -T "$DURATION" -f "$work/$1.sql" -l --log-prefix="$work/pg/pglog" bench \
     >"$work/pgbench.txt" 2>&1)
  python3 - "$work/pgbench.txt" "$work" <<'PY'
import glob, re, sys
text = open(sys.argv[1]).read()
found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
if not found:
    sys.exit("pgbench failed:\n" + text)
tps = float(found.group(1))
lat = sorted(int(l.split()[2]) for f in glob.glob(sys.argv[2] + "/pg/pglog*") for l in open(f))
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000.0
print("%.0f %.2f %.2f" % (tps, pick(0.50), pick(0.99)))
PY
}

# --- the table -----------------------------------------------------------------------------------
echo "| operation | connections | strongroom req/s | p50 ms | p99 ms | PostgreSQL plain tps | p50 ms | p99 ms | ratio vs plain | PostgreSQL + pgcrypto tps | p50 ms | p99 ms | ratio vs pgcrypto |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for c in $CONNECTIONS; do
  # The ceiling of our HTTPS stack on this machine: the same wrk, TLS and connection count on an
  # endpoint that does no work at all (no authentication, storage or crypto).
  read -r h_rps h_50 h_99 <<<"$(run_wrk health "$c")"
  python3 -c "print('| GET /v1/health (ceiling) | $c | %.0f | $h_50 | $h_99 | | | | | | | | |' % $h_rps)"
  for op in create get; do
    if [ $op = create ]; then plain=insert_plain; enc=insert_enc; else plain=select_plain; enc=select_enc; fi
    read -r s_rps s_50 s_99 <<<"$(run_wrk $op "$c")"
    read -r p_tps p_50 p_99 <<<"$(run_pgbench $plain "$c")"
    read -r e_tps e_50 e_99 <<<"$(run_pgbench $enc "$c")"
    python3 -c "
s, p, e = $s_rps, $p_tps, $e_tps
print('| record $op | $c | %.0f | $s_50 | $s_99 | %.0f | $p_50 | $p_99 | %.2fx | %.0f | $e_50 | $e_99 | %.2fx |' % (s, p, s / p, e, s / e))"
  done
done
