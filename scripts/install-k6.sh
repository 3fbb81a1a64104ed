#!/usr/bin/env bash
# Installs a pinned k6 (built from the Go module proxy) into a cache outside the repository,
# only when the right version is not already there. Prints the binary's path on stdout; all
# progress goes to stderr. Used by `.ci/run`, by `npm run loadtest` and by people.
#
#   scripts/install-k6.sh            # -> /root/.cache/edition/tools/k6
#   EDITION_TOOLS_DIR=/opt/t scripts/install-k6.sh
#
# Why v1.8.1: the newest release on the module proxy; it builds with the Go here (>= 1.25
# required) and ships `k6/websockets` (many sockets per VU) as a stable module.
set -euo pipefail

K6_VERSION="v1.8.1"
TOOLS_DIR="${EDITION_TOOLS_DIR:-$HOME/.cache/edition/tools}"
K6_BIN="$TOOLS_DIR/k6"

installed_version() {
  # `k6 version` prints e.g. "k6 v1.8.1 (commit/devel, go1.26.8, linux/amd64)".
  "$K6_BIN" version 2>/dev/null | awk 'NR == 1 { print $2 }'
}

if [ -x "$K6_BIN" ] && [ "$(installed_version)" = "$K6_VERSION" ]; then
  echo "$K6_BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || {
  echo "install-k6: Go is required (go install go.k6.io/k6@$K6_VERSION)" >&2
  exit 1
}

mkdir -p "$TOOLS_DIR"
echo "install-k6: building k6 $K6_VERSION into $TOOLS_DIR (first build takes minutes)" >&2
# Build into a temporary GOBIN and move into place, so an interrupted build never leaves a
# half-written binary that a later run would take for the cached one.
tmp_bin="$(mktemp -d "$TOOLS_DIR/.k6-build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT
GOBIN="$tmp_bin" GOFLAGS="${GOFLAGS:--buildvcs=false}" go install "go.k6.io/k6@$K6_VERSION" >&2
mv -f "$tmp_bin/k6" "$K6_BIN"

got="$(installed_version)"
if [ "$got" != "$K6_VERSION" ]; then
  echo "install-k6: built binary reports version '$got', expected $K6_VERSION" >&2
  exit 1
fi
echo "$K6_BIN"
