/** One region of a PushCluster: its own etcd, Redis, nodes, balancers and Services. */
import {
  DNS_LABEL,
  ETCD_ENDPOINT,
  HOST_PORT,
  HTTP_URL,
  NO_SPACE,
  REDIS_URL,
  secretKeyRef,
  serviceType,
  URL_TEMPLATE,
} from "./crd-rules.js";
import { arr, int, matches, obj, oneOf, optional, passthrough, record, str } from "./schema.js";

export const region = obj(
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
        replica: optional(
          obj(
            {
              url: str({
                description:
                  "redis:// URL of the replica (REPLICAOF this region's Redis) as the operator and the other regions' nodes reach it; standalone mode only.",
                maxLength: 512,
                "x-kubernetes-validations": [REDIS_URL],
              }),
              region: str({
                description:
                  "The region the replica lives in: it adopts this region's clients when this region fails (docs/multi-region.md).",
                maxLength: 20,
                "x-kubernetes-validations": [DNS_LABEL],
              }),
            },
            {
              description:
                "This region's replica in another region: promoted by the operator when this region fails, handed back when it recovers.",
            },
          ),
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
      {
        rule: "!has(self.redis.replica) || (self.redis.replica.region != self.name && self.redis.mode == 'standalone')",
        message: "redis.replica must live in another region, and needs redis.mode standalone",
      },
    ],
  },
);
