#!/usr/bin/env bash
# Installs the system tools Edition's local cluster and test tiers run, from Debian's
# packages, only when missing. Idempotent; safe to run on every CI run.
#
#   scripts/install-system-deps.sh                     # everything npm test needs
#   scripts/install-system-deps.sh redis-server etcd   # only these commands (npm run cluster)
#
# One row per tool: the command to look for, then the Debian package that provides it.
set -euo pipefail
TOOLS=(
  "redis-server redis-server"  # storage (npm run cluster, cluster and Redis tests)
  "etcd etcd-server"           # routing table (npm run cluster, cluster tests)
  "promtool prometheus"        # alert rule tests and the observability tier
  "chromium chromium"          # the demo page's browser test (headless)
  "firefox-esr firefox-esr"    # the Web Push tier: a real Firefox push client (headless)
  "certutil libnss3-tools"     # trusts the Web Push tier's test CA in Firefox's profile
  "openssl openssl"            # makes that test CA (and the local Kubernetes' PKI)
  # The local Kubernetes (scripts/kube): container runtime, CNI bridge, kube-proxy's iptables.
  "containerd containerd"
  "runc runc"
  "/usr/lib/cni/bridge containernetworking-plugins"
  "iptables iptables"
  "conntrack conntrack"
  "python3 python3"
  "curl curl"
  # Images without a Docker engine (scripts/images): buildah builds the Dockerfiles,
  # mmdebstrap the Debian bases, gcc (static libc) the pause program.
  "buildah buildah"
  "mmdebstrap mmdebstrap"
  "gcc gcc libc6-dev"
)
need=()
for row in "${TOOLS[@]}"; do
  read -r cmd pkgs <<<"$row"
  if [ $# -gt 0 ] && [[ " $* " != *" $cmd "* ]]; then continue; fi
  # shellcheck disable=SC2206 # a row may name several packages
  command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || need+=($pkgs)
done
if [ ${#need[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${need[*]} (Debian package names). This script installs them with apt-get;" >&2
    echo "on another system install redis-server, etcd, prometheus (promtool), chromium, firefox-esr, certutil (NSS tools), openssl, containerd, runc, CNI plugins, buildah, mmdebstrap yourself." >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${need[*]}" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the packaged services; tests start their own instances on ephemeral ports.
  for svc in redis-server etcd prometheus prometheus-node-exporter containerd; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi
