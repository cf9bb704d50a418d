#!/usr/bin/env bash
# The engine benchmark, run on demand (never part of the tests): strata next
# to the shell loop a user without a tool writes (`docker build`, `docker tag`,
# `docker push`, at the same parallelism), on the same engine, the same images
# and the same registry, in one run.
#
#   bash scripts/bench-engine.sh [--sizes "50 200"] [--runs 3] [--jobs 2]
#                                [--registry 127.0.0.1:5000] [--strata PATH]
#                                [--shared-engine]
#   bash scripts/bench-engine.sh --bases [--runs 3] [--jobs 2] [--strata PATH]
#   bash scripts/bench-engine.sh --builders [--sizes 50] [--runs 1] [--jobs 2]
#   bash scripts/bench-engine.sh --cache-mount --shared-engine [--apt-base debian:bookworm]
#                                [--apt-images 6] [--apt-sharing private|locked] [--runs 1] [--jobs 2]
#                                [--mirror-rate 20mbit]
#
# By default both tools run on a dedicated engine the benchmark starts for
# itself (a second `dockerd`, as root, with its own data root, exec root,
# pidfile and socket in a temporary folder, and its own bridge), reached
# through DOCKER_HOST, so the figures do not depend on what the machine's
# engine happens to hold (a list of thousands of leftover images costs a run
# that asks for one). It is stopped and its folder and bridge removed at the
# end. --shared-engine runs on the engine DOCKER_HOST names instead (the
# machine's own by default), leftovers and all.
#
# The matrix: N images on a busybox base (imported from the host's static
# busybox), each with 2 RUN layers, one test layer and 2 aliases, written as
# a Dante inventory. For each size and each run:
#
#   1. caches cleared: every image of the benchmark's namespace removed from
#      the engine (the classic builder's cache is those images' untagged
#      parents, removed with them) and strata's state folder deleted;
#   2. strata: cold test, no-op test (3 times), one file changed (one image's
#      Dockerfile edited), cold push (to a repository no run used), no-op push
#      (3 times);
#   3. caches cleared the same way;
#   4. the shell loop, the same five figures on the same files: `docker build`
#      of each image, `docker build` of its test on top, `docker tag` of each
#      alias; then `docker push` of the image and its aliases. Re-running it
#      is its no-op (the engine's layer cache and the registry's blobs do the
#      skipping).
#
# Figures are medians over the runs (no-op figures over every repetition);
# memory is the peak resident size of the largest process (/usr/bin/time),
# which for strata is strata itself and for the loop is one docker client.
#
# --bases measures scheduling instead: 5 base images, each with a slow step
# (`sleep 4`, standing in for an OS base's package installs), and 10 images on
# each, listed base first, family by family, as inventories usually are. It
# prints strata's wall time next to the sum of the engine's build and test
# times divided by the jobs (the best any order can do).
#
# --builders adds the builder axis on the same matrix (test only: cold, no-op
# three times, one file changed): strata with --builder buildkit and with
# --builder classic, and the shell loop with DOCKER_BUILDKIT=1 and with
# DOCKER_BUILDKIT=0, each after the caches were cleared (BuildKit's build
# cache too, `docker builder prune`, on the dedicated engine only).
#
# --cache-mount measures a realistic step: N images on a Debian base (made by
# examples/node/make-bases.sh), each installing packages with apt-get from
# the Debian mirror, once behind `RUN --mount=type=cache` on apt's lists and
# archives and once without, both built by strata with BuildKit. The cache's
# ID is new for each run, so the first image starts from an empty cache. The
# containers must reach the mirror: the dedicated engine's bridge has no
# NAT, so run it with --shared-engine. The caches are mounted
# `sharing=private` by default: builds running at once each get a cache of
# their own (apt locks its folders), later ones reuse them; `locked` makes
# them wait for one another instead. The packages are fetched once, untimed,
# before the first run (a mirror behind a cache of its own would otherwise
# favour whichever kind runs second), and the two kinds take turns going
# first. Each run's layers carry the run and the kind, so no build reuses
# another's from the shared engine's cache. --mirror-rate RATE (a `tc`
# rate such as 20mbit; root) caps what the containers receive through the
# engine's bridge (docker0) while the mode runs, to stand for a slower
# mirror; the cap is removed at the end.
#
# Everything made is removed at the end: local images, and the manifests
# pushed to the registry (when it allows deletes).
set -euo pipefail
cd "$(dirname "$0")/.."

sizes="50 200"
runs=3
jobs=2
registry=127.0.0.1:5000
strata=""
mode=matrix
dedicated=1
apt_base=debian:bookworm
apt_images=6
apt_sharing=private
mirror_rate=
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --registry) registry=$2; shift 2 ;;
    --strata) strata=$2; shift 2 ;;
    --bases) mode=bases; shift ;;
    --builders) mode=builders; shift ;;
    --cache-mount) mode=cache_mount; shift ;;
    --apt-base) apt_base=$2; shift 2 ;;
    --apt-images) apt_images=$2; shift 2 ;;
    --apt-sharing) apt_sharing=$2; shift 2 ;;
    --mirror-rate) mirror_rate=$2; shift 2 ;;
    --shared-engine) dedicated=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench-engine: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
for tool in docker /usr/bin/time curl python3; do
  command -v "$tool" >/dev/null || { echo "bench-engine: $tool is missing (apt-get install docker.io time curl python3)" >&2; exit 3; }
done
if [ "$dedicated" = 1 ]; then
  for tool in dockerd ip; do
    command -v "$tool" >/dev/null || { echo "bench-engine: $tool is missing for the dedicated engine (apt-get install docker.io iproute2), or use --shared-engine" >&2; exit 3; }
  done
  [ "$(id -u)" = 0 ] || { echo "bench-engine: the dedicated engine needs root (or use --shared-engine)" >&2; exit 3; }
else
  docker info >/dev/null 2>&1 || { echo "bench-engine: the Docker engine does not answer; run scripts/setup.sh" >&2; exit 3; }
fi
curl -fsS "http://$registry/v2/" >/dev/null || { echo "bench-engine: registry $registry does not answer; run scripts/setup.sh" >&2; exit 3; }

if [ -z "$strata" ]; then
  cargo build --release --quiet
  strata=$PWD/target/release/strata
fi
strata=$(realpath "$strata")
export DOCKER_BUILDKIT=0 # the classic builder, as strata uses

# The loop's client. Docker's CLI before 23.0 builds with BuildKit itself
# (DOCKER_BUILDKIT=1); later ones only through the buildx plugin. So the
# BuildKit loop takes the first `docker` on the PATH that can.
docker_bin=$(command -v docker)
loop_buildkit=0
if "$docker_bin" buildx version >/dev/null 2>&1; then
  loop_buildkit=1
else
  for candidate in $(type -ap docker); do
    v=$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null) || continue
    if [ "${v%%.*}" -lt 23 ] 2>/dev/null; then
      docker_bin=$candidate
      loop_buildkit=1
      break
    fi
  done
fi
docker() { "$docker_bin" "$@"; }
# the loops run in `bash -c` under xargs: they need the choice too
export docker_bin
export -f docker

ns="bench-$$-$(date +%s)"
work=$(mktemp -d)
base="strata-bench/$ns-base:busybox"
engine_pid=""
bridge=""
cleanup() {
  local status=$? clean=0
  [ -z "$mirror_rate" ] || tc qdisc del dev docker0 root >/dev/null 2>&1 || true
  if [ -n "$engine_pid" ]; then
    stop_engine
  else
    remove_images "$ns"
    docker rmi "$base" >/dev/null 2>&1 || true
  fi
  delete_pushed || clean=$?
  rm -rf "$work"
  if [ "$clean" -ne 0 ]; then
    echo "bench-engine: could not remove what was pushed to $registry (see above)" >&2
    [ "$status" -ne 0 ] || status=$clean
  fi
  exit "$status"
}
trap cleanup EXIT

# start_engine: a second dockerd, all its state under $work/engine, on its own
# bridge (not --bridge=none: in the host's network namespace that would take
# the first engine's docker0 away); DOCKER_HOST points both tools at it.
start_engine() {
  local root=$work/engine i debug_log=
  # --builders counts the engine requests of a no-op run in the engine's log.
  [ "$mode" = builders ] && debug_log=--debug
  mkdir -p "$root"
  bridge="stbench$(($$ % 100000))"
  ip link del "$bridge" 2>/dev/null || true
  ip link add name "$bridge" type bridge
  ip addr add "172.30.$((200 + $$ % 50)).1/24" dev "$bridge"
  ip link set "$bridge" up
  dockerd --data-root "$root/data" --exec-root "$root/exec" --pidfile "$root/dockerd.pid" \
    -H "unix://$root/engine.sock" --bridge "$bridge" --iptables=false --ip-masq=false \
    $debug_log >"$root/dockerd.log" 2>&1 &
  engine_pid=$!
  export DOCKER_HOST="unix://$root/engine.sock"
  for i in $(seq 1 120); do
    docker version >/dev/null 2>&1 && return 0
    kill -0 "$engine_pid" 2>/dev/null || break
    sleep 0.5
  done
  echo "bench-engine: the dedicated dockerd did not start:" >&2
  tail -20 "$root/dockerd.log" >&2
  exit 3
}

# stop_engine: the dedicated dockerd stopped (it unmounts its layers), its
# bridge removed; $work (its data root among it) goes with the rest.
stop_engine() {
  local i
  kill -TERM "$engine_pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    kill -0 "$engine_pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$engine_pid" 2>/dev/null || true
  wait "$engine_pid" 2>/dev/null || true
  engine_pid=""
  ip link del "$bridge" 2>/dev/null || true
}

# ---------------------------------------------------------------- tools

# remove_images PATTERN: every local tag whose repository contains PATTERN.
remove_images() {
  local tags
  tags=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -F -- "$1" || true)
  if [ -n "$tags" ]; then
    # shellcheck disable=SC2086
    docker rmi $tags >/dev/null 2>&1 || true
  fi
}

# delete_pushed: the manifests this benchmark pushed, by digest (the registry
# frees the blobs at its next garbage collection); the catalog and tag lists
# are read page by page. A failure is reported, never silenced.
delete_pushed() {
  python3 scripts/registry-clean.py "$registry" "$ns"
}

# make_base: a busybox image from the host's static busybox (nothing is pulled).
make_base() {
  local root=$work/rootfs
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  tar -C "$root" -c . | docker import - "$base" >/dev/null
}

# timed NAME CMD...: runs CMD, appends "seconds maxrss_kib" to $work/NAME.
timed() {
  local name=$1; shift
  local t0 t1 rss
  t0=$(date +%s%N)
  # Through bash, so CMD may be one of the functions below (both tools pay
  # the same few milliseconds for it).
  if ! /usr/bin/time -f '%M' -o "$work/rss" bash -c '"$@"' bash "$@" >"$work/last.out" 2>&1; then
    echo "bench-engine: '$name' failed:" >&2
    tail -40 "$work/last.out" >&2
    exit 1
  fi
  t1=$(date +%s%N)
  rss=$(tail -1 "$work/rss")
  echo "$(( (t1 - t0) / 1000000 )) $rss" >>"$work/$name"
  printf '  %-28s %8.2f s  %6d MiB\n' "$name" "$(( (t1 - t0) / 1000000 ))e-3" "$(( rss / 1024 ))" >&2
}

# median FILE COLUMN: the median of a column (upper median for even counts).
median() {
  awk -v c="$2" '{print $c}' "$1" | sort -n | awk '{a[NR]=$1} END {print a[int(NR/2)+1]}'
}

# tree DIR PREFIX N: the matrix under DIR, its images named PREFIX/app:iK.
tree() {
  local dir=$1 prefix=$2 n=$3 i
  mkdir -p "$dir/tests/layers"
  printf 'RUN test -s /l1 && test -s /l2\n' >"$dir/tests/layers/Dockerfile"
  echo "images:" >"$dir/inventory.yml"
  for i in $(seq 0 $((n - 1))); do
    mkdir -p "$dir/img/$i"
    printf 'FROM %s\nRUN echo "image %s, layer 1" > /l1\nRUN echo "image %s, layer 2" > /l2\n' \
      "$base" "$i" "$i" >"$dir/img/$i/Dockerfile"
    cat >>"$dir/inventory.yml" <<EOF
  - name: "$prefix/app:i$i"
    path: "./img/$i"
    test: "./tests/layers"
    alias: ["$prefix/app:i$i-stable", "$prefix/app:i$i-lts"]
EOF
  done
}

# change_one DIR: edits one image's Dockerfile (its second layer).
change_one() {
  sed -i 's/layer 2/layer 2, changed/' "$1/img/0/Dockerfile"
}

# The shell loop: one image's build, test and aliases; one image's pushes.
loop_test_one() { # DIR PREFIX I
  local name="$2/app:i$3"
  docker build -q -t "$name" "$1/img/$3" >/dev/null
  { printf 'FROM %s\n' "$name"; cat "$1/tests/layers/Dockerfile"; } |
    docker build -q -t "$name-test1" -f - "$1/tests/layers" >/dev/null
  docker tag "$name" "$name-stable"
  docker tag "$name" "$name-lts"
}
loop_push_one() { # PREFIX I
  local name="$1/app:i$2" tag
  for tag in "$name" "$name-stable" "$name-lts"; do
    docker push -q "$tag" >/dev/null
  done
}
export -f loop_test_one loop_push_one
loop_test() { # DIR PREFIX N
  seq 0 $(($3 - 1)) | xargs -P "$jobs" -I{} bash -c 'loop_test_one "$0" "$1" {}' "$1" "$2"
}
loop_push() { # PREFIX N
  seq 0 $(($2 - 1)) | xargs -P "$jobs" -I{} bash -c 'loop_push_one "$0" {}' "$1"
}
export -f loop_test loop_push
export jobs

st() { # DIR ARGS...: strata in DIR, its state there
  local dir=$1; shift
  (cd "$dir" && "$strata" "$@" -j "$jobs" -q --state-dir "$dir/.strata")
}
export -f st
export strata

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }
secs() { awk -v ms="$1" 'BEGIN { if (ms < 10000) printf "%.3f s", ms / 1000; else printf "%.1f s", ms / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }

# ---------------------------------------------------------------- matrix

matrix() {
  local n=$1 k d
  for k in $(seq 1 "$runs"); do
    echo "== $n images, run $k of $runs" >&2
    # strata
    remove_images "$ns/"
    d=$work/n$n-r$k-strata
    tree "$d" "$registry/$ns/n$n-r$k-strata" "$n"
    timed "$n.strata.cold_test" st "$d" test
    for _ in 1 2 3; do timed "$n.strata.noop_test" st "$d" test; done
    change_one "$d"
    timed "$n.strata.one_changed" st "$d" test
    timed "$n.strata.cold_push" st "$d" push
    for _ in 1 2 3; do timed "$n.strata.noop_push" st "$d" push; done
    # the shell loop, after the same clearing
    remove_images "$ns/"
    d=$work/n$n-r$k-loop
    tree "$d" "$registry/$ns/n$n-r$k-loop" "$n"
    local prefix="$registry/$ns/n$n-r$k-loop"
    timed "$n.loop.cold_test" loop_test "$d" "$prefix" "$n"
    for _ in 1 2 3; do timed "$n.loop.noop_test" loop_test "$d" "$prefix" "$n"; done
    change_one "$d"
    timed "$n.loop.one_changed" loop_test "$d" "$prefix" "$n"
    timed "$n.loop.cold_push" loop_push "$prefix" "$n"
    for _ in 1 2 3; do timed "$n.loop.noop_push" loop_push "$prefix" "$n"; done
    remove_images "$ns/"
  done
}

table() {
  local n=$1 row label l s
  echo
  echo "$n images (2 RUN layers, 1 test layer, 2 aliases each), -j $jobs, $engine, registry $registry; medians of $runs runs"
  echo
  echo "| | shell loop | strata | loop / strata | strata peak RSS | loop peak RSS |"
  echo "|---|---|---|---|---|---|"
  for row in cold_test noop_test one_changed cold_push noop_push; do
    case $row in
      cold_test) label="cold test" ;;
      noop_test) label="no-op test" ;;
      one_changed) label="one file changed" ;;
      cold_push) label="cold push" ;;
      noop_push) label="no-op push" ;;
    esac
    l=$(median "$work/$n.loop.$row" 1)
    s=$(median "$work/$n.strata.$row" 1)
    echo "| $label | $(secs "$l") | $(secs "$s") | $(ratio "$l" "$s") | $(mib "$(sort -n "$work/$n.strata.$row" -k2 | tail -1 | awk '{print $2}')") | $(mib "$(sort -n "$work/$n.loop.$row" -k2 | tail -1 | awk '{print $2}')") |"
  done
}

# ---------------------------------------------------------------- bases

bases_tree() { # DIR PREFIX
  local dir=$1 prefix=$2 b i
  mkdir -p "$dir/tests/layers"
  printf 'RUN test -s /l1\n' >"$dir/tests/layers/Dockerfile"
  echo "images:" >"$dir/inventory.yml"
  for b in 1 2 3 4 5; do
    mkdir -p "$dir/base/$b"
    printf 'FROM %s\nRUN sleep 4 && echo "base %s" > /base\n' "$base" "$b" >"$dir/base/$b/Dockerfile"
    cat >>"$dir/inventory.yml" <<EOF
  - name: "$prefix/os$b:base"
    path: "./base/$b"
EOF
    for i in $(seq 1 10); do
      mkdir -p "$dir/img/$b-$i"
      printf 'FROM %s\nRUN echo "image %s on %s" > /l1\n' "$prefix/os$b:base" "$i" "$b" >"$dir/img/$b-$i/Dockerfile"
      cat >>"$dir/inventory.yml" <<EOF
  - name: "$prefix/os$b:app$i"
    path: "./img/$b-$i"
    test: "./tests/layers"
EOF
    done
  done
}

bases() {
  local k d
  for k in $(seq 1 "$runs"); do
    echo "== 5 bases x 10 images, run $k of $runs" >&2
    remove_images "$ns/"
    d=$work/bases-r$k
    bases_tree "$d" "$ns/bases-r$k"
    timed bases.wall st "$d" test
    # The engine's time: every build and test step, from the event log.
    python3 - "$d/.strata/runs/latest/events.jsonl" "$jobs" >>"$work/bases.busy" <<'EOF'
import json, sys
total = 0.0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "step_finished":
        total += e["duration"]
print(round(total * 1000 / int(sys.argv[2])))
EOF
  done
  remove_images "$ns/"
  local wall busy
  wall=$(median "$work/bases.wall" 1)
  busy=$(median "$work/bases.busy" 1)
  echo
  echo "5 bases (each with a 4 s step) x 10 images, -j $jobs, $engine; medians of $runs runs"
  echo
  echo "| wall time | engine build and test time / jobs | wall / (engine time / jobs) |"
  echo "|---|---|---|"
  echo "| $(secs "$wall") | $(secs "$busy") | $(awk -v w="$wall" -v b="$busy" 'BEGIN { printf "%.2f", w / b }') |"
}

# ---------------------------------------------------------------- builders

# clear_caches: the benchmark's images, and on the dedicated engine BuildKit's
# build cache (on the shared engine other users' cache stays).
clear_caches() {
  remove_images "$ns/"
  if [ "$dedicated" = 1 ]; then
    docker builder prune -af >/dev/null 2>&1 || true
  fi
}

# builders_one N K TOOL BUILDER: cold, no-op (3 times), one changed, for one
# tool (strata or loop) and builder (buildkit or classic).
builders_one() {
  local n=$1 k=$2 tool=$3 builder=$4 d prefix key flag=0
  key="$n.$tool-$builder"
  clear_caches
  d=$work/b$n-r$k-$tool-$builder
  prefix="$registry/$ns/b$n-r$k-$tool-$builder"
  tree "$d" "$prefix" "$n"
  if [ "$tool" = strata ]; then
    timed "$key.cold_test" st "$d" test --builder "$builder"
    for _ in 1 2 3; do timed "$key.noop_test" st "$d" test --builder "$builder"; done
    requests "$key" st "$d" test --builder "$builder"
    change_one "$d"
    timed "$key.one_changed" st "$d" test --builder "$builder"
  else
    if [ "$builder" = buildkit ] && [ "$loop_buildkit" = 0 ]; then
      echo "bench-engine: no docker client here builds with BuildKit (23.0 and later need" \
        "the buildx plugin: apt-get install docker-buildx): no BuildKit loop figures" >&2
      return 0
    fi
    [ "$builder" = buildkit ] && flag=1
    export DOCKER_BUILDKIT=$flag
    timed "$key.cold_test" loop_test "$d" "$prefix" "$n"
    for _ in 1 2 3; do timed "$key.noop_test" loop_test "$d" "$prefix" "$n"; done
    change_one "$d"
    timed "$key.one_changed" loop_test "$d" "$prefix" "$n"
    export DOCKER_BUILDKIT=0
  fi
}

# requests KEY CMD...: runs CMD once more and appends to $work/KEY.requests
# the engine requests it made: "image lists, all" (dedicated engine only,
# from its debug log).
requests() {
  local key=$1 log=$work/engine/dockerd.log before lists all; shift
  [ "$dedicated" = 1 ] && [ -f "$log" ] || return 0
  before=$(wc -l <"$log")
  "$@" >/dev/null 2>&1
  lists=$(tail -n +"$((before + 1))" "$log" | grep -c 'Calling GET /\(v[0-9.]*/\)\?images/json' || true)
  all=$(tail -n +"$((before + 1))" "$log" | grep -c 'Calling [A-Z]* /' || true)
  echo "$lists $all" >>"$work/$key.requests"
}

builders() {
  local n k tool builder row label sb lb sc lc
  for n in $sizes; do
    for k in $(seq 1 "$runs"); do
      echo "== builders, $n images, run $k of $runs" >&2
      for tool in strata loop; do
        for builder in buildkit classic; do builders_one "$n" "$k" "$tool" "$builder"; done
      done
    done
    clear_caches
  done
  for n in $sizes; do
    echo
    echo "$n images (2 RUN layers, 1 test layer, 2 aliases each), -j $jobs, $engine; medians of $runs runs"
    echo "(each column builds images and test layers with its one builder)"
    echo
    echo "| | strata, BuildKit | loop, DOCKER_BUILDKIT=1 | strata, classic | loop, DOCKER_BUILDKIT=0 | BuildKit loop / strata |"
    echo "|---|---|---|---|---|---|"
    for row in cold_test noop_test one_changed; do
      case $row in
        cold_test) label="cold test" ;;
        noop_test) label="no-op test" ;;
        one_changed) label="one file changed" ;;
      esac
      sb=$(median "$work/$n.strata-buildkit.$row" 1)
      lb=$(median "$work/$n.loop-buildkit.$row" 1 2>/dev/null || true)
      sc=$(median "$work/$n.strata-classic.$row" 1)
      lc=$(median "$work/$n.loop-classic.$row" 1)
      echo "| $label | $(secs "$sb") | $(secs "$lb") | $(secs "$sc") | $(secs "$lc") | $(ratio "$lb" "$sb") |"
    done
    for builder in buildkit classic; do
      [ -f "$work/$n.strata-$builder.requests" ] || continue
      echo
      echo "strata's no-op test with $builder asked the engine: $(tail -1 "$work/$n.strata-$builder.requests" |
        awk '{print $1 " image list call(s), " $2 " requests in all"}')"
    done
  done
}

# ---------------------------------------------------------------- cache mount

# apt_tree DIR PREFIX N CACHE: N images on the Debian base, each installing
# the same packages after a layer of its own (so no image reuses another's
# install layer); CACHE is the cache mounts' ID prefix, or empty for none.
apt_tree() {
  local dir=$1 prefix=$2 n=$3 cache=$4 i mounts=
  mkdir -p "$dir/tests/tools"
  printf 'RUN curl --version >/dev/null && git --version >/dev/null\n' >"$dir/tests/tools/Dockerfile"
  echo "images:" >"$dir/inventory.yml"
  if [ -n "$cache" ]; then
    mounts="--mount=type=cache,id=$cache-lists,target=/var/lib/apt/lists,sharing=$apt_sharing"
    mounts="$mounts --mount=type=cache,id=$cache-archives,target=/var/cache/apt,sharing=$apt_sharing "
  fi
  for i in $(seq 0 $((n - 1))); do
    mkdir -p "$dir/img/$i"
    {
      printf 'FROM %s\n' "$apt_base"
      # The run's prefix (namespace, run, kind) in the layer: no run reuses another's
      # layers from the engine's build cache (kept on the shared engine).
      printf 'RUN echo "image %s of %s" > /image\n' "$i" "$prefix"
      printf 'RUN %srm -f /etc/apt/apt.conf.d/docker-clean && apt-get update -q' "$mounts"
      printf ' && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends'
      printf ' ca-certificates curl git\n'
    } >"$dir/img/$i/Dockerfile"
    cat >>"$dir/inventory.yml" <<EOT
  - name: "$prefix/apt:i$i"
    path: "./img/$i"
    test: "./tests/tools"
EOT
  done
}

cache_mount() {
  local k d kind cache row label with without
  docker image inspect "$apt_base" >/dev/null 2>&1 || {
    echo "bench-engine: $apt_base is not on the engine; make it with examples/node/make-bases.sh" >&2
    exit 3
  }
  if [ -n "$mirror_rate" ]; then
    command -v tc >/dev/null || { echo "bench-engine: --mirror-rate needs tc (apt-get install iproute2)" >&2; exit 3; }
    tc qdisc replace dev docker0 root tbf rate "$mirror_rate" burst 64kb latency 400ms || {
      echo "bench-engine: could not cap docker0 at $mirror_rate (needs root and the engine's default bridge)" >&2
      exit 3
    }
  fi
  # The mirror may sit behind a cache of its own: fetch the packages once,
  # untimed, so that neither kind pays for warming it.
  echo "== cache mount: warming the mirror" >&2
  docker run --rm "$apt_base" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --download-only --no-install-recommends ca-certificates curl git' >/dev/null
  local order
  for k in $(seq 1 "$runs"); do
    # The kinds take turns going first, run by run.
    order="mount plain"
    [ $((k % 2)) = 0 ] && order="plain mount"
    for kind in $order; do
      echo "== cache mount: $apt_images images, $kind, run $k of $runs" >&2
      clear_caches
      cache=
      [ "$kind" = mount ] && cache="$ns-r$k-apt"
      d=$work/apt-r$k-$kind
      apt_tree "$d" "$ns/apt-r$k-$kind" "$apt_images" "$cache"
      timed "apt.$kind.cold_test" st "$d" test --builder buildkit
      for _ in 1 2 3; do timed "apt.$kind.noop_test" st "$d" test --builder buildkit; done
      sed -i 's/"image 0 of/"image 0, changed, of/' "$d/img/0/Dockerfile"
      timed "apt.$kind.one_changed" st "$d" test --builder buildkit
    done
  done
  clear_caches
  echo
  echo "$apt_images images on $apt_base, each: apt-get update, then ca-certificates, curl and git installed (caches sharing=$apt_sharing)"
  [ -z "$mirror_rate" ] || echo "what the containers receive capped at $mirror_rate (tc on docker0)"
  echo "from the Debian mirror; 1 test layer each; strata --builder buildkit, -j $jobs, $engine; medians of $runs runs"
  echo
  echo "| | with the apt cache mounts | without | without / with |"
  echo "|---|---|---|---|"
  for row in cold_test noop_test one_changed; do
    case $row in
      cold_test) label="cold test" ;;
      noop_test) label="no-op test" ;;
      one_changed) label="one file changed" ;;
    esac
    with=$(median "$work/apt.mount.$row" 1)
    without=$(median "$work/apt.plain.$row" 1)
    echo "| $label | $(secs "$with") | $(secs "$without") | $(ratio "$without" "$with") |"
  done
}

# ---------------------------------------------------------------- main

[ "$dedicated" = 1 ] && start_engine
engine="Docker $(docker version --format '{{.Server.Version}}')"
case $mode in builders | cache_mount) ;; *) engine="$engine (classic builder)" ;; esac
if [ "$dedicated" = 1 ]; then
  engine="$engine, a dedicated engine"
else
  engine="$engine, the shared engine ($(docker images -q | wc -l) images)"
fi
make_base
case $mode in
  matrix)
    for n in $sizes; do matrix "$n"; done
    for n in $sizes; do table "$n"; done
    ;;
  bases) bases ;;
  builders) builders ;;
  cache_mount) cache_mount ;;
esac
