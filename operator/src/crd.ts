/**
 * The PushCluster spec, written once. The CRD in the chart
 * (charts/edition/crds/pushclusters.edition.dev.yaml) is generated from it by `gen-crd.ts`
 * (`pushClusterCrd()` in crd-object.ts); `crd.test.ts` fails when that file is stale or a
 * field has no description. The spec type the operator works with is inferred from the same
 * schema. String rules are `matches()`: the API server refuses a bad value at apply time with
 * the message, and the operator checks the same regex for objects stored before the rule.
 */
import {
  arr,
  bool,
  type Infer,
  int,
  matches,
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

const DNS_LABEL = matches(
  "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$",
  "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
);

/** Every per-node address of the region differs only by `{node}`, so it must be in the host. */
const URL_TEMPLATE = matches(
  "^wss?://[A-Za-z0-9.-]*[{]node[}][A-Za-z0-9.-]*(:[0-9]{1,5})?/?$",
  "must be ws:// or wss://, then a host containing {node} (replaced by the pod name), an optional :port and no path, e.g. wss://{node}.push.example.com",
);
// The same rules as the node's EDITION_* settings (server/src/config.ts), so a spec the API
// server accepts yields pods that start.
const HTTP_URL = matches(
  "^https?://[^/?#\\s]+(/[^?#\\s]*)?$",
  "must be an http:// or https:// URL without query or fragment, e.g. https://push.example.com",
);
const ETCD_ENDPOINT = matches(
  "^https?://[^/,\\s]+$",
  "must be one http(s)://host:port etcd client URL without a path, e.g. http://etcd-eu:2379",
);
const REDIS_URL = matches(
  "^rediss?://\\S+$",
  "must be a redis:// or rediss:// URL (cluster mode: a comma-separated list of them)",
);
const HOST_PORT = matches("^[^\\s:/,]+:[0-9]{1,5}$", "must be host:port, e.g. sentinel-0:26379");
const NO_SPACE = matches("^\\S+$", "must not be empty or contain spaces");

const secretKeyRef = (defaultKey: string, description: string) =>
  obj(
    {
      name: str({
        description: "Secret name, in the PushCluster's namespace.",
        maxLength: 253,
        "x-kubernetes-validations": [
          matches(
            "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
            "must be a Secret name: lowercase letters, digits, '-' and '.'",
          ),
        ],
      }),
      key: str({
        description: `Key inside the Secret (default "${defaultKey}").`,
        default: defaultKey,
        maxLength: 253,
        "x-kubernetes-validations": [
          matches("^[-._a-zA-Z0-9]+$", "must be a Secret key: letters, digits, '-', '_' and '.'"),
        ],
      }),
    },
    { description },
  );

const serviceType = (what: string) =>
  oneOf(["ClusterIP", "NodePort", "LoadBalancer"], {
    default: "ClusterIP",
    description: `Kubernetes Service type of ${what}.`,
  });

const region = obj(
  {
    name: str({
      description: "Region name (DNS label): part of object names, etcd keys and tokens.",
      maxLength: 20,
      "x-kubernetes-validations": [DNS_LABEL],
    }),
    nodes: obj(
      {
        replicas: optional(
          int({
            minimum: 0,
            description: "Push node pods in this region (default: spec.replicas).",
          }),
        ),
        maxReplicas: optional(
          int({
            minimum: 0,
            description: "Upper bound when failover adds capacity here (default: no extra nodes).",
          }),
        ),
        maxConnections: int({
          default: 100000,
          minimum: 1,
          description:
            "WebSockets one node holds at most (EDITION_MAX_CONNECTIONS); also the capacity reported in status.",
        }),
        resources: optional(
          passthrough<Record<string, unknown>>({
            type: "object",
            description: "Container resources (requests/limits) of each node pod, as in a Pod.",
          }),
        ),
      },
      { description: "The push node pods of this region." },
    ),
    zones: optional(
      arr(
        str({
          maxLength: 20,
          description: "A topology.kubernetes.io/zone value.",
          "x-kubernetes-validations": [DNS_LABEL],
        }),
        {
          description:
            "Zones (topology.kubernetes.io/zone values) to spread nodes over: one StatefulSet per zone, so rollouts are paced per zone. Empty: one StatefulSet spread by hostname.",
          maxItems: 16,
          "x-kubernetes-list-type": "set",
        },
      ),
    ),
    nodeSelector: optional(
      record(str(), {
        description: "Node labels the node and balancer pods must be scheduled on, as in a Pod.",
      }),
    ),
    tolerations: optional(
      passthrough<readonly Record<string, unknown>[]>({
        type: "array",
        description: "Tolerations of the node and balancer pods, as in a Pod.",
      }),
    ),
    topologySpread: obj(
      {
        maxSkew: int({
          default: 1,
          minimum: 1,
          description: "Largest allowed difference in node pods between two zones (or hosts).",
        }),
        whenUnsatisfiable: oneOf(["ScheduleAnyway", "DoNotSchedule"], {
          default: "ScheduleAnyway",
          description: "Whether a pod that would exceed maxSkew waits (DoNotSchedule) or starts.",
        }),
      },
      { description: "How node pods spread over zones (or hosts, within one zone)." },
    ),
    balancer: obj(
      {
        replicas: int({
          default: 2,
          minimum: 0,
          description:
            "Balancer pods: they answer a client's first hello with a redirect to a node with room. 0: the region's Service goes straight to the nodes.",
        }),
      },
      { description: "The region's balancers (the stable address clients say hello to)." },
    ),
    etcd: obj(
      {
        endpoints: arr(
          str({
            maxLength: 512,
            description: "An etcd client URL.",
            "x-kubernetes-validations": [ETCD_ENDPOINT],
          }),
          {
            minItems: 1,
            maxItems: 16,
            description: "This region's etcd client URLs (routing table, members, region state).",
          },
        ),
        prefix: str({
          default: "/edition",
          maxLength: 256,
          description: "Key prefix of this cluster in etcd; several clusters may share one etcd.",
          "x-kubernetes-validations": [
            matches("^/$|^/.*[^/]$", "must start with / and not end with / (or be /)"),
          ],
        }),
      },
      { description: "The region's own etcd (routing state never crosses regions)." },
    ),
    redis: obj(
      {
        url: str({
          description:
            "redis:// or rediss:// URL without the password (use passwordSecretRef); cluster mode: a comma-separated list of seed URLs.",
          maxLength: 2048,
          "x-kubernetes-validations": [REDIS_URL],
        }),
        mode: oneOf(["standalone", "sentinel", "cluster"], {
          default: "standalone",
          description: "How Redis is deployed: one server, Sentinel-managed, or Redis Cluster.",
        }),
        sentinels: optional(
          arr(
            str({
              maxLength: 256,
              description: "A Sentinel's host:port.",
              "x-kubernetes-validations": [HOST_PORT],
            }),
            { maxItems: 16, description: "Sentinel mode: the Sentinels to ask for the master." },
          ),
        ),
        sentinelName: optional(
          str({
            maxLength: 256,
            description: "Sentinel mode: the master group name the Sentinels monitor.",
            "x-kubernetes-validations": [NO_SPACE],
          }),
        ),
        passwordSecretRef: optional(
          secretKeyRef("password", "Redis password (URL-safe characters only)."),
        ),
      },
      { description: "The region's Redis, holding pending updates for offline clients." },
    ),
    failoverPriority: int({
      default: 100,
      minimum: 0,
      description: "When another region fails, higher-priority survivors take its capacity first.",
    }),
    publicUrl: optional(
      str({
        description:
          "Base of endpoint URLs minted in this region, as app servers reach the endpoint Service (e.g. https://push-eu.example.com). Default: the node's own address.",
        maxLength: 512,
        "x-kubernetes-validations": [HTTP_URL],
      }),
    ),
    service: obj(
      {
        type: serviceType("the region's hello (<cluster>-<region>) and endpoint Services"),
        port: int({
          default: 80,
          minimum: 1,
          maximum: 65535,
          description:
            "Port of those Services (and of their cloud load balancers): 443 when the load balancer terminates TLS.",
        }),
        annotations: optional(
          record(str(), {
            description: "Annotations of those Services, e.g. for a cloud load balancer.",
          }),
        ),
        endpointAnnotations: optional(
          record(str(), {
            description:
              "Annotations of the endpoint Service only, over `annotations` (e.g. its own external-dns hostname, the host of publicUrl).",
          }),
        ),
      },
      { description: "The region's public Services: hello (WebSocket) and endpoint (HTTP PUT)." },
    ),
    nodeServices: obj(
      {
        type: serviceType("each node's own Service"),
        port: int({
          default: 8080,
          minimum: 1,
          maximum: 65535,
          description:
            "Port of each node's Service (and of its load balancer): 443 when the load balancer terminates TLS; it must match the port in urlTemplate.",
        }),
        annotations: optional(
          record(str(), {
            description:
              "Annotations of each node's Service (e.g. external-dns hostnames); `{node}` is replaced by the pod name.",
          }),
        ),
        urlTemplate: optional(
          str({
            description:
              "Public WebSocket URL of one node, `{node}` replaced by the pod name, e.g. wss://{node}.push.example.com. Default: ws://<pod>.<namespace>.svc:<port>, the per-node Service's cluster DNS name.",
            maxLength: 512,
            "x-kubernetes-validations": [URL_TEMPLATE],
          }),
        ),
      },
      { description: "One Service per node pod, the address balancers redirect clients to." },
    ),
  },
  {
    description: "One independent region: its own etcd, Redis, nodes and balancers.",
    "x-kubernetes-validations": [
      {
        rule: "!has(self.nodes.maxReplicas) || !has(self.nodes.replicas) || self.nodes.maxReplicas >= self.nodes.replicas",
        message: "nodes.maxReplicas must be at least nodes.replicas",
      },
    ],
  },
);

export const specSchema = obj(
  {
    image: str({
      description: "Push node image (built from the repository's Dockerfile).",
      maxLength: 1024,
      "x-kubernetes-validations": [NO_SPACE],
    }),
    imagePullPolicy: oneOf(["Always", "IfNotPresent", "Never"], {
      default: "IfNotPresent",
      description: "Image pull policy of node and balancer pods.",
    }),
    replicas: int({
      default: 3,
      minimum: 0,
      description: "Node replicas per region unless a region sets its own (the scale subresource).",
    }),
    regions: arr(region, {
      minItems: 1,
      maxItems: 16,
      description: "The regions, by unique name.",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    }),
    failover: obj(
      {
        mode: oneOf(["Automatic", "Manual"], {
          default: "Automatic",
          description:
            "Automatic: the operator declares a region failed after detectionDelaySeconds; Manual: only the edition.dev/failover annotation does.",
        }),
        detectionDelaySeconds: int({
          default: 60,
          minimum: 0,
          description: "How long a region must stay unhealthy before it is declared failed.",
        }),
        minHealthyRatio: num({
          default: 0.5,
          minimum: 0,
          maximum: 1,
          description: "Below this share of ready nodes a region counts as unhealthy.",
        }),
        maxReHomeRate: int({
          default: 1000,
          minimum: 1,
          description: "Connections per second moved back into a recovering region.",
        }),
      },
      { description: "What happens when a whole region fails." },
    ),
    rollout: obj(
      {
        maxUnavailablePerZone: int({
          default: 1,
          minimum: 1,
          description: "Node pods replaced at once in a zone during a rollout (and the PDB).",
        }),
        drainTimeoutSeconds: int({
          default: 300,
          minimum: 0,
          maximum: 86400,
          description: "How long a node being replaced may take to hand off its clients.",
        }),
      },
      { description: "How image and config changes roll through the nodes, zone by zone." },
    ),
    security: obj(
      {
        clusterSecretRef: optional(
          secretKeyRef("cluster-secret", "Internal router secret; generated when absent."),
        ),
        tokenKeys: obj(
          {
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
          },
          { description: "Keys that sign and decode endpoint tokens." },
        ),
      },
      { description: "Secrets of the cluster." },
    ),
    drain: obj(
      {
        deadlineSeconds: optional(
          int({
            minimum: 0,
            description:
              "How long a stopping node drains before it exits (default: rollout.drainTimeoutSeconds).",
          }),
        ),
        rate: int({
          default: 1000,
          minimum: 1,
          description: "Sockets closed per second while draining.",
        }),
      },
      { description: "How a stopping node sends its clients elsewhere." },
    ),
    idleTimeoutSeconds: optional(
      int({
        minimum: 8,
        maximum: 960,
        description:
          "WebSocket idle timeout of node and balancer pods (EDITION_IDLE_TIMEOUT_SECONDS, default 120): a silent connection is pinged shortly before it and closed when no pong comes. Keep it at or below the idle timeout of every load balancer between clients and nodes, or the load balancer cuts idle sockets first.",
      }),
    ),
    networkPolicy: obj(
      {
        enabled: bool({
          default: true,
          description:
            "One NetworkPolicy per region: the WebSocket/endpoint port stays open to all, the router port accepts only the region's node pods, the metrics port only metricsFrom.",
        }),
        metricsFrom: arr(
          passthrough<Record<string, unknown>>({
            type: "object",
            description: "A NetworkPolicyPeer (podSelector, namespaceSelector, ipBlock).",
          }),
          {
            default: [
              {
                namespaceSelector: {},
                podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } },
              },
            ],
            description:
              "Who may scrape the metrics port (9464). Default: pods labelled app.kubernetes.io/name=prometheus in any namespace (the Prometheus Operator's). Empty: nobody (kubelet probes are always allowed).",
          },
        ),
      },
      { description: "Which peers may reach the pods' internal ports." },
    ),
    logLevel: oneOf(["fatal", "error", "warn", "info", "debug", "trace"], {
      default: "info",
      description: "Log level of node and balancer pods.",
    }),
    paused: bool({ default: false, description: "Stop reconciling (status is still reported)." }),
  },
  { description: "The desired cluster." },
);

export type PushClusterSpec = Infer<typeof specSchema>;
export type RegionSpec = PushClusterSpec["regions"][number];
