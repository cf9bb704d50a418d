#!/usr/bin/env bash
# Sets up what is missing (engine, registries, Podman service, base-image tools)
# and runs every test: formatting, lints, unit and integration tests against
# the real engine and registry.
set -euo pipefail
cd "$(dirname "$0")/.."

# A full build needs about 6 GB (target/debug); say so before the compiler runs out of room.
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
echo "[test] free disk here: $((avail_kb / 1024)) MiB" >&2
if [ "${avail_kb:-0}" -lt 8000000 ]; then
  echo "[test] warning: under 8 GB free; the build may fail with 'No space left on device'" >&2
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
# store grown by old runs slows every later one. An image pulled by digest
# has no tag, so it is removed as `repository@digest`.
leftovers=$(docker images --digests --format '{{.Repository}} {{.Tag}} {{.Digest}}' | while read -r repo tag digest; do
  if [[ $repo =~ -([0-9]+)-[0-9]{6,}-[0-9]+(/|$) ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    if [ "$tag" != "<none>" ]; then echo "$repo:$tag"; elif [ "$digest" != "<none>" ]; then echo "$repo@$digest"; fi
  fi
done)
if [ -n "$leftovers" ]; then
  echo "[test] removing $(wc -l <<<"$leftovers") images earlier test runs left" >&2
  xargs -r -n 200 docker rmi <<<"$leftovers" >/dev/null 2>&1 || true
fi

# BuildKit's cache on an engine this script did not start may have no bound
# (setup.sh gives the engine it starts one). The tests never rely on a cache
# older than the run, so when the disk is short the engine is asked to keep
# only its newest 2 GB of build cache, and untagged images (what test runs
# that were killed left behind) are removed.
avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
if [ "${avail_kb:-0}" -lt 15000000 ]; then
  echo "[test] under 15 GB free: removing untagged images, pruning the build cache to its newest 2 GB" >&2
  curl -fsS --max-time 600 --unix-socket /var/run/docker.sock -X POST \
    'http://localhost/images/prune?filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D' >/dev/null \
    || echo "[test] the engine did not remove untagged images; going on" >&2
  curl -fsS --max-time 600 --unix-socket /var/run/docker.sock -X POST \
    "http://localhost/build/prune?keep-storage=$((2 * 1024 * 1024 * 1024))" \
    | python3 -c 'import json,sys; print("[test] build cache freed: %d MiB" % (json.load(sys.stdin).get("SpaceReclaimed", 0) // 1048576))' >&2 \
    || echo "[test] the engine did not prune its build cache; going on" >&2
  avail_kb=$(df -Pk . | awk 'NR==2 {print $4}')
  echo "[test] free disk now: $((avail_kb / 1024)) MiB" >&2
fi

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# The guide: built with the mdBook setup.sh pinned, into target/book (its
# links and generated parts are checked by tests/docs.rs).
PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" mdbook build docs
cargo test
