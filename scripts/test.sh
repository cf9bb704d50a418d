#!/usr/bin/env bash
# Sets up what is missing (engine, registries, Podman service, base-image tools)
# and runs every test: formatting, lints, unit and integration tests against
# the real engine and registry.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# shellcheck disable=SC1091
source target/strata-test-env

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test
