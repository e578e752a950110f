#!/usr/bin/env bash
# A local Redis Cluster for tests, CI and benchmarks: six redis-server processes on 127.0.0.1
# (ports ${CLUSTER_PORT:-7000} to +5), three masters and three replicas, nothing kept on disk.
# The tool reaches it as --redis-url redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002
#
# cluster-node-timeout is 1 s (the default is 15 s) so that a killed master's replica takes
# over within a few seconds: the failover tests wait for that. cluster-replica-validity-factor 0
# lets a replica take over however long ago it last heard from its master (with the default,
# a replica of an idle master refuses: "disconnected from master for longer than allowed").
#
#   scripts/redis-cluster.sh          start (idempotent: a cluster that answers is reused)
#   scripts/redis-cluster.sh stop     stop all six and remove their state
#   scripts/redis-cluster.sh heal     restart any of the six that died (a failover test kills
#                                     one) as a replica again, and wait for cluster_state:ok
set -euo pipefail

base=${CLUSTER_PORT:-7000}
dir=${CLUSTER_DIR:-/tmp/concert-bench-cluster}
ports=$(seq "$base" $((base + 5)))

say() { printf 'redis-cluster.sh: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
answers() { [ "$(cli "$1" ping 2>/dev/null)" = PONG ]; }
state_ok() { cli "$base" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

start_node() { # the node's config file (nodes-PORT.conf) keeps its identity across a restart
  local port=$1
  mkdir -p "$dir/$port"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --dir "$dir/$port" \
    --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 1000 \
    --cluster-replica-validity-factor 0 \
    --save "" --appendonly no --logfile "$dir/$port/redis.log" --pidfile "$dir/$port/redis.pid" \
    >/dev/null || fail "redis-server on port $port did not start (see $dir/$port/redis.log)"
}

# Every replica in sync with its master too: a master killed before its replica's first full
# sync takes its data with it.
replicas_synced() {
  local port role
  for port in $ports; do
    role=$(cli "$port" info replication 2>/dev/null | tr -d '\r')
    grep -q '^role:slave' <<<"$role" || continue
    grep -q '^master_link_status:up' <<<"$role" || return 1
  done
}

wait_ok() {
  for _ in $(seq 1 60); do state_ok && replicas_synced && return 0; sleep 0.5; done
  fail "the cluster on 127.0.0.1:$base did not reach cluster_state:ok within 30 s"
}

case "${1:-start}" in
  stop)
    for port in $ports; do cli "$port" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$dir"
    say "stopped the cluster on ports $base-$((base + 5))"
    ;;
  heal)
    for port in $ports; do
      answers "$port" && continue
      say "restarting the node on $port"
      start_node "$port"
    done
    wait_ok
    ;;
  start)
    command -v redis-server >/dev/null || fail "redis-server is not installed (apt-get install redis-server redis-tools)"
    if state_ok; then
      say "the cluster on 127.0.0.1:$base already answers (cluster_state:ok)"
      exit 0
    fi
    for port in $ports; do
      answers "$port" && cli "$port" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
    for port in $ports; do start_node "$port"; done
    for port in $ports; do
      for _ in $(seq 1 20); do answers "$port" && break; sleep 0.25; done
      answers "$port" || fail "the node on 127.0.0.1:$port does not answer"
    done
    nodes=()
    for port in $ports; do nodes+=("127.0.0.1:$port"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
      fail "redis-cli --cluster create failed (see $dir/create.log)"
    wait_ok
    say "cluster on 127.0.0.1:$base-$((base + 5)): 3 masters, 3 replicas, cluster_state:ok"
    ;;
  *) fail "unknown command ${1}: expected start, stop or heal" ;;
esac
