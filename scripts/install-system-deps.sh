#!/usr/bin/env bash
# Installs the backing services the test tiers start on loopback (redis-server, etcd, and
# Firefox ESR for the Web Push tier),
# from Debian's packages, only when missing. Idempotent; safe to run on every CI run.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The Web Push tier: a real Firefox, certutil to trust the test CA in its profile, openssl
# to make that CA.
command -v firefox-esr >/dev/null 2>&1 || need+=(firefox-esr)
command -v certutil >/dev/null 2>&1 || need+=(libnss3-tools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing system packages: ${need[*]}" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the packaged services; tests start their own instances on ephemeral ports.
  for svc in redis-server etcd prometheus prometheus-node-exporter; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi
