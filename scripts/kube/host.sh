# What the local Kubernetes changes on the host, saved on `up` and put back on `down`
# (sourced by scripts/kube/kube.sh): sysctls the kubelet, kube-proxy and we set; iptables
# rules (only the KUBE-*/CNI-* chains and the rules that jump to them are removed, so rules
# others added meanwhile stay); the CNI bridge; the pod network namespaces; the node address
# on lo; mounts and cgroups left by pods.

# The kubelet sets vm.overcommit_memory, vm.panic_on_oom, kernel.panic, kernel.panic_on_oops
# and the kernel.keys quotas; kube-proxy sets route_localnet; we set ip_forward and
# bridge-nf-call-iptables (Service traffic between pods on the same bridge).
HOST_SYSCTLS=(
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.ipv4.conf.all.route_localnet net.ipv4.ip_forward
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
)

host_save() {
  local saved="$HOST_DIR/sysctls" s v
  mkdir -p "$HOST_DIR"
  # A saved state from a `up` whose `down` never ran is the true original: keep it.
  if [ ! -f "$saved" ]; then
    : >"$saved.tmp"
    for s in "${HOST_SYSCTLS[@]}"; do
      v="$(sysctl -n "$s" 2>/dev/null)" || continue
      echo "$s=$v" >>"$saved.tmp"
    done
    iptables-save >"$HOST_DIR/iptables.before" 2>/dev/null || true
    ip6tables-save >"$HOST_DIR/ip6tables.before" 2>/dev/null || true
    ls /var/run/netns 2>/dev/null | sort >"$HOST_DIR/netns.before" || true
    mv "$saved.tmp" "$saved"
  fi
}

# Removes our chains and every rule that mentions them from one family's tables.
iptables_strip() {
  local save="$1" restore="$2" dump
  dump="$($save 2>/dev/null)" || return 0
  grep -qE 'KUBE-|CNI-' <<<"$dump" || return 0
  grep -vE '^:(KUBE-|CNI-)|^-A (KUBE-|CNI-)|-j (KUBE-|CNI-)' <<<"$dump" | $restore
}

host_restore() {
  local saved="$HOST_DIR/sysctls" line ns
  iptables_strip iptables-save iptables-restore || log "could not clean iptables (see iptables-save)"
  iptables_strip ip6tables-save ip6tables-restore || log "could not clean ip6tables"
  # Pod network namespaces our containerd created (named cni-<uuid>) that existed not before.
  for ns in $(ls /var/run/netns 2>/dev/null); do
    case "$ns" in cni-*) ;; *) continue ;; esac
    if ! grep -qx "$ns" "$HOST_DIR/netns.before" 2>/dev/null; then
      ip netns delete "$ns" 2>/dev/null || true
    fi
  done
  ip link delete "$CNI_BRIDGE" 2>/dev/null || true
  ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
  if [ -f "$saved" ]; then
    while IFS= read -r line; do
      sysctl -qw "$line" >/dev/null 2>&1 || log "could not restore $line"
    done <"$saved"
    rm -f "$saved"
  fi
}

# Unmounts everything mounted below a directory (deepest first).
unmount_below() {
  local dir="$1" m
  awk -v d="$dir/" '{ gsub(/\\040/, " ", $5); if (index($5 "/", d) == 1) print $5 }' /proc/self/mountinfo |
    sort -r | while IFS= read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# Removes the pod cgroups the kubelet made (cgroupfs driver, cgroup v1), deepest first.
remove_pod_cgroups() {
  local c
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}
