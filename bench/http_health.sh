#!/usr/bin/env bash
# GET /v1/health over HTTPS: strongroom against nginx, in one run, on this machine.
#
# Both servers: same certificate (the P-256 development one), same TLS policy (TLS 1.2/1.3,
# ECDHE + AEAD suites, X25519/P-256/P-384, no session tickets), same response body and headers,
# 2 worker threads/processes each, access logging on (to a file) as in production. The client is
# the same wrk command for both, run alternately, ROUNDS times each; the median is reported.
#
#   bench/http_health.sh                   # defaults: 64 connections, 10 s, 3 rounds
#   CONNECTIONS=16 DURATION=5 ROUNDS=1 bench/http_health.sh
#   ACCESS_LOG=false bench/http_health.sh  # both servers without per-request log lines
#   THREADS=1 bench/http_health.sh         # one I/O thread / one nginx worker each
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
ACCESS_LOG=${ACCESS_LOG:-true}
THREADS=${THREADS:-2}

scripts/install-deps --bench
cmake --preset release >/dev/null
cmake --build --preset release --target strongroom >/dev/null
bin=$PWD/build/release/strongroom

work=$(mktemp -d /tmp/sr-bench-XXXXXX)
cleanup() {
  [ -n "${sr_pid:-}" ] && kill "$sr_pid" 2>/dev/null && wait "$sr_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A throwaway vault: its passphrase only has to open it for this run.
export STRONGROOM_UNSEAL_PASSPHRASE="benchmark-only passphrase"
"$bin" init --data-dir "$work/vault" --output json >/dev/null 2>&1
sr_port=$(free_port)
metrics_port=$(free_port)
"$bin" serve --data-dir "$work/vault" --listen "127.0.0.1:$sr_port" \
  --metrics-listen "127.0.0.1:$metrics_port" --io-threads $THREADS --log-file "$work/strongroom.log" --log-access-log "$ACCESS_LOG" \
  2>"$work/strongroom.stderr" &
sr_pid=$!

nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<CONF
daemon off;
worker_processes $THREADS;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log $( [ "$ACCESS_LOG" = true ] && echo "$work/nginx/access.log" || echo off );
  client_body_temp_path $work/nginx;
  keepalive_requests 1000000;
  server_tokens off;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $work/vault/tls/server.crt;
    ssl_certificate_key $work/vault/tls/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_prefer_server_ciphers on;
    ssl_session_tickets off;
    location = /v1/health {
      default_type application/json;
      add_header X-Request-Id 0123456789abcdef0123 always;
      add_header Cache-Control no-store always;
      add_header X-Content-Type-Options nosniff always;
      add_header Strict-Transport-Security max-age=31536000 always;
      return 200 '{"status":"ok"}';
    }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx.conf" &

for i in $(seq 1 50); do
  curl -skf "https://127.0.0.1:$sr_port/v1/health" >/dev/null 2>&1 &&
    curl -skf "https://127.0.0.1:$nginx_port/v1/health" >/dev/null 2>&1 && break
  sleep 0.2
done
diff <(curl -sk "https://127.0.0.1:$sr_port/v1/health") <(curl -sk "https://127.0.0.1:$nginx_port/v1/health")

run_wrk() {  # prints requests/s, p50 and p99 latency
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "https://127.0.0.1:$1/v1/health" |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}'
}

declare -a sr_results nginx_results
for round in $(seq 1 "$ROUNDS"); do
  sr_results+=("$(run_wrk "$sr_port")")
  nginx_results+=("$(run_wrk "$nginx_port")")
  echo "round $round: strongroom ${sr_results[-1]} | nginx ${nginx_results[-1]}" >&2
done

median() { printf '%s\n' "$@" | sort -n -k1 | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
read -r sr_rps sr_p50 sr_p99 <<<"$(median "${sr_results[@]}")"
read -r ng_rps ng_p50 ng_p99 <<<"$(median "${nginx_results[@]}")"
ratio=$(awk -v a="$sr_rps" -v b="$ng_rps" 'BEGIN {printf "%.2f", a / b}')

echo
echo "GET /v1/health over HTTPS, wrk -t1 -c$CONNECTIONS -d${DURATION}s, median of $ROUNDS, $(nproc) cores, $THREADS server threads, access log $ACCESS_LOG"
echo "| server | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| strongroom $("$bin" version | cut -d' ' -f2) | $sr_rps | $sr_p50 | $sr_p99 |"
echo "| nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') | $ng_rps | $ng_p50 | $ng_p99 |"
echo "| **ratio** | **$ratio** | | |"
