#!/usr/bin/env bash
# How stale reads from a group's secondaries are, RUNS times: `staleness` on the running local
# group (scripts/galera.sh or scripts/group-replication.sh), one line per run and consistency
# (both secondaries pooled), then the range over the runs.
#
#   scripts/bench-staleness.sh galera|group-replication [RUNS] [PROBES]
set -euo pipefail
cd "$(dirname "$0")/.."

engine=${1:?usage: scripts/bench-staleness.sh galera|group-replication [RUNS] [PROBES]}
runs=${2:-5}
probes=${3:-500}
bin=${BIN:-target/release/concert-bench}
[ -x "$bin" ] || { echo "bench-staleness.sh: no $bin: cargo build --release" >&2; exit 1; }
case $engine in
  galera) base=4306 ;;
  group-replication) base=5306 ;;
  *) echo "bench-staleness.sh: engine must be galera or group-replication" >&2; exit 1 ;;
esac
url="mysql://root@127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))/cb_stale"
"$bin" seed --database-url "$url" --key-prefix cbstale: --reset -q -o json > /dev/null

docs=()
for run in $(seq 1 "$runs"); do
  docs+=("$("$bin" staleness --database-url "$url" --key-prefix cbstale: --probes "$probes" -q -o json)")
done
python3 - "${docs[@]}" <<'PY'
import json, sys
by = {}
for run, text in enumerate(sys.argv[1:], 1):
    doc = json.loads(text)
    for setting in dict.fromkeys(r["setting"] for r in doc["results"]):
        rows = [r for r in doc["results"] if r["setting"] == setting]
        probes = sum(r["probes"] for r in rows)
        line = {
            "stale %": 100 * sum(r["stale_first_reads"] for r in rows) / probes,
            "visible p50 ms": max(r["visible_after"]["p50_ms"] for r in rows),
            "visible p99 ms": max(r["visible_after"]["p99_ms"] for r in rows),
            "visible max ms": max(r["visible_after"]["max_ms"] for r in rows),
            "first read p50 ms": max(r["first_read"]["p50_ms"] for r in rows),
            "never visible": sum(r["never_visible"] for r in rows),
        }
        by.setdefault(setting, []).append(line)
        print(f"run {run} {setting}: " + ", ".join(f"{k} {v:.3g}" for k, v in line.items()))
for setting, lines in by.items():
    ranges = ", ".join(
        f"{k} {min(l[k] for l in lines):.3g}-{max(l[k] for l in lines):.3g}" for k in lines[0])
    print(f"{setting} over {len(lines)} runs: {ranges}")
PY
