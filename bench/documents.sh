#!/usr/bin/env bash
# Document upload and download over HTTPS: strongroom against nginx, in one run, on this machine.
#
# A 64 MiB random file (the default document limit), sent and fetched with curl over the same TLS
# policy and certificate. Strongroom encrypts it in 64 KiB chunks and acknowledges the upload only
# once every chunk and the manifest are fsync'ed; nginx (WebDAV PUT, static GET) writes a plain
# file without fsync. So nginx is the ceiling for moving bytes through TLS to disk and back.
# ROUNDS of each, alternately; the median is reported in MiB/s.
#
#   bench/documents.sh              # 3 rounds of 64 MiB
#   ROUNDS=1 SIZE_MIB=16 bench/documents.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SIZE_MIB=${SIZE_MIB:-64}

scripts/install-deps --bench
cmake --preset release >/dev/null
cmake --build --preset release --target strongroom >/dev/null
bin=$PWD/build/release/strongroom

work=$(mktemp -d /tmp/sr-dbench-XXXXXX)
cleanup() {
  [ -n "${sr_pid:-}" ] && kill "$sr_pid" 2>/dev/null && wait "$sr_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export STRONGROOM_UNSEAL_PASSPHRASE="benchmark-only passphrase"
"$bin" init --data-dir "$work/vault" --output json >"$work/init.json" 2>/dev/null
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_token"])' "$work/init.json")
sr_port=$(free_port)
"$bin" serve --data-dir "$work/vault" --listen "127.0.0.1:$sr_port" \
  --metrics-listen "127.0.0.1:$(free_port)" --limits-max-document-bytes $((SIZE_MIB << 20)) \
  --log-file "$work/strongroom.log" 2>"$work/strongroom.stderr" &
sr_pid=$!

nginx_port=$(free_port)
mkdir -p "$work/nginx" "$work/www"
chmod 755 "$work"
chmod 777 "$work/www"  # nginx workers run as www-data when started by root
cat >"$work/nginx.conf" <<CONF
daemon off;
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx;
  client_max_body_size $((SIZE_MIB + 1))m;
  server_tokens off;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/vault/tls/server.crt;
    ssl_certificate_key $work/vault/tls/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets off;
    root $work/www;
    location / { dav_methods PUT; create_full_put_path on; }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx.conf" &

ca=(--cacert "$work/vault/tls/server.crt")
for _ in $(seq 1 100); do
  curl -sf "${ca[@]}" "https://127.0.0.1:$sr_port/v1/ready" >/dev/null 2>&1 &&
    curl -s "${ca[@]}" "https://127.0.0.1:$nginx_port/" >/dev/null 2>&1 && break
  sleep 0.1
done
# Documents are an application's to read (role app): administrators may not download them.
token=$(python3 - "https://127.0.0.1:$sr_port" "$work/vault/tls/server.crt" "$token" <<'PY'
import http.client, json, ssl, sys
base, ca, admin = sys.argv[1:4]
host, port = base.split("//")[1].split(":")
conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
def call(path, body):
    conn.request("POST", path, json.dumps(body), {"Authorization": "Bearer " + admin,
                                                  "Content-Type": "application/json"})
    r = conn.getresponse(); data = json.loads(r.read())
    assert r.status < 300, data
    return data
app = call("/v1/principals", {"username": "bench-app", "kind": "service", "roles": ["app"]})
print(call("/v1/principals/%s/tokens" % app["id"], {"name": "bench"})["token"])
PY
)
auth=(-H "Authorization: Bearer $token")
subject=$(curl -sf "${ca[@]}" "${auth[@]}" -H 'Content-Type: application/json' -d '{}' \
  "https://127.0.0.1:$sr_port/v1/subjects" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
head -c $((SIZE_MIB << 20)) /dev/urandom >"$work/file.bin"
expected=$(sha256sum "$work/file.bin" | cut -d' ' -f1)

mibps() { awk -v s="$SIZE_MIB" -v t="$1" 'BEGIN {printf "%.0f", s / t}'; }
declare -a sr_up sr_down ng_up ng_down
for round in $(seq 1 "$ROUNDS"); do
  out=$(curl -sf "${ca[@]}" "${auth[@]}" -H 'Content-Type: application/octet-stream' \
    --data-binary @"$work/file.bin" -w '\n%{time_total}' "https://127.0.0.1:$sr_port/v1/subjects/$subject/documents")
  doc=$(head -1 <<<"$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["id"], d["sha256"])')
  [ "${doc#* }" = "$expected" ] || { echo "strongroom stored a different digest" >&2; exit 1; }
  sr_up+=("$(mibps "$(tail -1 <<<"$out")")")
  t=$(curl -sf "${ca[@]}" "${auth[@]}" -o "$work/back.bin" -w '%{time_total}' \
    "https://127.0.0.1:$sr_port/v1/subjects/$subject/documents/${doc%% *}")
  [ "$(sha256sum "$work/back.bin" | cut -d' ' -f1)" = "$expected" ] || { echo "strongroom returned other bytes" >&2; exit 1; }
  sr_down+=("$(mibps "$t")")
  t=$(curl -sf "${ca[@]}" -T "$work/file.bin" -w '%{time_total}' -o /dev/null "https://127.0.0.1:$nginx_port/f$round.bin")
  ng_up+=("$(mibps "$t")")
  t=$(curl -sf "${ca[@]}" -o "$work/back.bin" -w '%{time_total}' "https://127.0.0.1:$nginx_port/f$round.bin")
  [ "$(sha256sum "$work/back.bin" | cut -d' ' -f1)" = "$expected" ] || { echo "nginx returned other bytes" >&2; exit 1; }
  ng_down+=("$(mibps "$t")")
  echo "round $round: strongroom up ${sr_up[-1]} down ${sr_down[-1]} | nginx up ${ng_up[-1]} down ${ng_down[-1]} MiB/s" >&2
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
su=$(median "${sr_up[@]}"); sd=$(median "${sr_down[@]}")
nu=$(median "${ng_up[@]}"); nd=$(median "${ng_down[@]}")
echo
echo "$SIZE_MIB MiB document over HTTPS (curl), median of $ROUNDS, $(nproc) cores"
echo "| direction | strongroom MiB/s | nginx MiB/s | ratio |"
echo "|---|---|---|---|"
echo "| upload (strongroom: encrypted, fsync'ed; nginx: WebDAV PUT, no fsync) | $su | $nu | $(ratio "$su" "$nu") |"
echo "| download (strongroom: decrypted, each chunk authenticated; nginx: static file) | $sd | $nd | $(ratio "$sd" "$nd") |"
