#!/usr/bin/env bash
# What a group costs against one server of the same engine, in the same run, ROUNDS times
# alternating: the week-8 seed (rows/s), spread reservations (completed/s and p99), and the
# six week-8 queries (client p50 and p99 under the week8 indexes, 100 runs each), on the
# group's primary and on a secondary (--read-from replicas).
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

# The week8 variant's client p50 and p99 of each scenario of a `query -o json` on stdin.
read -r -d '' query_fields <<'PY' || true
import json, sys
doc = json.load(sys.stdin)
print(" ".join(f"{r['scenario']}_p50={r['client']['p50_ms']:.3f} {r['scenario']}_p99={r['client']['p99_ms']:.3f}"
               for r in doc["results"] if r["variant"] == "week8"))
PY

query() { # query URL [FLAGS]: the six queries, week8 variant, as scenario_p50=ms scenario_p99=ms
  local url=$1; shift
  "$bin" query --database-url "$url" --key-prefix cbcost: --iterations 100 --server-runs 0 "$@" -q -o json |
    python3 -c "$query_fields"
}

measure() { # measure NAME URL: one seed, one spread run and the queries, one line
  local name=$1 url=$2 seed load queries
  seed=$("$bin" seed --database-url "$url" --key-prefix cbcost: --users "$users" --reset -q -o json)
  load=$("$bin" reserve --database-url "$url" --key-prefix cbcost: --load --seats spread \
    --users "$users" -c "$clients" --strategy conditional -q -o json)
  queries=$(query "$url")
  python3 - "$name" "$seed" "$load" <<'PY'
import json, sys
name, seed, load = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
r = load["results"][0]
print(f"{name} seed_rows_per_s={seed['rows_per_second']:.0f} completed_per_s={r['throughput_per_second']:.0f} "
      f"p99_ms={r['latency']['p99_ms']:.1f} errors={r['errors']} aborted={r['certification_failures']} violations={len(load['violations'])}", end=" ")
PY
  echo "$queries"
  if [ "$name" != single ]; then
    echo "$name-replica $(query "$url" --read-from replicas)"
  fi
}

for round in $(seq 1 "$rounds"); do
  s=$(measure single "$single_url")
  g=$(measure "$engine" "$group_url")
  echo "round $round: $s"
  echo "round $round: $g" | sed "2s/^/round $round: /"
  python3 - "$s" "$g" <<'PY'
import sys
def fields(line):
    return {k: float(v) for k, v in (f.split("=") for f in line.split()[1:] if "=" in f)}
s = fields(sys.argv[1])
primary, replica = (fields(line) for line in sys.argv[2].splitlines())
print(f"  ratio group/single: seed {primary['seed_rows_per_s'] / s['seed_rows_per_s']:.2f}x, "
      f"reservations {primary['completed_per_s'] / s['completed_per_s']:.2f}x, p99 {primary['p99_ms'] / s['p99_ms']:.2f}x")
for where, g in (("primary", primary), ("secondary", replica)):
    ratios = [f"{k[:-4]} {g[k] / s[k]:.2f}x/{g[k[:-4] + '_p99'] / s[k[:-4] + '_p99']:.2f}x"
              for k in s if k.endswith("_p50")]
    print(f"  queries on the group's {where} / single, p50/p99: " + ", ".join(ratios))
PY
done
