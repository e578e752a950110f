#!/usr/bin/env bash
# Kills a group member in the middle of `reserve --load`, RUNS times, and prints one line per
# run: what the users saw (the longest gap without a completion, steps retried on another
# member, errors) and what the database kept (acknowledged reservations lost, the audit).
#
#   scripts/bench-failover.sh galera|group-replication [RUNS] [FLOW] [USERS] [CLIENTS]
#
# Each run seeds afresh, starts the load (spread seats, the STRATEGY environment variable's
# strategy, conditional by default, FLOW direct or events), kills a member 2 s in (on Group Replication the primary, on Galera node 1), waits
# for the run to end, then brings the member back (scripts/<engine>.sh rejoin). The group must
# be running: scripts/galera.sh or scripts/group-replication.sh (single-primary).
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${1:?usage: scripts/bench-failover.sh galera|group-replication [RUNS] [FLOW] [USERS] [CLIENTS]}
runs=${2:-5}
flow=${3:-direct}
users=${4:-3000}
clients=${5:-32}
strategy=${STRATEGY:-conditional}
bin=${BIN:-target/release/concert-bench}
[ -x "$bin" ] || { echo "bench-failover.sh: no $bin: cargo build --release" >&2; exit 1; }

case $engine in
  galera) script=scripts/galera.sh; base=${GALERA_PORT:-4306} ;;
  group-replication) script=scripts/group-replication.sh; base=${GR_PORT:-5306} ;;
  *) echo "bench-failover.sh: engine must be galera or group-replication" >&2; exit 1 ;;
esac
url="mysql://root@127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))/cb_failover"
prefix=cbfail:

victim() { # the member to kill: Group Replication's primary, Galera's second node
  if [ "$engine" = galera ]; then echo 1; return; fi
  local port
  port=$(mariadb -h 127.0.0.1 -P "$base" -u root -N -B -e "SELECT MEMBER_PORT FROM performance_schema.replication_group_members WHERE MEMBER_ROLE = 'PRIMARY'" 2>/dev/null ||
    mariadb -h 127.0.0.1 -P $((base + 1)) -u root -N -B -e "SELECT MEMBER_PORT FROM performance_schema.replication_group_members WHERE MEMBER_ROLE = 'PRIMARY'")
  echo $((port - base))
}

for run in $(seq 1 "$runs"); do
  "$bin" seed --database-url "$url" --key-prefix "$prefix" --users "$users" --reset -q -o json >/dev/null
  member=$(victim)
  out=$(mktemp)
  "$bin" reserve --database-url "$url" --key-prefix "$prefix" --load --seats spread \
    --users "$users" -c "$clients" --strategy "$strategy" --flow "$flow" -q -o json >"$out" 2>/dev/null &
  load=$!
  sleep 2
  bash "$script" kill "$member" 2>/dev/null
  rc=0; wait "$load" || rc=$?
  python3 - "$out" "$run" "$engine" "$member" "$rc" "$flow" "$strategy" <<'PY'
import json, sys
out, run, engine, member, rc, flow, strategy = sys.argv[1:]
d = json.load(open(out))
r = d["results"][0]
print(f"{engine} {flow} {strategy} run {run}: member {member} killed; exit {rc}; {r['attempts']} attempts, "
      f"{r['succeeded']} done, {r['errors']} errors, {r['member_lost_retries']} steps retried elsewhere, "
      f"longest gap {r['longest_gap_seconds']:.1f} s of {r['seconds']:.1f} s, "
      f"acknowledged lost {r['acknowledged_lost']}, audit violations {len(d['violations'])}"
      + (f"; first error: {r['first_error']}" if r['first_error'] else ""))
PY
  rm -f "$out"
  bash "$script" rejoin "$member" 2>/dev/null
done
