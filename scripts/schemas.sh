#!/usr/bin/env bash
# Regenerates schemas/: the JSON Schema of every command's -o json document, from its types.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -q
for command in $(./target/debug/concert-bench schema --list); do
  ./target/debug/concert-bench schema "$command" > "schemas/$command.schema.json"
done
echo "schemas/ regenerated"
