#!/usr/bin/env bash
# Makes the Debian base images this example builds on, without pulling from a
# registry: debootstrap a minimal root filesystem, tar it, and import it into
# the container engine as `debian:<release>`. Releases already present in the
# engine are skipped.
#
#   bash examples/node/make-bases.sh [release...]     (default: bookworm bullseye)
#
# Needs root, debootstrap, and the engine's socket (DOCKER_HOST or
# /var/run/docker.sock). Set STRATA=path/to/strata to import with
# `strata import` instead of calling the engine API with curl.
# The mirror can be changed with DEBIAN_MIRROR.
set -euo pipefail

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(bookworm bullseye)

socket="${DOCKER_HOST:-unix:///var/run/docker.sock}"
socket="${socket#unix://}"

log() { printf '[make-bases] %s\n' "$*" >&2; }

image_exists() { # image_exists REFERENCE
  curl -fs -o /dev/null --unix-socket "$socket" "http://localhost/images/$1/json"
}

import_rootfs() { # import_rootfs TAR REPO TAG
  if [ -n "${STRATA:-}" ]; then
    "$STRATA" import "$1" "$2:$3"
  else
    curl -fsS --unix-socket "$socket" -X POST \
      -H 'Content-Type: application/x-tar' --data-binary "@$1" \
      "http://localhost/images/create?fromSrc=-&repo=$2&tag=$3" >/dev/null
  fi
}

command -v debootstrap >/dev/null || { log "debootstrap is missing: run 'bash scripts/setup.sh' or 'apt-get install debootstrap'"; exit 1; }

for release in "${releases[@]}"; do
  if image_exists "debian:$release"; then
    log "debian:$release exists, skipping"
    continue
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "debootstrap $release from $mirror (about a minute)"
  debootstrap --variant=minbase "$release" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  # Keep the image small: no package lists or caches in the base layer.
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin
  tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
  import_rootfs "$work/rootfs.tar" debian "$release"
  log "imported debian:$release"
  rm -rf "$work"
  trap - EXIT
done
