#!/usr/bin/env bash
# The main job on a bundled example, on a fresh machine: sets up what is
# missing (engine, local registry, debootstrap), builds strata, makes the
# Debian base images locally, then tests and pushes the real images generated
# from examples/<name>/strata.yml.
#
#   bash scripts/example.sh         # Node.js (examples/node)
#   bash scripts/example.sh bun     # Bun (examples/bun), from Bun's npm package
set -euo pipefail
cd "$(dirname "$0")/.."

name="${1:-node}"
case "$name" in
  node|bun) ;;
  *) echo "example.sh: unknown example '$name' (node or bun)" >&2; exit 2 ;;
esac

start=$(date +%s)
bash scripts/setup.sh
cargo build --release --quiet
strata=target/release/strata

if [ "$name" = node ]; then
  STRATA=$strata bash examples/node/make-bases.sh bookworm bullseye
else
  STRATA=$strata bash examples/node/make-bases.sh bookworm
fi
# bookworm is built for arm64 too: its base, debootstrapped under QEMU.
STRATA=$strata bash examples/node/make-bases.sh --arch arm64 bookworm

config="examples/$name/strata.yml"
"$strata" plan -f "$config"
"$strata" test -f "$config" -j 2 -r 1 >"target/example-$name-test-report.md"
"$strata" push -f "$config" -j 2 -r 1 >"target/example-$name-push-report.md"

echo "example $name: tested and pushed in $(( $(date +%s) - start ))s;" \
     "reports: target/example-$name-test-report.md, target/example-$name-push-report.md" >&2
