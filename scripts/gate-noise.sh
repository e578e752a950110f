#!/usr/bin/env bash
# How noisy is a command on this machine, as the regression gate sees it: RUNS back-to-back
# runs saved as baselines, then every earlier run compared with every later one at the
# default noise threshold. Prints the false alarms (regressions between unchanged runs) and
# the largest changes seen, per kind of metric (what the default thresholds are chosen from).
#
# Usage: scripts/gate-noise.sh RUNS COMMAND [ARGS...]     (env: DATABASE_URL, KEY_PREFIX, RESEED)
#   scripts/gate-noise.sh 10 query
#   RESEED=1 scripts/gate-noise.sh 10 reserve --load --seats spread --strategy conditional
# RESEED=1 runs `seed --reset` (untimed) before every run, for commands that spend the data
# (reserve sells seats and spends points, so back-to-back runs would not be alike).
set -euo pipefail
runs=$1; shift
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/concert-bench
dir=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "baselines kept in $dir" >&2 || trap 'rm -rf "$dir"' EXIT
global=(-q --database-url "${DATABASE_URL:-mysql://root@127.0.0.1:3306/concert_bench}" --key-prefix "${KEY_PREFIX:-cb-gate-noise:}")
for i in $(seq 1 "$runs"); do
  [ -n "${RESEED:-}" ] && "$bin" "${global[@]}" seed --reset >/dev/null
  "$bin" "${global[@]}" "$@" --save-baseline "$dir/$i.json" >/dev/null
  echo "run $i saved" >&2
done
for i in $(seq 1 "$runs"); do
  for j in $(seq $((i + 1)) "$runs"); do
    "$bin" -o json compare "$dir/$i.json" "$dir/$j.json" >"$dir/c$i-$j.json" || [ $? -eq 4 ]
  done
done
jq -s --arg command "$*" '{
  command: $command, pairs: length,
  pairs_with_a_regression: map(select(.regressed > 0)) | length,
  false_alarms: [.[] | .old as $o | .new as $n | .metrics[] | select(.verdict == "regressed")
                 | {metric, change_pct, ci95_pct, old: ($o | split("/") | last), new: ($n | split("/") | last)}],
  largest_latency_change_pct: ([.[].metrics[] | select(.unit == "latency_p50_ms") | .change_pct | fabs] | max),
  largest_significant_latency_change_pct: ([.[].metrics[] | select(.unit == "latency_p50_ms" and .ci95_pct != null
      and (.ci95_pct[0] > 0 or .ci95_pct[1] < 0)) | .change_pct | fabs] | max),
  largest_rate_change_pct: ([.[].metrics[] | select(.unit == "rate_per_second") | .change_pct | fabs] | max)
}' "$dir"/c*.json
