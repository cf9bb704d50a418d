#!/usr/bin/env bash
# Sets up what is missing (engine, registries, Podman service, base-image tools)
# and runs every test: formatting, lints, unit and integration tests against
# the real engine and registry.
set -euo pipefail
cd "$(dirname "$0")/.."

# A full build needs about 2 GB; say so before the compiler runs out of room.
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
echo "[test] free disk here: $((avail_kb / 1024)) MiB" >&2
if [ "${avail_kb:-0}" -lt 3000000 ]; then
  echo "[test] warning: under 3 GB free; the build may fail with 'No space left on device'" >&2
fi
# Incremental artifacts only help repeated local builds; CI builds once.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
# setup.sh installs Chromium: the browser test of the HTML report must run, not skip.
export STRATA_REQUIRE_CHROMIUM=1
# setup.sh installs the guide's mdBook only when asked.
export STRATA_SETUP_GUIDE=1

bash scripts/setup.sh
# shellcheck disable=SC1091
source target/strata-test-env

# Images earlier test runs left on this engine (their names carry
# `<prefix>-<pid>-<time>-<n>`, see tests/common) are removed when that run's
# process is gone: the engine lists its whole store for every run, so a
# store grown by old runs slows every later one.
leftovers=$(docker images --format '{{.Repository}}:{{.Tag}}' | while read -r ref; do
  if [[ $ref =~ -([0-9]+)-[0-9]{6,}-[0-9]+([/:]|$) ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    echo "$ref"
  fi
done)
if [ -n "$leftovers" ]; then
  echo "[test] removing $(wc -l <<<"$leftovers") image tags earlier test runs left" >&2
  xargs -r -n 200 docker rmi <<<"$leftovers" >/dev/null 2>&1 || true
fi

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# The guide: built with the mdBook setup.sh pinned, into target/book (its
# links and generated parts are checked by tests/docs.rs).
PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" mdbook build docs
cargo test
