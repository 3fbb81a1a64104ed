#!/usr/bin/env bash
# A real single-node Kubernetes on this machine, from real components:
#
#   etcd (Debian) · kube-apiserver · kube-controller-manager · kube-scheduler · kubelet ·
#   kube-proxy (iptables mode) · CoreDNS (a pod) — Kubernetes built from the Go module proxy
#   by scripts/install-kube-tools.sh — and containerd + runc + the CNI bridge plugin (Debian).
#
#   npm run kube -- up        start it (or find it running); prints `KEY=value` lines to eval
#   npm run kube -- status    what runs, the node, the pods
#   npm run kube -- env       the `KEY=value` lines (KUBECONFIG, KUBECTL, HELM, CTR_ADDRESS)
#   npm run kube -- down      stop it, remove its pods, interfaces and rules, restore the host
#
# Needs root (containerd, the kubelet and kube-proxy change the host), cgroup v1 or v2.
# State lives outside the repository in $EDITION_KUBE_DIR (default ~/.cache/edition/kube);
# images loaded into its containerd survive `down`, the cluster's own state does not.
# docs/local-kubernetes.md explains the choices (node address, pause image, OOM score, …).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KUBE_DIR="${EDITION_KUBE_DIR:-$HOME/.cache/edition/kube}"
TOOLS_DIR="${EDITION_TOOLS_DIR:-$HOME/.cache/edition/tools}"
export EDITION_TOOLS_DIR="$TOOLS_DIR"

# The node's address: on lo, so it never leaves the machine, yet routable from the pods
# (their default route is the bridge, and the host answers for every local address). The
# API server listens here, not on 127.0.0.1, because pods reach it through the kubernetes
# Service, whose endpoint must be an address they can route to.
NODE_IP="${EDITION_KUBE_NODE_IP:-10.250.0.1}"
NODE_NAME="edition-local"
ZONE="local-a"                           # topology.kubernetes.io/zone of the node
POD_CIDR="10.244.0.0/24"
SERVICE_CIDR="10.96.0.0/16"
SERVICE_API_IP="10.96.0.1"
DNS_IP="10.96.0.10"
CNI_BRIDGE="ekube0"
PAUSE_IMAGE="edition.local/pause:3.10"

PKI="$KUBE_DIR/pki"
RUN="$KUBE_DIR/run"                      # this cluster's life: pids, sockets, configs
LOGS="$KUBE_DIR/logs"
HOST_DIR="$KUBE_DIR/host"                # what the host looked like before `up`
CONTAINERD_ROOT="$KUBE_DIR/containerd"   # images (kept across up/down)
KUBELET_DIR="$KUBE_DIR/kubelet"
ETCD_DIR="$KUBE_DIR/etcd"
SOCK="$RUN/containerd.sock"
KUBECONFIG_FILE="$KUBE_DIR/kubeconfig"
KUBECTL="$TOOLS_DIR/kubectl"
HELM="$TOOLS_DIR/helm"

log() { echo "kube: $*" >&2; }
die() { log "$*"; exit 1; }

# shellcheck source=scripts/kube/pki.sh
. "$HERE/pki.sh"
# shellcheck source=scripts/kube/host.sh
. "$HERE/host.sh"

kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }
now_ms() { date +%s%3N; }

# A free TCP port on an address (the kernel picks it; no fixed ports).
free_port() {
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1]); s.close()' "$1"
}

# wait_for SECONDS WHAT COMMAND…: polls COMMAND every 0.2 s until it succeeds or time is up.
wait_for() {
  local limit="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${limit}s waiting for $what"; return 1; }
    sleep 0.2
  done
}

pid_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# start NAME BINARY ARGS…: runs a component in its own session, output to $LOGS/NAME.log.
start() {
  local name="$1"
  shift
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# stop SECONDS NAME…: SIGTERM to the recorded pids, SIGKILL to those left after the grace time.
stop() {
  local grace="$1" name pid pids=()
  shift
  for name in "$@"; do
    [ -f "$RUN/$name.pid" ] || continue
    pid="$(cat "$RUN/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  local deadline=$((SECONDS + grace))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  done
  for name in "$@"; do rm -f "$RUN/$name.pid"; done
}

COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

running() {
  local c
  for c in "${COMPONENTS[@]}"; do pid_alive "$c" || return 1; done
  api_ready
}

api_ready() { kc get --raw /readyz >/dev/null 2>&1; }
containerd_ready() { ctr --address "$SOCK" version >/dev/null 2>&1; }

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

print_env() {
  echo "KUBECONFIG=$KUBECONFIG_FILE"
  echo "KUBECTL=$KUBECTL"
  echo "HELM=$HELM"
  echo "CTR_ADDRESS=$SOCK"
  echo "NODE_IP=$NODE_IP"
}

# ---- configuration files ---------------------------------------------------------------

write_configs() {
  local api_port="$1" kubelet_port="$2" proxy_metrics_port="$3"
  kubeconfig_write "$KUBECONFIG_FILE" "https://$NODE_IP:$api_port"

  mkdir -p "$RUN/cni/net.d" "$RUN/cni/ipam" "$RUN/containerd-state"
  cat >"$RUN/cni/net.d/10-edition.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "edition-kube",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$RUN/cni/ipam"
      }
    }
  ]
}
EOF

  # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so runc may not lower a
  # container's oom_score_adj below its own; without it every pod sandbox fails to start
  # ("can't get final child's PID from pipe"). sandbox_image: the pause image built from
  # images/pause (no registry to pull registry.k8s.io/pause from).
  cat >"$RUN/containerd.toml" <<EOF
version = 2
root = "$CONTAINERD_ROOT"
state = "$RUN/containerd-state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/net.d"
EOF

  # cgroupfs + failCgroupV1: false: this machine has cgroup v1 and no systemd. Image GC and
  # disk eviction are effectively off: the images here cannot be pulled back.
  cat >"$RUN/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $kubelet_port
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: AlwaysAllow }
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$SOCK
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
serializeImagePulls: false
podLogsDir: $KUBE_DIR/pod-logs
maxPods: 110
syncFrequency: 10s
fileCheckFrequency: 20s
nodeStatusUpdateFrequency: 5s
EOF

  # nodePortAddresses: loopback and the node address only, never this machine's external
  # interfaces; localhost NodePorts make 127.0.0.1:<nodePort> reach a Service (kube-proxy
  # sets route_localnet for it). conntrack: leave the host's limits and timeouts alone.
  cat >"$RUN/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $KUBECONFIG_FILE }
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: ""
metricsBindAddress: 127.0.0.1:$proxy_metrics_port
nodePortAddresses: ["127.0.0.0/8", "$NODE_IP/32"]
iptables: { localhostNodePorts: true }
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
}

# ---- up ----------------------------------------------------------------------------------

ensure_tools() {
  local t
  for t in containerd runc ctr etcd iptables openssl python3 ip; do
    command -v "$t" >/dev/null 2>&1 || die "$t missing: run scripts/install-system-deps.sh"
  done
  [ -x /usr/lib/cni/bridge ] || die "CNI plugins missing: run scripts/install-system-deps.sh"
  bash "$ROOT/scripts/install-kube-tools.sh" node >/dev/null
}

up() {
  [ "$(id -u)" = 0 ] || die "needs root (containerd, kubelet and kube-proxy change the host)"
  if running && node_ready; then
    log "already running"
    print_env
    return 0
  fi
  # Anything half-started by an earlier run goes first.
  [ -d "$RUN" ] && down_quiet
  ensure_tools
  local t0 started
  t0="$(now_ms)"
  mkdir -p "$RUN" "$LOGS" "$CONTAINERD_ROOT" "$KUBE_DIR/pod-logs"
  : >"$LOGS/up.log"
  for c in "${COMPONENTS[@]}"; do : >"$LOGS/$c.log"; done
  host_save

  # Host settings the components need; all saved above and restored by `down`.
  ip addr add "$NODE_IP/32" dev lo 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || log "no br_netfilter: Service traffic between pods may fail"

  pki_make "$NODE_IP"
  local api_port kubelet_port proxy_metrics_port etcd_port etcd_peer_port
  api_port="$(free_port "$NODE_IP")"
  kubelet_port="$(free_port "$NODE_IP")"
  proxy_metrics_port="$(free_port 127.0.0.1)"
  etcd_port="$(free_port 127.0.0.1)"
  etcd_peer_port="$(free_port 127.0.0.1)"
  write_configs "$api_port" "$kubelet_port" "$proxy_metrics_port"

  start containerd containerd --config "$RUN/containerd.toml"
  rm -rf "$ETCD_DIR"
  start etcd etcd --name edition-local --data-dir "$ETCD_DIR" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "edition-local=http://127.0.0.1:$etcd_peer_port" \
    --quota-backend-bytes 2147483648 --log-level warn
  wait_for 30 containerd containerd_ready || die "containerd did not start: $LOGS/containerd.log"
  # The pause and CoreDNS images must be in containerd before the first pod.
  bash "$ROOT/scripts/images/build.sh" --load pause coredns >/dev/null

  wait_for 30 etcd curl -fsS "http://127.0.0.1:$etcd_port/health" || die "etcd did not start: $LOGS/etcd.log"
  start kube-apiserver "$TOOLS_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$api_port" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --kubelet-client-certificate "$PKI/admin.crt" --kubelet-client-key "$PKI/admin.key" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --allow-privileged=true --profiling=false \
    --kubelet-preferred-address-types InternalIP \
    --enable-priority-and-fairness=false --v=1
  wait_for 180 "the API server" api_ready || die "kube-apiserver did not become ready: $LOGS/kube-apiserver.log"

  start kube-controller-manager "$TOOLS_DIR/kube-controller-manager" \
    --kubeconfig "$KUBECONFIG_FILE" --secure-port 0 --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
    --controllers '*,-nodeipam,-bootstrapsigner,-tokencleaner' --profiling=false --v=1
  start kube-scheduler "$TOOLS_DIR/kube-scheduler" \
    --kubeconfig "$KUBECONFIG_FILE" --secure-port 0 --leader-elect=false --profiling=false --v=1
  start kube-proxy "$TOOLS_DIR/kube-proxy" --config "$RUN/kube-proxy.yaml" --v=1
  start kubelet "$TOOLS_DIR/kubelet" \
    --config "$RUN/kubelet.yaml" --kubeconfig "$KUBECONFIG_FILE" \
    --root-dir "$KUBELET_DIR" --cert-dir "$RUN/kubelet-pki" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --node-labels "topology.kubernetes.io/zone=$ZONE,topology.kubernetes.io/region=local" --v=1

  wait_for 180 "the node to be Ready" node_ready || die "node not Ready: $LOGS/kubelet.log"
  local ready_ms=$(($(now_ms) - t0))

  # Cluster DNS: CoreDNS built here, as a Deployment behind the kube-dns Service.
  sed -e "s#@DNS_IP@#$DNS_IP#g" "$HERE/coredns.yaml" | kc apply -f - >/dev/null
  kc -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null ||
    die "CoreDNS did not become available (kubectl -n kube-system describe pod -l k8s-app=kube-dns)"
  local total_ms=$(($(now_ms) - t0))
  log "node Ready in $((ready_ms / 1000)).$(((ready_ms % 1000) / 100))s, DNS ready at $((total_ms / 1000)).$(((total_ms % 1000) / 100))s (KUBECONFIG=$KUBECONFIG_FILE)"
  echo "node-ready-ms=$ready_ms dns-ready-ms=$total_ms" >>"$LOGS/up.log"
  print_env
}

# ---- down --------------------------------------------------------------------------------

down_quiet() {
  # 1. No new pods: stop the controllers and the scheduler first.
  stop 10 kube-controller-manager kube-scheduler
  # 2. Let the kubelet stop the pods properly (stopping a sandbox runs the CNI DEL that
  #    frees its address and rules); their containers are removed below.
  if pid_alive kubelet && api_ready; then
    kc delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 60))
    while [ "$SECONDS" -lt "$deadline" ] && [ -n "$(ctr_ tasks ls -q 2>/dev/null)" ]; do sleep 0.2; done
  fi
  stop 15 kubelet kube-proxy
  # 3. Whatever is left in containerd: kill and remove it.
  if containerd_ready; then
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete --force "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  stop 15 kube-apiserver
  stop 15 etcd containerd
  # 4. The host as it was.
  unmount_below "$KUBELET_DIR"
  unmount_below "$RUN"
  unmount_below "$CONTAINERD_ROOT"
  remove_pod_cgroups
  host_restore
  rm -rf "$RUN" "$KUBELET_DIR" "$ETCD_DIR" "$KUBE_DIR/pod-logs"
}

down() {
  [ "$(id -u)" = 0 ] || die "needs root"
  if [ ! -d "$RUN" ] && [ ! -f "$HOST_DIR/sysctls" ]; then
    log "not running"
    return 0
  fi
  local t0
  t0="$(now_ms)"
  down_quiet
  log "stopped and cleaned up in $((($(now_ms) - t0) / 1000))s"
}

status() {
  local c rss total=0
  for c in "${COMPONENTS[@]}"; do
    if pid_alive "$c"; then
      rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$(cat "$RUN/$c.pid")/status")"
      total=$((total + rss))
      printf '%-24s running  pid %-8s rss %5d MiB\n' "$c" "$(cat "$RUN/$c.pid")" $((rss / 1024))
    else
      printf '%-24s stopped\n' "$c"
    fi
  done
  printf '%-24s          %-12s rss %5d MiB\n' total "" $((total / 1024))
  if api_ready; then
    kc get nodes -o wide
    kc get pods --all-namespaces -o wide
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  # For scripts/images/build.sh --load.
  containerd-socket) echo "$SOCK" ;;
  containerd-up) containerd_ready ;;
  *) echo "usage: npm run kube -- up|down|status|env" >&2; exit 2 ;;
esac
