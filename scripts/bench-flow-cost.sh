#!/usr/bin/env bash
# Where a flow's time goes: the same spread load as scripts/bench-flows.sh (conditional, fresh
# seed per run), RUNS runs of each flow alternating, and per completed reservation the CPU of
# each process (mariadbd and redis-server from /proc/PID/stat, the tool from /usr/bin/time),
# the statements the server ran (Questions, Com_commit) and the Redis commands. With
# STATEMENTS=1, one more run per flow under the server's general log (it slows the run, so
# its rate is not reported), the statements counted by kind; the log settings are put back.
# Needs the servers on this machine (it reads their /proc).
#
#   scripts/bench-flow-cost.sh [RUNS] [CLIENTS] [USERS]     (env: PORT, DB, STATEMENTS)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-2}
clients=${2:-64}
users=${3:-5000}
port=${PORT:-3306}
db=${DB:-concert_bench_flow_cost}
prefix="cb-flow-cost-$$:"
url="mysql://root@127.0.0.1:$port/$db"
bin=${BIN:-target/release/concert-bench}
[ -x "$bin" ] || { echo "bench-flow-cost.sh: no $bin: cargo build --release" >&2; exit 1; }
sql() { mariadb -h 127.0.0.1 -P "$port" -u root -N -e "$1"; }
listener() { ss -ltnpH "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
server=$(listener "$port")
redis=$(listener 6379)
[ -n "$server" ] && [ -n "$redis" ] || { echo "bench-flow-cost.sh: no local server on $port or Redis on 6379" >&2; exit 1; }
log_was=$(sql "SELECT CONCAT_WS(' ', @@general_log, @@general_log_file, @@log_output)")
cleanup() {
  read -r on file output <<<"$log_was"
  sql "SET GLOBAL general_log = 0; SET GLOBAL general_log_file = '$file'; SET GLOBAL log_output = '$output'; SET GLOBAL general_log = $on" || true
  sql "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
  redis-cli --scan --pattern "$prefix*" | xargs -r redis-cli unlink >/dev/null || true
  rm -f "/tmp/cb-flow-cost.$$".*
}
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status() { sql "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_commit', 'Questions')" | awk '{printf "%s ", $2}'; }
redis_commands() { redis-cli info stats | awk -F: '/^total_commands_processed/ {print $2 + 0}'; }
seed() { "$bin" -q --database-url "$url" --key-prefix "$prefix" seed --reset --users "$users" >/dev/null; }
# load FLOW [WRAPPER...]: the timed run, optionally under a wrapper such as /usr/bin/time.
load() {
  local flow=$1
  shift
  "$@" "$bin" -o json -q --database-url "$url" --key-prefix "$prefix" reserve --load --seats spread \
    --strategy conditional --flow "$flow" --users "$users" -c "$clients"
}

echo "per 1,000 completed reservations: CPU seconds by process; per reservation: statements, commits, Redis commands"
for run in $(seq "$runs"); do
  for flow in direct events; do
    seed
    before=($(status)); r0=$(redis_commands); s0=$(ticks "$server"); k0=$(ticks "$redis")
    out=$(load "$flow" /usr/bin/time -f '%U %S' -o "/tmp/cb-flow-cost.$$.time")
    s1=$(ticks "$server"); k1=$(ticks "$redis"); after=($(status)); r1=$(redis_commands)
    jq -e '([.audit[]] | add) == 0' <<<"$out" >/dev/null
    n=$(jq '.results[0].succeeded' <<<"$out")
    rate=$(jq '.results[0].throughput_per_second' <<<"$out")
    tool=$(awk '{print $1 + $2}' "/tmp/cb-flow-cost.$$.time")
    awk -v f="$flow" -v run="$run" -v n="$n" -v rate="$rate" -v s=$((s1 - s0)) -v k=$((k1 - k0)) -v t="$tool" \
      -v c=$((after[0] - before[0])) -v q=$((after[1] - before[1])) -v r=$((r1 - r0)) \
      'BEGIN {printf "run %s %-6s %4.0f/s  server %.2f s  tool %.2f s  redis %.2f s  all %.2f s  |  statements %.1f  commits %.2f  redis commands %.1f\n",
        run, f, rate, s / 100 / n * 1000, t / n * 1000, k / 100 / n * 1000, (s / 100 + t + k / 100) / n * 1000, q / n, c / n, r / n}'
  done
done

[ "${STATEMENTS:-0}" = 1 ] || exit 0
for flow in direct events; do
  seed
  log=/tmp/cb-flow-cost.$$.$flow.log
  sql "SET GLOBAL general_log = 0; SET GLOBAL general_log_file = '$log'; SET GLOBAL log_output = 'FILE'; SET GLOBAL general_log = 1"
  out=$(load "$flow")
  sql "SET GLOBAL general_log = 0"
  n=$(jq '.results[0] | .succeeded + .refused + .warmup_holds' <<<"$out")
  echo "$flow, statements per attempt by kind (general log, $n attempts):"
  # "Execute"/"Query" lines; the kind is the verb and its table.
  awk -v n="$n" '
    match($0, / (Query|Execute)\t/) {
      sql = substr($0, RSTART + RLENGTH); sub(/^[ ]+/, "", sql)
      split(sql, w, / +/); verb = toupper(w[1]); kind = verb
      if (verb == "INSERT") kind = (toupper(w[2]) == "IGNORE") ? "INSERT " w[4] : "INSERT " w[3]
      else if (verb == "UPDATE") kind = "UPDATE " w[2]
      else if (verb == "SELECT") kind = match(sql, /FROM [a-z_]+/) ? "SELECT " substr(sql, RSTART + 5, RLENGTH - 5) : "SELECT (its FROM on a later line)"
      count[kind]++; total++
    }
    END {
      printf "  %5.2f  all\n", total / n
      for (k in count) if (count[k] / n >= 0.05) printf "  %5.2f  %s\n", count[k] / n, k
    }' "$log" | sort -k1,1 -rn
done
