/**
 * Pod templates for push nodes and balancers. Every setting reaches the process as an
 * `EDITION_*` environment variable (server/src/config.ts rejects unknown ones, so nothing
 * else is added under that prefix). Per-pod values use Kubernetes' `$(VAR)` expansion of
 * earlier variables, so one template serves every ordinal.
 */
import type { PushClusterSpec, RegionSpec } from "./crd.js";
import { ANNOTATION_SECRETS_HASH, labels, regionsConfigMap, routerService } from "./names.js";

export const PORTS = { ws: 8080, router: 8081, metrics: 9464 } as const;
export const REGIONS_MOUNT = "/etc/edition/regions";
export const ROUTER_TLS_MOUNT = "/etc/edition/router-tls";

export interface SecretRefs {
  readonly clusterSecret: { readonly name: string; readonly key: string };
  readonly tokenKeys: { readonly name: string; readonly key: string };
  /** The router's TLS Secret (`security.routerTls.secretName`), when set. */
  readonly routerTls?: string | undefined;
  /** Hash of the secret values: a change rolls the pods. */
  readonly hash: string;
}

export interface TemplateInput {
  readonly cluster: string;
  readonly namespace: string;
  readonly spec: PushClusterSpec;
  readonly region: RegionSpec;
  readonly secrets: SecretRefs;
}

type Env = { name: string; value?: string; valueFrom?: Record<string, unknown> };

const secretEnv = (name: string, ref: { name: string; key: string }): Env => ({
  name,
  valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } },
});

/** `redis://host` → `redis://:$(REDIS_PASSWORD)@host` when a password Secret is given. */
export function redisUrl(url: string, withPassword: boolean): string {
  if (!withPassword) return url;
  return url.replace(/^(rediss?:\/\/)(?:[^@/]*@)?/, "$1:$(REDIS_PASSWORD)@");
}

function commonEnv(t: TemplateInput, role: "node" | "balancer"): Env[] {
  const { spec, region: r } = t;
  const env: Env[] = [
    { name: "EDITION_ROLE", value: role },
    { name: "EDITION_NODE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    // Metrics and the router listen on the pod IP (the node's default is loopback): other
    // pods and Prometheus reach them there, nothing outside the pod network does.
    { name: "EDITION_INTERNAL_HOST", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
    { name: "EDITION_REGION", value: r.name },
    { name: "EDITION_PORT", value: String(PORTS.ws) },
    { name: "EDITION_METRICS_PORT", value: String(PORTS.metrics) },
    { name: "EDITION_ETCD_ENDPOINTS", value: r.etcd.endpoints.join(",") },
    { name: "EDITION_ETCD_PREFIX", value: r.etcd.prefix },
    secretEnv("EDITION_CLUSTER_SECRET", t.secrets.clusterSecret),
    { name: "EDITION_LOG_LEVEL", value: spec.logLevel },
  ];
  if (r.publicUrl) env.push({ name: "EDITION_PUBLIC_URL", value: r.publicUrl });
  if (spec.idleTimeoutSeconds !== undefined)
    env.push({ name: "EDITION_IDLE_TIMEOUT_SECONDS", value: String(spec.idleTimeoutSeconds) });
  return env;
}

function nodeEnv(t: TemplateInput): Env[] {
  const { spec, region: r, cluster, namespace } = t;
  const pw = r.redis.passwordSecretRef;
  const env: Env[] = [];
  // Declared first: EDITION_REDIS_URL below expands it.
  if (pw) env.push(secretEnv("REDIS_PASSWORD", pw));
  env.push(...commonEnv(t, "node"));
  const wsUrl = (
    r.nodeServices.urlTemplate ?? `ws://{node}.${namespace}.svc:${r.nodeServices.port}`
  ).replaceAll("{node}", "$(EDITION_NODE_ID)");
  env.push(
    { name: "EDITION_ROUTER_PORT", value: String(PORTS.router) },
    { name: "EDITION_ADVERTISE_WS_URL", value: wsUrl },
    {
      // host:port, no scheme: the router speaks its own TCP protocol (server/src/config.ts).
      name: "EDITION_ROUTER_URL",
      value: `$(EDITION_NODE_ID).${routerService(cluster, r.name)}.${namespace}.svc:${PORTS.router}`,
    },
    { name: "EDITION_REDIS_URL", value: redisUrl(r.redis.url, pw !== undefined) },
    { name: "EDITION_REDIS_MODE", value: r.redis.mode },
  );
  if (r.redis.sentinels?.length)
    env.push({ name: "EDITION_REDIS_SENTINELS", value: r.redis.sentinels.join(",") });
  if (r.redis.sentinelName)
    env.push({ name: "EDITION_REDIS_SENTINEL_NAME", value: r.redis.sentinelName });
  env.push(
    secretEnv("EDITION_TOKEN_KEYS", t.secrets.tokenKeys),
    { name: "EDITION_MAX_CONNECTIONS", value: String(r.nodes.maxConnections) },
    { name: "EDITION_DRAIN_DEADLINE_SECONDS", value: String(drainDeadline(spec)) },
    { name: "EDITION_DRAIN_RATE", value: String(spec.drain.rate) },
  );
  if (t.secrets.routerTls !== undefined)
    env.push(
      { name: "EDITION_ROUTER_TLS_CERT", value: `${ROUTER_TLS_MOUNT}/tls.crt` },
      { name: "EDITION_ROUTER_TLS_KEY", value: `${ROUTER_TLS_MOUNT}/tls.key` },
      { name: "EDITION_ROUTER_TLS_CA", value: `${ROUTER_TLS_MOUNT}/ca.crt` },
    );
  // Only when not the default, so clusters that do not use it keep their pod templates.
  if (spec.durability.mode !== "region" || spec.durability.timeoutMilliseconds !== 500)
    env.push(
      { name: "EDITION_DURABILITY", value: spec.durability.mode },
      {
        name: "EDITION_DURABILITY_TIMEOUT_MS",
        value: String(spec.durability.timeoutMilliseconds),
      },
    );
  return env;
}

export const drainDeadline = (spec: PushClusterSpec): number =>
  spec.drain.deadlineSeconds ?? spec.rollout.drainTimeoutSeconds;

const probes = {
  readinessProbe: {
    // /ready answers 200 only once the node is a member of the slot table.
    httpGet: { path: "/ready", port: "metrics" },
    periodSeconds: 5,
    failureThreshold: 2,
  },
  livenessProbe: {
    httpGet: { path: "/health", port: "metrics" },
    periodSeconds: 10,
    failureThreshold: 6,
  },
};

/**
 * The "restricted" Pod Security Standard, so node and balancer pods are admitted in a
 * namespace labelled `pod-security.kubernetes.io/enforce=restricted`: non-root, no
 * privilege escalation, every capability dropped, the runtime's default seccomp profile.
 * The root filesystem is read-only: the server writes nothing but stdout.
 */
const securityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

/** The image's own user (Dockerfile: USER 1000:1000), as the operator's chart pod uses. */
const podSecurityContext = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  seccompProfile: { type: "RuntimeDefault" },
};

export function podTemplate(
  t: TemplateInput,
  role: "node" | "balancer",
  zone: string,
): Record<string, unknown> {
  const { spec, region: r, cluster } = t;
  const ports = [
    { name: "ws", containerPort: PORTS.ws, protocol: "TCP" },
    ...(role === "node" ? [{ name: "router", containerPort: PORTS.router, protocol: "TCP" }] : []),
    { name: "metrics", containerPort: PORTS.metrics, protocol: "TCP" },
  ];
  const podLabels = labels(cluster, role, r.name, zone);
  const container: Record<string, unknown> = {
    name: role,
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    env: role === "node" ? nodeEnv(t) : commonEnv(t, "balancer"),
    ports,
    ...probes,
    securityContext,
    volumeMounts: [
      { name: "regions", mountPath: REGIONS_MOUNT, readOnly: true },
      // The root filesystem is read-only; Node and its libraries may still want a /tmp.
      { name: "tmp", mountPath: "/tmp" },
    ],
  };
  if (role === "node" && r.nodes.resources) container.resources = r.nodes.resources;
  const routerTls = role === "node" ? t.secrets.routerTls : undefined;
  if (routerTls !== undefined)
    (container.volumeMounts as unknown[]).push({
      name: "router-tls",
      mountPath: ROUTER_TLS_MOUNT,
      readOnly: true,
    });
  const podSpec: Record<string, unknown> = {
    containers: [container],
    // SIGTERM starts the drain; the kubelet must not kill the node before its deadline.
    terminationGracePeriodSeconds: role === "node" ? drainDeadline(spec) + 15 : 30,
    enableServiceLinks: false,
    // Nodes and balancers never call the Kubernetes API (region state arrives as a mounted
    // ConfigMap), so they get no token a compromised pod could use.
    automountServiceAccountToken: false,
    securityContext: podSecurityContext,
    volumes: [
      { name: "regions", configMap: { name: regionsConfigMap(cluster), optional: true } },
      { name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
    ],
    topologySpreadConstraints: [
      {
        maxSkew: r.topologySpread.maxSkew,
        topologyKey: zone ? "kubernetes.io/hostname" : "topology.kubernetes.io/zone",
        whenUnsatisfiable: r.topologySpread.whenUnsatisfiable,
        labelSelector: { matchLabels: { ...selectorOf(podLabels) } },
      },
    ],
  };
  if (routerTls !== undefined)
    (podSpec.volumes as unknown[]).push({
      name: "router-tls",
      // Readable by the image's group only (fsGroup 1000): the key is in it.
      secret: { secretName: routerTls, defaultMode: 0o440 },
    });
  if (zone) {
    podSpec.affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: "topology.kubernetes.io/zone", operator: "In", values: [zone] },
              ],
            },
          ],
        },
      },
    };
  }
  if (r.nodeSelector) podSpec.nodeSelector = r.nodeSelector;
  if (r.tolerations) podSpec.tolerations = r.tolerations;
  return {
    metadata: { labels: podLabels, annotations: { [ANNOTATION_SECRETS_HASH]: t.secrets.hash } },
    spec: podSpec,
  };
}

function selectorOf(l: Record<string, string>): Record<string, string> {
  const { "app.kubernetes.io/name": _n, "app.kubernetes.io/managed-by": _m, ...rest } = l;
  return rest;
}
