#!/usr/bin/env bash
# One Redis against the local Redis Cluster (scripts/redis-cluster.sh), same commands, rounds
# alternating so drift hits both alike (figures go in docs/scaling-out.md):
#   1. queue-sim --concerts 30: probe throughput and p99 of enter and position, the
#      redis-benchmark ZADD/ZRANK anchor on the same target, and the queues per master;
#   2. cache-bench "get one concert" over 100 open concerts (response cache, on-write
#      versions): throughput, p99 and the cached keys per master.
# Usage: scripts/bench-cluster.sh   (env: ROUNDS, default 3; BENCH_DATABASE_URL, a scratch
#        database that is seeded with --reset, default cb_cluster_bench on 127.0.0.1:3306)
set -euo pipefail
rounds=${ROUNDS:-3}
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/concert-bench
export DATABASE_URL=${BENCH_DATABASE_URL:-mysql://root@127.0.0.1:3306/cb_cluster_bench}
"$bin" -q seed --reset --open-concerts 100 >/dev/null
single=redis://127.0.0.1:6379
cluster=redis+cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002

for round in $(seq "$rounds"); do
  for target in "$single" "$cluster"; do
    name=single; [[ $target == *cluster* ]] && name=cluster
    "$bin" --redis-url "$target" -o json -q queue-sim --concerts 30 --users 30000 \
      --policy capacity:100 --speed 200 --service 1s..3s --abandon 0 \
      --probe-size 60000 --probe-lookups 120000 --anchor \
      | jq -c --arg t "$name" --arg r "$round" '{round: $r, target: $t, queue: (.results[0] |
          {enter_per_s: (.probe.enter_per_second | round), enter_p99_ms: .probe.enter.p99_ms,
           position_per_s: (.probe.position_per_second | round), position_p99_ms: .probe.position.p99_ms,
           sim_wall_s: .simulation.wall_seconds, admitted, fifo_violations}),
        anchor: [.comparisons[] | select(.what | test("redis-benchmark")) | {what, ratio}],
        masters: [.redis_masters[] | "\(.master)=\(.count)"]}'
    "$bin" --redis-url "$target" -o json -q cache-bench --workload concert_detail \
      --strategy response --invalidation on-write -c 16 --duration 3s --stampede-clients 0 \
      | jq -c --arg t "$name" --arg r "$round" '{round: $r, target: $t, cache: (.results[0] |
          {rps: (.throughput_rps | round), p50_ms: .latency.p50_ms, p99_ms: .latency.p99_ms, hit_ratio, errors}),
        masters: [.redis_masters[] | "\(.master)=\(.count)"]}'
  done
done

# 3. Server CPU per queue operation: a probe alone (60,000 enters, 120,000 lookups over 30
#    queues, no simulation to speak of), with every server's used_cpu_user+sys read before and
#    after (masters and replicas: a replica replays every write).
role_ports() { redis-cli -p 7000 cluster nodes | awk -v role="$1" '$3 ~ role && $3 !~ /fail/ {
  split($2, a, "@"); n = split(a[1], hp, ":"); printf "%s ", hp[n] }'; }
cpu() { for port in "$@"; do redis-cli -p "$port" info cpu; done \
  | awk -F: '/^used_cpu_(user|sys):/ {sum += $2} END {printf "%.3f", sum}'; }
for round in $(seq "$rounds"); do
  for target in "$single" "$cluster"; do
    name=single masters=6379 replicas=""
    if [[ $target == *cluster* ]]; then
      # Roles from the cluster itself: a failover (a test's, or a node restarted by `heal`)
      # leaves masters on other ports than the ones created as masters.
      name=cluster
      masters=$(role_ports master) replicas=$(role_ports slave)
    fi
    # shellcheck disable=SC2086
    m0=$(cpu $masters) r0=$(cpu $replicas)
    ops=$("$bin" --redis-url "$target" -o json -q queue-sim --concerts 30 --users 30 \
      --policy capacity:100 --speed 200 --service 1s..3s --abandon 0 \
      --probe-size 60000 --probe-lookups 120000 \
      | jq '.results[0] | .probe.size + 120000 + .simulation.enter_ops + .simulation.position_ops')
    # shellcheck disable=SC2086
    m1=$(cpu $masters) r1=$(cpu $replicas)
    jq -nc --arg t "$name" --arg r "$round" --argjson ops "$ops" \
      --argjson m "$m0" --argjson m1 "$m1" --argjson rp "$r0" --argjson rp1 "$r1" \
      '{round: $r, target: $t, ops: $ops,
        master_cpu_us_per_op: (($m1 - $m) * 1e6 / $ops * 100 | round / 100),
        replica_cpu_us_per_op: (($rp1 - $rp) * 1e6 / $ops * 100 | round / 100)}'
  done
done
