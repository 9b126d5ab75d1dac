#!/usr/bin/env bash
# Measure `bringup validate` as a whole process on a generated 1,000-service, 2,000-host
# runbook, in a release build. Target: under 0.15 s.
#   benches/validate.sh [SERVICES=1000] [HOSTS=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
services="${1:-1000}"
hosts="${2:-2000}"
out="target/bench"
mkdir -p "$out"
runbook="$out/large-${services}x${hosts}.toml"

benches/gen-large-runbook.sh "$services" "$hosts" > "$runbook"
echo "runbook: $runbook ($(wc -c < "$runbook") bytes, $(wc -l < "$runbook") lines)"

cargo build --release --quiet
bin="target/release/bringup"
"$bin" validate "$runbook" > /dev/null   # must be valid, or the timing means nothing

hyperfine --warmup 3 --runs 30 --export-json "$out/validate.json" \
  "$bin validate $runbook"
