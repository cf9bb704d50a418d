#!/usr/bin/env bash
# Makes the Debian base images this example builds on, without pulling from a
# registry: debootstrap a minimal root filesystem, tar it, and import it into
# the container engine as `debian:<release>-<arch>` (and, for the engine's own
# architecture, also `debian:<release>`). Images already present are skipped.
#
#   bash examples/node/make-bases.sh [--arch ARCH] [release...]
#        (default: the engine's own architecture; bookworm bullseye)
#
# A foreign architecture (`--arch arm64` on an amd64 machine) is debootstrapped
# in two stages, the second one run under QEMU (`scripts/setup.sh` installs
# the binfmt handlers), and imported with `strata import --platform`, which
# records the architecture in the image.
#
# Needs root, debootstrap, and the engine's socket (DOCKER_HOST or
# /var/run/docker.sock). Set STRATA=path/to/strata to import with
# `strata import` (required for a foreign architecture) instead of calling the
# engine API with curl. The mirror can be changed with DEBIAN_MIRROR.
set -euo pipefail

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
host_arch=$(dpkg --print-architecture)
arch=$host_arch
releases=()
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="${2:?--arch needs an architecture, such as arm64}"; shift 2 ;;
    --arch=*) arch="${1#--arch=}"; shift ;;
    -*) echo "make-bases: unknown option $1" >&2; exit 2 ;;
    *) releases+=("$1"); shift ;;
  esac
done
[ ${#releases[@]} -gt 0 ] || releases=(bookworm bullseye)

socket="${DOCKER_HOST:-unix:///var/run/docker.sock}"
socket="${socket#unix://}"

log() { printf '[make-bases] %s\n' "$*" >&2; }

image_exists() { # image_exists REFERENCE
  curl -fs -o /dev/null --unix-socket "$socket" "http://localhost/images/$1/json"
}

import_rootfs() { # import_rootfs TAR REPO TAG
  if [ -n "${STRATA:-}" ]; then
    "$STRATA" import --platform "linux/$arch" "$1" "$2:$3"
  elif [ "$arch" != "$host_arch" ]; then
    log "a foreign architecture is imported with strata: set STRATA=path/to/strata"; exit 1
  else
    curl -fsS --unix-socket "$socket" -X POST \
      -H 'Content-Type: application/x-tar' --data-binary "@$1" \
      "http://localhost/images/create?fromSrc=-&repo=$2&tag=$3" >/dev/null
  fi
}

command -v debootstrap >/dev/null || { log "debootstrap is missing: run 'bash scripts/setup.sh' or 'apt-get install debootstrap'"; exit 1; }

tag_image() { # tag_image FROM REPO TAG
  curl -fsS --unix-socket "$socket" -X POST \
    "http://localhost/images/$1/tag?repo=$2&tag=$3" >/dev/null
}

for release in "${releases[@]}"; do
  if image_exists "debian:$release-$arch"; then
    log "debian:$release-$arch exists, skipping"
    continue
  fi
  # A host base made before bases were named per architecture.
  if [ "$arch" = "$host_arch" ] && image_exists "debian:$release"; then
    tag_image "debian:$release" debian "$release-$arch"
    log "tagged debian:$release as debian:$release-$arch"
    continue
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if [ "$arch" = "$host_arch" ]; then
    log "debootstrap $release from $mirror (about a minute)"
    debootstrap --variant=minbase "$release" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  else
    log "debootstrap $release for $arch from $mirror, second stage under QEMU (several minutes)"
    debootstrap --variant=minbase --arch="$arch" --foreign "$release" "$work/rootfs" "$mirror" \
      >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    chroot "$work/rootfs" /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; log "is binfmt_misc set up? run scripts/setup.sh"; exit 1; }
  fi
  # Keep the image small: no package lists or caches in the base layer.
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin
  tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
  import_rootfs "$work/rootfs.tar" debian "$release-$arch"
  log "imported debian:$release-$arch"
  if [ "$arch" = "$host_arch" ]; then
    tag_image "debian:$release-$arch" debian "$release"
  fi
  rm -rf "$work"
  trap - EXIT
done
