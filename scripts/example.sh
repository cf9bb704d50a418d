#!/usr/bin/env bash
# The main job on the bundled example, on a fresh machine: sets up what is
# missing (engine, local registry, debootstrap), builds strata, makes the
# Debian base images locally, then tests and pushes real Node.js images
# generated from examples/node/strata.yml.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
bash scripts/setup.sh
cargo build --release --quiet
strata=target/release/strata

STRATA=$strata bash examples/node/make-bases.sh bookworm bullseye
# bookworm is built for arm64 too: its base, debootstrapped under QEMU.
STRATA=$strata bash examples/node/make-bases.sh --arch arm64 bookworm

"$strata" plan -f examples/node/strata.yml
"$strata" test -f examples/node/strata.yml -j 2 -r 1 >target/example-test-report.md
"$strata" push -f examples/node/strata.yml -j 2 -r 1 >target/example-push-report.md

echo "example: tested and pushed in $(( $(date +%s) - start ))s;" \
     "reports: target/example-test-report.md, target/example-push-report.md" >&2
