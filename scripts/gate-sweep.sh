#!/usr/bin/env bash
# The smallest regression the gate catches: RUNS runs of a command without a slowdown saved as
# baselines, then RUNS runs with each injected delay (microseconds added to every measured
# operation, src/slowdown.rs), each compared with every baseline at the default thresholds.
# A delay is caught reliably when every one of its RUNS x RUNS comparisons reports a regression.
#
# Usage: scripts/gate-sweep.sh RUNS "DELAY_US..." COMMAND [ARGS...]   (env: DATABASE_URL, KEY_PREFIX, RESEED)
# RESEED=1 runs `seed --reset` (untimed, no delay) before every run, as in gate-noise.sh.
#   scripts/gate-sweep.sh 3 "10 20 50 100" query
#   scripts/gate-sweep.sh 3 "50 100 200 500" queue-sim
set -euo pipefail
runs=$1; delays=$2; shift 2
cd "$(dirname "$0")/.."
# The switch exists only in a build with the test-only feature; kept apart from the release binary.
# Its own target directory, so the normal release build is never replaced by this one.
CARGO_TARGET_DIR=target/inject-delay cargo build --release --locked -q --features inject-delay
bin=target/inject-delay/release/concert-bench
dir=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "runs kept in $dir" >&2 || trap 'rm -rf "$dir"' EXIT
global=(-q --database-url "${DATABASE_URL:-mysql://root@127.0.0.1:3306/concert_bench}" --key-prefix "${KEY_PREFIX:-cb-gate-sweep:}")
for delay in 0 $delays; do
  for i in $(seq 1 "$runs"); do
    [ -n "${RESEED:-}" ] && "$bin" "${global[@]}" seed --reset >/dev/null
    CONCERT_BENCH_INJECT_DELAY_US=$delay "$bin" "${global[@]}" "$@" --save-baseline "$dir/d$delay-$i.json" >/dev/null
    echo "delay $delay us: run $i saved" >&2
  done
done
for delay in $delays; do
  for i in $(seq 1 "$runs"); do
    for j in $(seq 1 "$runs"); do
      "$bin" -o json compare "$dir/d0-$i.json" "$dir/d$delay-$j.json" >"$dir/c$delay-$i-$j.json" || [ $? -eq 4 ]
    done
  done
  jq -s --arg delay "$delay" '{
    delay_us: ($delay | tonumber), pairs: length,
    pairs_with_a_regression: map(select(.regressed > 0)) | length,
    regressed_metrics: ([.[].metrics[] | select(.verdict == "regressed") | .metric] | group_by(.) | map({metric: .[0], pairs: length})),
    largest_change_pct: ([.[].metrics[] | {metric, change_pct}] | group_by(.metric)
      | map({metric: .[0].metric, median_change_pct: (map(.change_pct) | sort | .[length / 2 | floor])})
      | sort_by(-(.median_change_pct | fabs)) | .[0:3])
  }' "$dir"/c"$delay"-*.json
done
