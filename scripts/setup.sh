#!/usr/bin/env bash
# Installs and starts what strata's tests and examples need on a Debian machine:
# a Docker engine, a local registry (plain and with htpasswd auth), busybox-static
# and debootstrap for making base images, and Podman's Docker-compatible service.
#
# Idempotent: anything already installed or running is left as it is.
# Environment it exports for the tests is written to $STRATA_ENV_FILE
# (default: target/strata-test-env) so later commands can source it.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
state="${STRATA_SERVICES_DIR:-$here/target/services}"
mkdir -p "$state"

log() { printf '[setup] %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
command -v docker-registry >/dev/null || need_pkgs+=(docker-registry)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v podman >/dev/null || need_pkgs+=(podman)
command -v htpasswd >/dev/null || need_pkgs+=(apache2-utils)
command -v curl >/dev/null || need_pkgs+=(curl)
# The attestation test checks signatures with Python's cryptography, not strata.
python3 -c 'import cryptography' 2>/dev/null || need_pkgs+=(python3-cryptography)
command -v qemu-aarch64-static >/dev/null || need_pkgs+=(qemu-user-static)
command -v update-binfmts >/dev/null || need_pkgs+=(binfmt-support)
# The completion and manual tests load strata's scripts into each shell.
command -v zsh >/dev/null || need_pkgs+=(zsh)
command -v fish >/dev/null || need_pkgs+=(fish)
command -v man >/dev/null || need_pkgs+=(man-db)
# The remote-engine test makes certificates and gives a second dockerd its own bridge.
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v ip >/dev/null || need_pkgs+=(iproute2)
# The ssh:// engine test runs its own sshd.
command -v ssh-keygen >/dev/null || need_pkgs+=(openssh-client)
[ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
# The HTML report's matrix is checked in a real browser (headless).
command -v chromium >/dev/null || need_pkgs+=(chromium)
# The annotation tests read what was pushed with an independent client.
command -v skopeo >/dev/null || need_pkgs+=(skopeo)
# The written CI workflows are checked against GitHub's workflow schema
# (check-jsonschema carries a copy, so no network is needed to check).
if ! command -v check-jsonschema >/dev/null; then
  log "installing check-jsonschema (pip)"
  python3 -m pip install --quiet "check-jsonschema==0.39.0" >"$state/pip.log" 2>&1 \
    || { tail -20 "$state/pip.log" >&2; exit 1; }
fi
# The guide (docs/) is an mdBook, built by scripts/test.sh: a pinned mdBook
# without its web server, file watcher and search index. Only the test run
# needs it (STRATA_SETUP_GUIDE=1, which test.sh sets), so the example's first
# run does not wait for it to compile.
mdbook_version=0.5.4
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ "${STRATA_SETUP_GUIDE:-0}" = 1 ] \
  && [ "$(PATH="$cargo_bin:$PATH" mdbook --version 2>/dev/null)" != "mdbook v$mdbook_version" ]; then
  log "installing mdbook $mdbook_version (cargo install; a few minutes)"
  cargo install --locked --quiet mdbook --version "$mdbook_version" --no-default-features \
    >"$state/mdbook.log" 2>&1 || { tail -20 "$state/mdbook.log" >&2; exit 1; }
fi
# Provenance attestations are checked with the in-toto attestation
# framework's Python bindings (scripts/check-provenance.py).
if ! python3 -c 'import in_toto_attestation' 2>/dev/null; then
  log "installing in-toto-attestation (pip)"
  python3 -m pip install --quiet "in-toto-attestation==0.9.3" >"$state/pip.log" 2>&1 \
    || { tail -20 "$state/pip.log" >&2; exit 1; }
fi
# SBOMs are checked by independent tools: spdx-tools' pyspdxtools (SPDX 2.3)
# and the SPDX project's ntia-checker (NTIA minimum elements).
if ! command -v pyspdxtools >/dev/null || ! command -v ntia-checker >/dev/null; then
  log "installing spdx-tools and ntia-conformance-checker (pip)"
  python3 -m pip install --quiet "spdx-tools==0.8.5" "ntia-conformance-checker==6.0.0" \
    >"$state/pip-spdx.log" 2>&1 || { tail -20 "$state/pip-spdx.log" >&2; exit 1; }
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing: ${need_pkgs[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_pkgs[@]}" >"$state/apt.log" 2>&1 \
    || { tail -20 "$state/apt.log" >&2; exit 1; }
fi

wait_for() { # wait_for SECONDS CMD...
  local t=$1; shift
  for _ in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

# --- Docker engine -----------------------------------------------------------
docker_ok() { curl -fs -o /dev/null --unix-socket /var/run/docker.sock http://localhost/_ping; }
# BuildKit keeps every build's cache until it is pruned; a test run builds a
# few thousand unique layers, so an engine this script starts collects its
# garbage past a bound (STRATA_BUILD_CACHE, default 5GB) instead of filling
# the disk run after run. A machine's own /etc/docker/daemon.json wins.
engine_config=()
if [ ! -e /etc/docker/daemon.json ]; then
  printf '{"builder": {"gc": {"enabled": true, "defaultKeepStorage": "%s"}}}\n' \
    "${STRATA_BUILD_CACHE:-5GB}" >"$state/daemon.json"
  engine_config=(--config-file "$state/daemon.json")
fi
if ! docker_ok; then
  log "starting dockerd (log: $state/dockerd.log)"
  nohup dockerd "${engine_config[@]}" >"$state/dockerd.log" 2>&1 &
  wait_for 60 docker_ok || { tail -30 "$state/dockerd.log" >&2; log "dockerd did not start"; exit 1; }
fi

# --- Registries ----------------------------------------------------------------
start_registry() { # start_registry NAME PORT [htpasswd-file]
  local name=$1 port=$2 auth=${3:-}
  local dir="$state/registry-$name"
  if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then return 0; fi
  mkdir -p "$dir/data"
  {
    echo "version: 0.1"
    echo "log: { level: warn }"
    echo "storage: { filesystem: { rootdirectory: $dir/data }, delete: { enabled: true } }"
    echo "http: { addr: 127.0.0.1:$port }"
    if [ -n "$auth" ]; then
      echo "auth: { htpasswd: { realm: strata-test, path: $auth } }"
    fi
  } >"$dir/config.yml"
  log "starting registry $name on 127.0.0.1:$port"
  nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$port/v2/" || { tail -20 "$dir/registry.log" >&2; exit 1; }
}
start_registry plain 5000
htp="$state/htpasswd"
[ -f "$htp" ] || htpasswd -Bbn strata "${STRATA_TEST_REGISTRY_PASSWORD:-s3cret-test-pass}" >"$htp"
start_registry auth 5001 "$htp"

# --- Podman's Docker-compatible service -----------------------------------------
# Docker treats 127.0.0.0/8 registries as plain HTTP by default; Podman needs
# to be told, or its pushes try HTTPS.
podman_conf=/etc/containers/registries.conf.d/50-strata-local.conf
if [ ! -f "$podman_conf" ]; then
  mkdir -p "$(dirname "$podman_conf")"
  printf '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n\n[[registry]]\nlocation = "127.0.0.1:5001"\ninsecure = true\n' >"$podman_conf"
  # Our own service, if running, must restart to read it.
  [ -f "$state/podman.pid" ] && kill "$(cat "$state/podman.pid")" 2>/dev/null && sleep 1 || true
fi
podman_sock="$state/podman.sock"
podman_ok() { curl -fs -o /dev/null --unix-socket "$podman_sock" http://localhost/_ping; }
if ! podman_ok; then
  log "starting podman system service (socket: $podman_sock)"
  rm -f "$podman_sock"
  nohup podman system service --time=0 "unix://$podman_sock" >"$state/podman.log" 2>&1 &
  echo $! >"$state/podman.pid"
  wait_for 30 podman_ok || { tail -20 "$state/podman.log" >&2; log "podman service did not start (podman tests will fail)"; }
fi

# --- Other platforms, emulated ------------------------------------------------------
# QEMU's binfmt handlers let the engine run arm64 programs (RUN steps and
# run.yml checks of linux/arm64 images). An arm64 busybox makes arm64 base
# images for the tests.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
update-binfmts --enable >/dev/null 2>&1 || true
arm64_busybox="$state/busybox-arm64"
if [ ! -x "$arm64_busybox" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || {
    dpkg --add-architecture arm64
    apt-get update -q >/dev/null
  }
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q busybox-static:arm64 >"$state/apt-arm64.log" 2>&1 \
    && dpkg-deb -x busybox-static_*_arm64.deb root) \
    || { tail -5 "$state/apt-arm64.log" >&2; log "could not fetch an arm64 busybox"; }
  [ -x "$tmp/root/bin/busybox" ] && cp "$tmp/root/bin/busybox" "$arm64_busybox"
  rm -rf "$tmp"
fi
if [ -x "$arm64_busybox" ] && [ "$("$arm64_busybox" uname -m 2>/dev/null)" = aarch64 ]; then
  log "arm64 programs run here through QEMU"
else
  log "arm64 emulation does not work here: multi-platform tests will fail"
fi

# sigstore-js, pinned, for the independent check of Sigstore bundles
# (scripts/check-bundle.js; tests/sigstore_bundle.rs installs it too).
sigstore_js="$here/target/sigstore-js"
if [ ! -d "$sigstore_js/node_modules/@sigstore/verify" ] && command -v npm >/dev/null; then
  mkdir -p "$sigstore_js"
  cp "$here/scripts/sigstore-js/package.json" "$here/scripts/sigstore-js/package-lock.json" "$sigstore_js/"
  (cd "$sigstore_js" && npm ci --no-audit --no-fund >"$state/npm-sigstore.log" 2>&1) \
    || { tail -5 "$state/npm-sigstore.log" >&2; log "could not install sigstore-js: the bundle check will fail"; }
fi

env_file="${STRATA_ENV_FILE:-$here/target/strata-test-env}"
cat >"$env_file" <<ENV
export STRATA_TEST_REGISTRY=127.0.0.1:5000
export STRATA_TEST_AUTH_REGISTRY=127.0.0.1:5001
export STRATA_TEST_REGISTRY_USER=strata
export STRATA_TEST_REGISTRY_PASSWORD=${STRATA_TEST_REGISTRY_PASSWORD:-s3cret-test-pass}
export STRATA_TEST_PODMAN_HOST=unix://$podman_sock
export STRATA_TEST_BUSYBOX_ARM64=$arm64_busybox
ENV
log "ready: docker engine, registries on 127.0.0.1:5000 (open) and :5001 (htpasswd), podman at $podman_sock"
