#!/usr/bin/env bash
# What a group costs against one server of the same engine, in the same run, ROUNDS times
# alternating: the week-8 seed (rows/s) and spread reservations (completed/s and p99).
#
#   scripts/bench-group-cost.sh galera|group-replication [ROUNDS] [USERS] [CLIENTS]
#
# Galera is compared with the MariaDB on 127.0.0.1:3306, Group Replication with the MySQL on
# 127.0.0.1:3307 (scripts/mysql.sh). The group must be running (scripts/galera.sh or
# scripts/group-replication.sh). Prints one line per measurement and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${1:?usage: scripts/bench-group-cost.sh galera|group-replication [ROUNDS] [USERS] [CLIENTS]}
rounds=${2:-3}
users=${3:-3000}
clients=${4:-32}
bin=${BIN:-target/release/concert-bench}
[ -x "$bin" ] || { echo "bench-group-cost.sh: no $bin: cargo build --release" >&2; exit 1; }
case $engine in
  galera) group=4306; single=3306 ;;
  group-replication) group=5306; single=3307 ;;
  *) echo "bench-group-cost.sh: engine must be galera or group-replication" >&2; exit 1 ;;
esac
group_url="mysql://root@127.0.0.1:$group,127.0.0.1:$((group + 1)),127.0.0.1:$((group + 2))/cb_cost"
single_url="mysql://root@127.0.0.1:$single/cb_cost"

measure() { # measure NAME URL: one seed and one spread run, one line
  local name=$1 url=$2 seed load
  seed=$("$bin" seed --database-url "$url" --key-prefix cbcost: --users "$users" --reset -q -o json)
  load=$("$bin" reserve --database-url "$url" --key-prefix cbcost: --load --seats spread \
    --users "$users" -c "$clients" --strategy conditional -q -o json)
  python3 - "$name" "$seed" "$load" <<'PY'
import json, sys
name, seed, load = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
r = load["results"][0]
print(f"{name} seed_rows_per_s={seed['rows_per_second']:.0f} completed_per_s={r['throughput_per_second']:.0f} "
      f"p99_ms={r['latency']['p99_ms']:.1f} errors={r['errors']} aborted={r['certification_failures']} violations={len(load['violations'])}")
PY
}

for round in $(seq 1 "$rounds"); do
  s=$(measure single "$single_url")
  g=$(measure "$engine" "$group_url")
  echo "round $round: $s"
  echo "round $round: $g"
  python3 - "$s" "$g" <<'PY'
import sys
def fields(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:])}
s, g = fields(sys.argv[1]), fields(sys.argv[2])
print(f"  ratio group/single: seed {g['seed_rows_per_s'] / s['seed_rows_per_s']:.2f}x, "
      f"reservations {g['completed_per_s'] / s['completed_per_s']:.2f}x, p99 {g['p99_ms'] / s['p99_ms']:.2f}x")
PY
done
