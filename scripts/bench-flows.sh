#!/usr/bin/env bash
# The cost of the services split: the same spread load through the single-transaction path
# (`--flow direct`, conditional holds) and through the four services and their events
# (`--flow events`, relay and consumers in the same process), alternating, each run on a fresh
# seed so neither flow finds wallets the other emptied. Prints every run, then the medians
# and their ratio. The scratch database (DB) and its Redis keys are dropped afterwards.
# Usage: scripts/bench-flows.sh [RUNS] [CLIENTS] [USERS]     (env: HOST, PORT, DB)
set -euo pipefail
runs=${1:-3}
clients=${2:-64}
users=${3:-5000}
host=${HOST:-127.0.0.1}
port=${PORT:-3306}
db=${DB:-concert_bench_flows}
prefix="cb-flows-$$:"
url="mysql://root@$host:$port/$db"
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/concert-bench
cleanup() {
  mariadb -h "$host" -P "$port" -u root -e "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
  redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli unlink >/dev/null || true
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

: >/tmp/cb-flows-direct.$$; : >/tmp/cb-flows-events.$$
for run in $(seq "$runs"); do
  for flow in direct events; do
    "$bin" -q --database-url "$url" --key-prefix "$prefix" seed --reset --users "$users" >/dev/null
    out=$("$bin" -o json -q --database-url "$url" --key-prefix "$prefix" reserve --load \
      --seats spread --strategy conditional --flow "$flow" --users "$users" -c "$clients")
    jq -e '([.audit[]] | add) == 0' <<<"$out" >/dev/null
    echo "run $run $flow: $(jq -c '.results[0] | {succeeded, refused, errors, throughput_per_second, p50_ms: .latency.p50_ms, e2e_p99_ms: .e2e.p99_ms}' <<<"$out") $(jq -c '.events // {} | {lag_p50_ms: .lag.p50_ms, lag_p99_ms: .lag.p99_ms}' <<<"$out")"
    jq '.results[0].throughput_per_second' <<<"$out" >>"/tmp/cb-flows-$flow.$$"
  done
done
direct=$(median <"/tmp/cb-flows-direct.$$")
events=$(median <"/tmp/cb-flows-events.$$")
rm -f "/tmp/cb-flows-direct.$$" "/tmp/cb-flows-events.$$"
printf 'median completed/s: direct %.0f, events %.0f; events/direct = %.2f\n' "$direct" "$events" "$(echo "$events / $direct" | bc -l)"
