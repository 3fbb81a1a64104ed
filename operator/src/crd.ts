/**
 * The PushCluster resource, written once. The CRD in the chart
 * (charts/edition/crds/pushclusters.edition.dev.yaml) is generated from `pushClusterCrd()`
 * by `gen-crd.ts`; `crd.test.ts` fails when that file is stale. The spec type the operator
 * works with is inferred from the same schema.
 */
import {
  arr,
  bool,
  type Infer,
  int,
  type JSONSchemaProps,
  num,
  obj,
  oneOf,
  optional,
  passthrough,
  record,
  str,
} from "./schema.js";

export const GROUP = "edition.dev";
export const VERSION = "v1alpha1";
export const KIND = "PushCluster";
export const PLURAL = "pushclusters";
export const API_VERSION = `${GROUP}/${VERSION}`;

const DNS_LABEL = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";

const secretKeyRef = (defaultKey: string, description: string) =>
  obj(
    {
      name: str({ description: "Secret name, in the PushCluster's namespace.", minLength: 1 }),
      key: str({ description: "Key inside the Secret.", default: defaultKey }),
    },
    { description },
  );

const serviceType = oneOf(["ClusterIP", "NodePort", "LoadBalancer"], { default: "ClusterIP" });

const region = obj(
  {
    name: str({
      description: "Region name (DNS label): part of object names, etcd keys and tokens.",
      pattern: DNS_LABEL,
      maxLength: 20,
    }),
    nodes: obj({
      replicas: optional(
        int({ minimum: 0, description: "Push node pods in this region (default: spec.replicas)." }),
      ),
      maxReplicas: optional(
        int({
          minimum: 0,
          description: "Upper bound when failover adds capacity here (default: no extra nodes).",
        }),
      ),
      maxConnections: int({ default: 100000, minimum: 1, description: "Sockets per node." }),
      resources: optional(passthrough<Record<string, unknown>>({ type: "object" })),
    }),
    zones: optional(
      arr(str({ pattern: DNS_LABEL, maxLength: 20 }), {
        description:
          "Zones (topology.kubernetes.io/zone values) to spread nodes over: one StatefulSet per zone, so rollouts are paced per zone. Empty: one StatefulSet spread by hostname.",
        "x-kubernetes-list-type": "set",
      }),
    ),
    nodeSelector: optional(record(str())),
    tolerations: optional(passthrough<readonly Record<string, unknown>[]>({ type: "array" })),
    topologySpread: obj({
      maxSkew: int({ default: 1, minimum: 1 }),
      whenUnsatisfiable: oneOf(["ScheduleAnyway", "DoNotSchedule"], { default: "ScheduleAnyway" }),
    }),
    balancer: obj({ replicas: int({ default: 2, minimum: 0 }) }),
    etcd: obj({
      endpoints: arr(str({ minLength: 1 }), {
        minItems: 1,
        description: "This region's etcd client URLs (routing table, members, region state).",
      }),
      prefix: str({ default: "/edition", pattern: "^/.*[^/]$|^/$" }),
    }),
    redis: obj({
      url: str({ description: "redis:// URL without a password.", pattern: "^rediss?://" }),
      mode: oneOf(["standalone", "sentinel", "cluster"], { default: "standalone" }),
      sentinels: optional(arr(str())),
      sentinelName: optional(str()),
      passwordSecretRef: optional(secretKeyRef("password", "Redis password (URL-safe).")),
    }),
    failoverPriority: int({
      default: 100,
      minimum: 0,
      description: "When another region fails, higher-priority survivors take its capacity first.",
    }),
    publicUrl: optional(str({ description: "Base of endpoint URLs minted in this region." })),
    service: obj({
      type: serviceType,
      annotations: optional(record(str())),
    }),
    nodeServices: obj({
      type: serviceType,
      annotations: optional(
        record(str(), { description: "`{node}` is replaced by the pod name." }),
      ),
      urlTemplate: optional(
        str({
          description:
            "Public WebSocket URL of one node, `{node}` replaced by the pod name (default: the per-node Service's cluster DNS name).",
        }),
      ),
    }),
  },
  {
    "x-kubernetes-validations": [
      {
        rule: "!has(self.nodes.maxReplicas) || !has(self.nodes.replicas) || self.nodes.maxReplicas >= self.nodes.replicas",
        message: "nodes.maxReplicas must be at least nodes.replicas",
      },
    ],
  },
);

export const specSchema = obj({
  image: str({ minLength: 1, description: "Push node image." }),
  imagePullPolicy: oneOf(["Always", "IfNotPresent", "Never"], { default: "IfNotPresent" }),
  replicas: int({
    default: 3,
    minimum: 0,
    description: "Node replicas per region unless a region sets its own (the scale subresource).",
  }),
  regions: arr(region, {
    minItems: 1,
    maxItems: 16,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
  }),
  failover: obj({
    mode: oneOf(["Automatic", "Manual"], { default: "Automatic" }),
    detectionDelaySeconds: int({ default: 60, minimum: 0 }),
    minHealthyRatio: num({ default: 0.5, minimum: 0, maximum: 1 }),
    maxReHomeRate: int({
      default: 1000,
      minimum: 1,
      description: "Connections per second moved back into a recovering region.",
    }),
  }),
  rollout: obj({
    maxUnavailablePerZone: int({ default: 1, minimum: 1 }),
    drainTimeoutSeconds: int({ default: 300, minimum: 0, maximum: 86400 }),
  }),
  security: obj({
    clusterSecretRef: optional(
      secretKeyRef("cluster-secret", "Internal router secret; generated when absent."),
    ),
    tokenKeys: obj({
      secretRef: optional(
        secretKeyRef(
          "token-keys",
          "`<id>:<base64 32 bytes>,…`, newest first; generated when absent.",
        ),
      ),
      keep: int({
        default: 3,
        minimum: 1,
        maximum: 16,
        description: "Generated keys kept after rotation.",
      }),
    }),
  }),
  drain: obj({
    deadlineSeconds: optional(
      int({ minimum: 0, description: "Default: rollout.drainTimeoutSeconds." }),
    ),
    rate: int({
      default: 1000,
      minimum: 1,
      description: "Sockets closed per second while draining.",
    }),
  }),
  logLevel: oneOf(["fatal", "error", "warn", "info", "debug", "trace"], { default: "info" }),
  paused: bool({ default: false, description: "Stop reconciling (status is still reported)." }),
});

export type PushClusterSpec = Infer<typeof specSchema>;
export type RegionSpec = PushClusterSpec["regions"][number];

export const condition: JSONSchemaProps = obj({
  type: str(),
  status: oneOf(["True", "False", "Unknown"]),
  observedGeneration: optional(int()),
  lastTransitionTime: str({ format: "date-time" }),
  reason: str(),
  message: optional(str()),
}).json;

const statusSchema: JSONSchemaProps = {
  type: "object",
  "x-kubernetes-preserve-unknown-fields": true,
  properties: {
    observedGeneration: { type: "integer" },
    replicas: { type: "integer" },
    readyReplicas: { type: "integer" },
    selector: { type: "string" },
    readyRegions: { type: "string" },
    connections: { type: "integer" },
    capacity: { type: "integer" },
    conditions: {
      type: "array",
      items: condition,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    },
    regions: {
      type: "array",
      items: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  },
};

/** The CustomResourceDefinition as a plain object (rendered to YAML by gen-crd.ts). */
export function pushClusterCrd(): Record<string, unknown> {
  const spec = structuredClone(specSchema.json);
  delete spec.default;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${PLURAL}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "edition" } },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: "pushcluster",
        shortNames: ["pc", "push"],
        categories: ["edition"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: ".spec.replicas",
              statusReplicasPath: ".status.replicas",
              labelSelectorPath: ".status.selector",
            },
          },
          additionalPrinterColumns: [
            {
              name: "Ready",
              type: "string",
              jsonPath: '.status.conditions[?(@.type=="Ready")].status',
            },
            { name: "Regions", type: "string", jsonPath: ".status.readyRegions" },
            { name: "Connections", type: "integer", jsonPath: ".status.connections" },
            { name: "Capacity", type: "integer", jsonPath: ".status.capacity" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "A SimplePush cluster of one or more independent regions.",
              required: ["spec"],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec: spec,
                status: statusSchema,
              },
            },
          },
        },
      ],
    },
  };
}
