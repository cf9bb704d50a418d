#!/usr/bin/env bash
# Benchmarks, run on demand (not part of the tests): prints wall-clock figures
# for planning without an engine.
#
#   bash scripts/bench.sh [RUNS]
#
# * plan-all: every Node.js release >= 4 in the shipped index × 3 OS releases,
#   both alias schemes (benches/plan-all/strata.yml), text and JSON output;
#   and the same × 5 platforms, each kept only for the releases Node ships
#   binaries for (benches/plan-all/platforms.yml).
# * nodesource-inventory: NodeSource's real Dante inventory (718 images,
#   341 aliases), parsed and validated (its folders are not shipped, so the
#   run stops at the path check: the figure covers parsing and every check
#   before it).
#
#   bash scripts/bench.sh --engine [ARGS]   runs scripts/bench-engine.sh ARGS:
#   strata next to the docker build/tag/push shell loop on the real engine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --engine ]; then
  shift
  exec bash scripts/bench-engine.sh "$@"
fi
runs=${1:-10}

cargo build --release --quiet
strata=target/release/strata

measure() { # measure NAME CMD... — prints min / median / max over $runs runs
  local name=$1; shift
  local times=()
  for _ in $(seq 1 "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  IFS=$'\n' sorted=($(sort -n <<<"${times[*]}")); unset IFS
  local n=${#sorted[@]}
  awk -v name="$name" -v n="$n" -v lo="${sorted[0]}" -v mid="${sorted[$((n / 2))]}" -v hi="${sorted[$((n - 1))]}" \
    'BEGIN { printf "%-34s runs=%-3d min=%7.1f ms  median=%7.1f ms  max=%7.1f ms\n", name, n, lo/1000, mid/1000, hi/1000 }'
}

summary=$("$strata" plan -f benches/plan-all/strata.yml | tail -1)
echo "plan-all: $summary"
measure "strata plan (text)" "$strata" plan -f benches/plan-all/strata.yml
measure "strata plan --format json" "$strata" plan -f benches/plan-all/strata.yml --format json
measure "strata test --dry-run" "$strata" test --dry-run -f benches/plan-all/strata.yml

summary=$("$strata" plan -f benches/plan-all/platforms.yml | tail -1)
echo "plan-all × 5 platforms: $summary"
measure "strata plan, 5 platforms (text)" "$strata" plan -f benches/plan-all/platforms.yml
measure "strata plan, 5 platforms (json)" "$strata" plan -f benches/plan-all/platforms.yml --format json

inv=$(mktemp -d)
trap 'rm -rf "$inv"' EXIT
cp tests/data/nodesource-inventory.yml "$inv/inventory.yml"
measure "nodesource inventory (718 images)" "$strata" plan -f "$inv/inventory.yml"
