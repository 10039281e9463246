#!/usr/bin/env bash
# What the traffic guard costs (issue 7), in two parts, each on one vault in one run:
#  1. Rate limiting: record gets over HTTPS with the guard on (every check made, limits far
#     above the load) against the same gets with it off. The guard is switched by rewriting
#     the configuration file and sending SIGHUP (a reload, not a restart). Target >= 0.95x.
#  2. The web application firewall (ModSecurity + OWASP CRS): the same gets with it on against
#     off (guard off both times). Turning it on takes a restart, so the server is restarted
#     between runs. Reported as the ratio and the cost per request.
#  Part 1 has a third side, "shared": the guard on with its limits shared through Redis (a
#  local redis-server, exchanges every 200 ms, the default), switched by SIGHUP like the rest.
# Runs alternate (off, on, off, ...) so drift hits both sides alike; the medians are compared.
#
# Client and server share the machine's 2 cores.
#
#   bench/guard.sh                               # 64 connections, 10 s a run, 3 runs a side
#   DURATION=5 RUNS=1 CONNECTIONS=16 bench/guard.sh
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

new_vault sr-gbench
redis_port=$(free_port)
printf 'bind 127.0.0.1\nport %s\nsave ""\nappendonly no\ndir %s\n' "$redis_port" "$work" \
  >"$work/redis.conf"
redis-server "$work/redis.conf" >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  [ "$(redis-cli -h 127.0.0.1 -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
  sleep 0.05
done
( umask 077 && openssl rand -hex 32 >"$work/shared.key" )
write_config() {  # off|on|shared
  cat >"$work/guard.toml" <<TOML
[guard]
enabled = $([ "$1" = off ] && echo false || echo true)
$([ "$1" = shared ] && printf 'redis_address = "127.0.0.1:%s"\nshared_key_file = "%s"' \
  "$redis_port" "$work/shared.key")
source_read_per_second = 1000000
source_read_burst = 1000000
source_write_per_second = 1000000
source_write_burst = 1000000
principal_per_second = 1000000
principal_burst = 1000000
tenant_per_second = 10000000
tenant_burst = 10000000
max_connections_per_source = 0
TOML
}
write_config on
GUARD_FLAGS="" start_server build/release/strongroom release --config "$work/guard.toml"
preload_people "$base" "$work/vault/tls/server.crt" "$admin" "$work" "$PRELOAD"

switch() {  # off|on|shared: rewrite, SIGHUP, wait for the reload to be logged
  local before
  before=$(grep -c '"guard.reconfigured"' "$work/release.log" || true)
  write_config "$1"
  kill -HUP "$server_pid"
  for _ in $(seq 100); do
    [ "$(grep -c '"guard.reconfigured"' "$work/release.log" || true)" -gt "$before" ] && return
    sleep 0.05
  done
  echo "the server did not reload" >&2; exit 1
}

echo "== record gets over HTTPS, $CONNECTIONS connections, ${DURATION}s a run, $RUNS runs a side"
printf "%-6s %-4s %10s %8s %8s\n" guard run "req/s" "p50 ms" "p99 ms"
: >"$work/off.rps"; : >"$work/on.rps"; : >"$work/shared.rps"
for run in $(seq "$RUNS"); do
  for side in off on shared; do
    shared_up=$(grep -c '"guard.shared_limits_connected"' "$work/release.log" || true)
    switch "$side"
    if [ "$side" = shared ]; then  # this reload's connection, before measuring
      for _ in $(seq 100); do
        [ "$(grep -c '"guard.shared_limits_connected"' "$work/release.log" || true)" -gt \
          "$shared_up" ] && break
        sleep 0.05
      done
      [ "$(grep -c '"guard.shared_limits_connected"' "$work/release.log" || true)" -gt \
        "$shared_up" ] || { echo "the server did not connect to Redis" >&2; exit 1; }
    fi
    measure_gets "$side" "$run" 6
  done
done
off=$(median <"$work/off.rps"); on=$(median <"$work/on.rps"); shared=$(median <"$work/shared.rps")
python3 -c "import sys; f, n = float(sys.argv[1]), float(sys.argv[2]); print('median: guard off %.0f req/s, on %.0f req/s: %.3fx (target >= 0.95x); %.2f us more per request' % (f, n, n / f, (1e6 / n - 1e6 / f)))" "$off" "$on"
python3 -c "import sys; f, n = float(sys.argv[1]), float(sys.argv[2]); print('median: guard off %.0f req/s, on with shared limits %.0f req/s: %.3fx' % (f, n, n / f))" "$off" "$shared"
grep -q '"guard.shared_limits_unavailable"' "$work/release.log" &&
  { echo "Redis was unreachable during the shared runs" >&2; exit 1; }

# Part 2: the web application firewall, on and off across restarts (the guard off).
stop
echo "== the same gets, web application firewall off and on (restarted between runs)"
printf "%-7s %-4s %10s %8s %8s\n" waf run "req/s" "p50 ms" "p99 ms"
: >"$work/waf-off.rps"; : >"$work/waf-on.rps"
for run in $(seq "$RUNS"); do
  for side in off on; do
    WAF_FLAGS="--waf-enabled $([ "$side" = on ] && echo true || echo false)" \
      start_server build/release/strongroom "waf-$side-$run"
    measure_gets "waf-$side" "$run" 7
    stop
  done
done
off=$(median <"$work/waf-off.rps"); on=$(median <"$work/waf-on.rps")
python3 -c "import sys; f, n = float(sys.argv[1]), float(sys.argv[2]); print('median: waf off %.0f req/s, on %.0f req/s: %.3fx; %.1f us more per request (2 cores, client included)' % (f, n, n / f, (1e6 / n - 1e6 / f)))" "$off" "$on"
