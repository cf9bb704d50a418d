#!/usr/bin/env bash
# Times `strata plan` over a large matrix: every Node.js release >= 4 (pick:
# all) on 3 OS releases, with both NodeSource's and the official images' alias
# schemes. Planning is pure computation, so it must stay well under a second;
# the script fails when it takes longer than LIMIT_MS (default 1000).
#
#   bash scripts/bench-plan.sh            # builds a release binary first
#   STRATA_BIN=path/to/strata bash scripts/bench-plan.sh
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
limit_ms="${LIMIT_MS:-1000}"
runs="${RUNS:-3}"

if [[ -z "${STRATA_BIN:-}" ]]; then
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
  STRATA_BIN="$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/strata"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/feed" "$work/templates/node"
cp "$repo/tests/data/node-dist-index.tab" "$work/feed/index.tab"
cp "$repo/tests/data/node-release-schedule.json" "$work/feed/schedule.json"
cat >"$work/templates/node/Dockerfile.j2" <<'DOCKERFILE'
FROM {{ os.from }}
ENV NODE_VERSION={{ version }}{% if codename %} NODE_LTS={{ codename }}{% endif %}
DOCKERFILE

cat >"$work/strata.yml" <<'CONFIG'
as_of: 2024-10-30
feed:
  index: feed/index.tab
  schedule: feed/schedule.json
  range: ">=4"
  pick: all
os:
  - { name: bookworm, default: true, from: "debian:bookworm" }
  - { name: bullseye, from: "debian:bullseye" }
  - { name: buster, from: "debian:buster" }
image:
  name: "bench/{{ os.name }}:{{ version }}"
  template: templates/node
aliases:
  # NodeSource's scheme.
  - "bench/{{ os.name }}:{{ major }}.{{ minor }}"
  - { tag: "bench/{{ os.name }}:{{ major }}", when: "major > 0" }
  - { tag: "bench/{{ os.name }}:{{ codename }}", when: "lts and codename" }
  - { tag: "bench/{{ os.name }}:LTS", when: "lts" }
  - "bench/{{ os.name }}:latest"
  - { tag: "bench/node:{{ version }}", when: "os.default" }
  - { tag: "bench/node:{{ major }}.{{ minor }}", when: "os.default" }
  - { tag: "bench/node:{{ major }}", when: "os.default and major > 0" }
  - { tag: "bench/node:{{ codename }}", when: "os.default and lts and codename" }
  - { tag: "bench/node:LTS", when: "os.default and lts" }
  - { tag: "bench/node:latest", when: "os.default" }
  # The official images' scheme, with the OS as the variant.
  - "official/node:{{ version }}-{{ os.name }}"
  - "official/node:{{ major }}.{{ minor }}-{{ os.name }}"
  - "official/node:{{ major }}-{{ os.name }}"
  - { tag: "official/node:{{ codename }}-{{ os.name }}", when: "codename" }
  - { tag: "official/node:{{ version }}", when: "os.default" }
  - { tag: "official/node:{{ major }}.{{ minor }}", when: "os.default" }
  - { tag: "official/node:{{ major }}", when: "os.default" }
  - { tag: "official/node:{{ codename }}", when: "os.default and codename" }
  - { tag: "official/node:{{ os.name }}", when: "is_current" }
  - { tag: "official/node:current-{{ os.name }}", when: "is_current" }
  - { tag: "official/node:latest", when: "is_current and os.default" }
  - { tag: "official/node:current", when: "is_current and os.default" }
  - { tag: "official/node:lts-{{ os.name }}", when: "is_active_lts" }
  - { tag: "official/node:lts", when: "is_active_lts and os.default" }
  - { tag: "official/node:lts-{{ codename }}", when: "is_active_lts and os.default" }
CONFIG

# Check the plan is what the benchmark claims before timing it.
"$STRATA_BIN" plan -f "$work/strata.yml" --format json >"$work/plan.json"
read -r images aliases < <(python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))
print(len(plan["images"]), len(plan["aliases"]))' "$work/plan.json")
releases=$(awk -F'\t' 'NR > 1 && $1 !~ /^v[0-3]\./' "$work/feed/index.tab" | wc -l)
if (( images != releases * 3 )); then
  echo "expected $((releases * 3)) images ($releases releases x 3 OS), the plan has $images" >&2
  exit 1
fi

best=""
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$STRATA_BIN" plan -f "$work/strata.yml" --format json >/dev/null
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if [[ -z "$best" || "$ms" -lt "$best" ]]; then best=$ms; fi
done

echo "strata plan: $images images, $aliases aliases, best of $runs runs: ${best} ms (limit ${limit_ms} ms)"
if (( best > limit_ms )); then
  echo "too slow: planning must take under ${limit_ms} ms" >&2
  exit 1
fi
