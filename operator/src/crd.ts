/**
 * The PushCluster spec, written once. The CRD in the chart
 * (charts/edition/crds/pushclusters.edition.dev.yaml) is generated from it by `gen-crd.ts`
 * (`pushClusterCrd()` in crd-object.ts); `crd.test.ts` fails when that file is stale or a
 * field has no description. The spec type the operator works with is inferred from the same
 * schema. Regions are in crd-region.ts, the string rules in crd-rules.ts.
 */
import { region } from "./crd-region.js";
import { NO_SPACE, secretKeyRef } from "./crd-rules.js";
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
  str,
} from "./schema.js";

export const GROUP = "edition.dev";
export const VERSION = "v1alpha1";
export const KIND = "PushCluster";
export const PLURAL = "pushclusters";
export const API_VERSION = `${GROUP}/${VERSION}`;

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
        routerTls: optional(
          obj(
            {
              secretName: str({
                description:
                  "A Secret in the PushCluster's namespace with tls.crt, tls.key and ca.crt (the kubernetes.io/tls layout cert-manager writes), mounted into node pods. The certificate must allow both TLS server and client use.",
                maxLength: 253,
                "x-kubernetes-validations": [
                  matches(
                    "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$",
                    "must be a Secret name: lowercase letters, digits, '-' and '.'",
                  ),
                ],
              }),
            },
            {
              description:
                "TLS for the internal router (EDITION_ROUTER_TLS_*): every node presents tls.crt and accepts only peers whose certificate was signed by ca.crt, a CA private to this cluster; host names are not checked, so one certificate for every node works. The cluster-secret handshake still runs inside. Absent: plain TCP with that handshake. A change rolls the nodes; while it rolls, nodes with and without TLS cannot reach each other (PUTs between them are stored, not lost).",
            },
          ),
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
    durability: obj(
      {
        mode: oneOf(["region", "global"], {
          default: "region",
          description:
            "When a PUT is answered 2xx (EDITION_DURABILITY): region, once the region's Redis has it; global, only once its replica in another region has it too (Redis WAIT), else 503 + Retry-After. docs/multi-region.md gives the loss window of each.",
        }),
        timeoutMilliseconds: int({
          default: 500,
          minimum: 1,
          maximum: 60000,
          description:
            "global: how long a PUT waits for the remote replica before its 503 (EDITION_DURABILITY_TIMEOUT_MS).",
        }),
      },
      { description: "How far an accepted update has travelled when the app server hears 2xx." },
    ),
    logLevel: oneOf(["fatal", "error", "warn", "info", "debug", "trace"], {
      default: "info",
      description: "Log level of node and balancer pods.",
    }),
    paused: bool({ default: false, description: "Stop reconciling (status is still reported)." }),
  },
  {
    description: "The desired cluster.",
    "x-kubernetes-validations": [
      {
        rule: "self.regions.all(r, !has(r.redis.replica) || self.regions.exists(o, o.name == r.redis.replica.region))",
        message: "redis.replica.region must name one of the regions",
      },
    ],
  },
);

export type PushClusterSpec = Infer<typeof specSchema>;
export type RegionSpec = PushClusterSpec["regions"][number];
