#!/usr/bin/env bash
# Seed throughput against its anchor, side by side in one run on the same data:
#   anchor = the server's own bulk path, LOAD DATA LOCAL INFILE through the mariadb client,
#            of the very rows `seed` loads (written by `seed --tsv-dir`), into the same tables;
#   tool   = `concert-bench seed --reset`.
# Both are repeated (ROUNDS, alternating) and the medians compared. CHECKSUM TABLE proves
# both paths loaded identical rows.
#
# Usage: scripts/bench-seed.sh [SCALE] [ROUNDS]     (env: HOST, PORT, DB, SEED_ARGS)
set -euo pipefail
scale=${1:-1}
rounds=${2:-5}
host=${HOST:-127.0.0.1}
port=${PORT:-3306}
db=${DB:-concert_bench_anchor}
url="mysql://root@$host:$port/$db"
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/concert-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sql() { mariadb -h "$host" -P "$port" -u root --local-infile=1 "$@"; }

"$bin" -q seed --scale "$scale" ${SEED_ARGS:-} --tsv-dir "$out" >/dev/null
tables="concert performance users point_wallet point_ledger reservation payment seat"
checksum() { sql -N "$db" -e "CHECKSUM TABLE $(echo $tables | sed 's/ /, /g')" | awk '{print $2}' | paste -sd' '; }

anchor_runs=(); tool_runs=(); whole_runs=(); total_rows=0
for round in $(seq 1 "$rounds"); do
  # Tool: a fresh schema each round; its own timer (load phase, schema DDL excluded), and the
  # whole process (start, reset, schema, load, exit) timed from outside.
  start=$(date +%s.%N)
  json=$("$bin" -q -o json --database-url "$url" seed --reset --scale "$scale" ${SEED_ARGS:-})
  end=$(date +%s.%N)
  tool_runs+=("$(jq -r .seconds <<<"$json")")
  whole_runs+=("$(echo "$end - $start" | bc -l)")
  total_rows=$(jq -r .total_rows <<<"$json")
  tool_sum=$(checksum)
  # Anchor: same empty tables, LOAD DATA of the same rows; timed around the client.
  sql "$db" -e "$(for t in $tables; do echo "TRUNCATE TABLE $t;"; done)"
  start=$(date +%s.%N)
  sql "$db" < "$out/load.sql"
  end=$(date +%s.%N)
  anchor_runs+=("$(echo "$end - $start" | bc -l)")
  anchor_sum=$(checksum)
  [ "$tool_sum" = "$anchor_sum" ] || { echo "checksums differ: tool [$tool_sum] anchor [$anchor_sum]" >&2; exit 1; }
  echo "round $round: tool ${tool_runs[-1]} s (whole process ${whole_runs[-1]} s), anchor ${anchor_runs[-1]} s" >&2
done
sql -e "DROP DATABASE IF EXISTS $db"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
tool_s=$(median "${tool_runs[@]}"); anchor_s=$(median "${anchor_runs[@]}"); whole_s=$(median "${whole_runs[@]}")
jq -n --argjson scale "$scale" --argjson rows "$total_rows" --argjson rounds "$rounds" \
  --argjson tool "$tool_s" --argjson anchor "$anchor_s" --argjson whole "$whole_s" \
  --arg tool_runs "${tool_runs[*]}" --arg anchor_runs "${anchor_runs[*]}" --arg whole_runs "${whole_runs[*]}" '{
    scale: $scale, rows: $rows, rounds: $rounds,
    tool_seconds_median: $tool, whole_process_seconds_median: $whole, anchor_seconds_median: $anchor,
    tool_rows_per_second: ($rows / $tool), anchor_rows_per_second: ($rows / $anchor),
    ratio: ($anchor / $tool),
    ratio_whole_process: ($anchor / $whole),
    ratios_whole_process_per_round: ([($anchor_runs | split(" ") | map(tonumber)), ($whole_runs | split(" ") | map(tonumber))] | transpose | map(.[0] / .[1])),
    tool_runs: ($tool_runs | split(" ") | map(tonumber)),
    whole_process_runs: ($whole_runs | split(" ") | map(tonumber)),
    anchor_runs: ($anchor_runs | split(" ") | map(tonumber)),
    identical_checksums: true }'
