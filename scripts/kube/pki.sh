# Certificates and kubeconfigs of the local Kubernetes (sourced by scripts/kube/kube.sh).
# One CA; the API server's serving certificate; one admin client certificate
# (system:masters) that kubectl, the controller manager, the scheduler, the kubelet and
# kube-proxy all use — this is a single-user throw-away cluster on one machine, not a
# multi-tenant one; and the service-account signing key. Made once, kept in $PKI.

pki_make() {
  local node_ip="$1"
  [ -f "$PKI/.complete-$node_ip" ] && return 0
  rm -rf "$PKI"
  mkdir -p "$PKI"
  chmod 0700 "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -new -nodes -newkey rsa:2048 -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=edition-local-kubernetes-ca" 2>/dev/null
    cat >apiserver.ext <<EOF
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$node_ip,IP:127.0.0.1,IP:$SERVICE_API_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
    openssl req -new -nodes -newkey rsa:2048 -keyout apiserver.key -out apiserver.csr \
      -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver.crt -days 3650 -extfile apiserver.ext 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl req -new -nodes -newkey rsa:2048 -keyout admin.key -out admin.csr \
      -subj "/O=system:masters/CN=edition-local-admin" 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out admin.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext ca.srl
  )
  touch "$PKI/.complete-$node_ip"
}

# kubeconfig_write FILE SERVER
kubeconfig_write() {
  local file="$1" server="$2"
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: edition-local
    cluster:
      server: $server
      certificate-authority: $PKI/ca.crt
users:
  - name: admin
    user:
      client-certificate: $PKI/admin.crt
      client-key: $PKI/admin.key
contexts:
  - name: edition-local
    context: { cluster: edition-local, user: admin }
current-context: edition-local
EOF
  chmod 0600 "$file"
}
