#!/usr/bin/env bash
# The queue's performance claims, each measured in one run (figures go in docs/results.md):
#   1. enter/position throughput at saturation vs redis-benchmark ZADD/ZRANK, same clients;
#   2. a position lookup with 1M waiting vs 1k waiting (at -c 1: one lookup's latency, and at
#      -c 50: saturated throughput);
#   3. the Redis queue vs the database queue on the same probe and simulation;
#   4. a 1,000,000-user simulation, timed.
# Usage: scripts/bench-queue.sh            (env: CLIENTS, default 50; DATABASE_URL for 3)
set -euo pipefail
clients=${CLIENTS:-50}
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/concert-bench
sim() { "$bin" -o json -q queue-sim "$@"; }

echo "1. anchor (probe of 200,000 users and lookups, -c $clients)"
sim -c "$clients" --users 100 --probe-size 200000 --probe-lookups 200000 --anchor \
  | jq -c '[.comparisons[] | {what, ratio}]'

echo "2. position lookup: 1k vs 1M waiting"
for c in 1 "$clients"; do
  for size in 1000 1000000; do
    sim -c "$c" --users 100 --probe-size "$size" --probe-lookups 100000 \
      | jq -c --arg c "$c" '.results[0].probe | {clients: $c, size, position_per_second, p50_ms: .position.p50_ms, p99_ms: .position.p99_ms}'
  done
done

echo "3. redis vs database (needs a seeded database; exit code 3 if a check failed)"
{ sim -c "$clients" --backend both --users 2000 --probe-size 5000 --probe-lookups 20000 || true; } \
  | jq -c '{comparisons: [.comparisons[] | {what, ratio}], sims: [.results[] | {backend, wall: .simulation.wall_seconds, wait_p50_ms: .wait.p50_ms, max_active, fifo_violations}]}'

echo "4. 1,000,000 users"
/usr/bin/time -f "wall %e s, max RSS %M KB" "$bin" -o json -q queue-sim --users 1000000 \
  --policy rate:50000/1s --service 1s..3s --abandon 0 --speed 2 --probe-size 0 \
  | jq -c '.results[0] | {admitted, fifo_violations, admitted_still_waiting, max_admitted_per_period, wait, eta_error_pct, memory_bytes, wall: .simulation.wall_seconds}'
