/**
 * The desired objects of one PushCluster: a pure function of the (defaulted) spec and what
 * the reconciler decided (region states, failover extra replicas, secret names). Golden-tested
 * in desired.test.ts. Order is stable: cluster-wide objects, then region by region.
 */
import { API_VERSION, KIND, type PushClusterSpec, type RegionSpec } from "./crd.js";
import { PORTS, podTemplate, type SecretRefs, type TemplateInput } from "./desired-pod.js";
import type { RegionStateRecord } from "./failover.js";
import type { KubeObject, OwnerReference } from "./model.js";
import {
  balancerName,
  LABEL_COMPONENT,
  LABEL_METRICS,
  labels,
  networkPolicyName,
  nodeStatefulSet,
  POD_NAME_LABEL,
  regionBase,
  regionsConfigMap,
  routerService,
  selector,
  splitReplicas,
  zonesOf,
} from "./names.js";

export interface DesiredInput {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly spec: PushClusterSpec;
  readonly secrets: SecretRefs;
  /** Region name → failover state record, as published to nodes and balancers. */
  readonly regionStates: Readonly<Record<string, RegionStateRecord>>;
  /** Region name → node replicas added because another region failed. */
  readonly extraReplicas: Readonly<Record<string, number>>;
  /** Whether the monitoring.coreos.com/v1 ServiceMonitor API is served. */
  readonly serviceMonitor: boolean;
}

export const nodeReplicas = (spec: PushClusterSpec, r: RegionSpec): number =>
  r.nodes.replicas ?? spec.replicas;

export function desiredObjects(d: DesiredInput): KubeObject[] {
  const owner: OwnerReference = {
    apiVersion: API_VERSION,
    kind: KIND,
    name: d.name,
    uid: d.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  const meta = (name: string, l: Record<string, string>, annotations?: Record<string, string>) => ({
    name,
    namespace: d.namespace,
    labels: l,
    ...(annotations && Object.keys(annotations).length > 0 ? { annotations } : {}),
    ownerReferences: [owner],
  });
  const out: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta(regionsConfigMap(d.name), labels(d.name, "config")),
      // One key per region, the same JSON as etcd's `<prefix>/regions/<region>`.
      data: Object.fromEntries(
        Object.entries(d.regionStates)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([r, s]) => [r, JSON.stringify(s)]),
      ),
    },
  ];
  for (const r of d.spec.regions) out.push(...regionObjects(d, r, meta));
  if (d.serviceMonitor) {
    out.push({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: meta(d.name, labels(d.name, "metrics")),
      spec: {
        selector: {
          matchLabels: { "app.kubernetes.io/instance": d.name, [LABEL_METRICS]: "true" },
        },
        endpoints: [{ port: "metrics", path: "/metrics", interval: "30s" }],
      },
    });
  }
  return out;
}

type Meta = (
  name: string,
  l: Record<string, string>,
  annotations?: Record<string, string>,
) => Record<string, unknown> & { name: string };

function service(m: ReturnType<Meta>, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: "v1", kind: "Service", metadata: m, spec };
}

function regionObjects(d: DesiredInput, r: RegionSpec, meta: Meta): KubeObject[] {
  const c = d.name;
  const t: TemplateInput = {
    cluster: c,
    namespace: d.namespace,
    spec: d.spec,
    region: r,
    secrets: d.secrets,
  };
  const zones = zonesOf(r);
  const total = nodeReplicas(d.spec, r) + (d.extraReplicas[r.name] ?? 0);
  const perZone = splitReplicas(total, zones.length);
  const nodeSel = selector(c, "node", r.name);
  const out: KubeObject[] = [];
  zones.forEach((zone, i) => {
    const sts = nodeStatefulSet(c, r.name, zone);
    const replicas = perZone[i] ?? 0;
    out.push({
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: meta(sts, labels(c, "node", r.name, zone)),
      spec: {
        replicas,
        serviceName: routerService(c, r.name),
        // Pods start together; replacement is paced by the operator (rollout.ts), one zone
        // at a time, waiting for each node to drain, so the controller must not replace them.
        podManagementPolicy: "Parallel",
        updateStrategy: { type: "OnDelete" },
        selector: { matchLabels: selector(c, "node", r.name, zone) },
        template: podTemplate(t, "node", zone),
      },
    });
    for (let o = 0; o < replicas; o++) {
      const pod = `${sts}-${o}`;
      const ann = Object.fromEntries(
        Object.entries(r.nodeServices.annotations ?? {}).map(([k, v]) => [
          k,
          v.replaceAll("{node}", pod),
        ]),
      );
      out.push(
        service(meta(pod, labels(c, "node-address", r.name, zone), ann), {
          type: r.nodeServices.type,
          // Addressed by redirects while the node drains too.
          publishNotReadyAddresses: true,
          selector: { ...selector(c, "node", r.name, zone), [POD_NAME_LABEL]: pod },
          ports: [{ name: "ws", port: r.nodeServices.port, targetPort: "ws", protocol: "TCP" }],
        }),
      );
    }
  });
  const balancers = r.balancer.replicas;
  out.push(
    service(meta(routerService(c, r.name), labels(c, "router", r.name)), {
      clusterIP: "None",
      // Router peers must resolve each other before they join the slot table.
      publishNotReadyAddresses: true,
      selector: nodeSel,
      ports: [{ name: "router", port: PORTS.router, targetPort: "router", protocol: "TCP" }],
    }),
    service(meta(regionBase(c, r.name), labels(c, "public", r.name), r.service.annotations), {
      type: r.service.type,
      // Clients say hello to a balancer, which redirects them to a node with room; without
      // balancers any node accepts any client.
      selector: balancers > 0 ? selector(c, "balancer", r.name) : nodeSel,
      ports: [{ name: "ws", port: r.service.port, targetPort: "ws", protocol: "TCP" }],
    }),
    service(
      meta(`${regionBase(c, r.name)}-endpoint`, labels(c, "endpoint", r.name), {
        ...r.service.annotations,
        ...r.service.endpointAnnotations,
      }),
      {
        type: r.service.type,
        selector: nodeSel,
        ports: [{ name: "http", port: r.service.port, targetPort: "ws", protocol: "TCP" }],
      },
    ),
    service(
      meta(`${regionBase(c, r.name)}-metrics`, {
        ...labels(c, "metrics", r.name),
        [LABEL_METRICS]: "true",
      }),
      {
        clusterIP: "None",
        selector: { "edition.dev/cluster": c, "edition.dev/region": r.name },
        ports: [{ name: "metrics", port: PORTS.metrics, targetPort: "metrics", protocol: "TCP" }],
      },
    ),
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(balancerName(c, r.name), labels(c, "balancer", r.name)),
      spec: {
        replicas: balancers,
        selector: { matchLabels: selector(c, "balancer", r.name) },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: podTemplate(t, "balancer", ""),
      },
    },
  );
  if (d.spec.networkPolicy.enabled) out.push(networkPolicy(d, r, meta));
  // maxUnavailable (never minAvailable = replicas) and AlwaysAllow for unhealthy pods: the
  // budget always permits at least one eviction, so it can never block a node drain forever.
  if (total > 0)
    out.push(
      pdb(
        meta(`${regionBase(c, r.name)}-nodes`, labels(c, "node", r.name)),
        nodeSel,
        d.spec.rollout.maxUnavailablePerZone,
      ),
    );
  if (balancers > 0)
    out.push(
      pdb(
        meta(balancerName(c, r.name), labels(c, "balancer", r.name)),
        selector(c, "balancer", r.name),
        1,
      ),
    );
  return out;
}

function pdb(m: ReturnType<Meta>, sel: Record<string, string>, maxUnavailable: number): KubeObject {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: m,
    spec: {
      maxUnavailable,
      selector: { matchLabels: sel },
      unhealthyPodEvictionPolicy: "AlwaysAllow",
    },
  };
}

/**
 * Ingress of a region's node and balancer pods. The public port (WebSocket hellos, endpoint
 * PUTs) stays open to every source; the router port, which carries notifications between
 * nodes, accepts only the region's own node pods (it is authenticated too, but need not be
 * reachable); the metrics port only `metricsFrom`. Egress is left alone: nodes reach etcd and
 * Redis wherever the user runs them. Kubelet probes are always allowed by NetworkPolicy.
 */
function networkPolicy(d: DesiredInput, r: RegionSpec, meta: Meta): KubeObject {
  const c = d.name;
  const tcp = (port: number) => [{ protocol: "TCP", port }];
  const ingress: Record<string, unknown>[] = [
    { ports: tcp(PORTS.ws) },
    {
      from: [{ podSelector: { matchLabels: selector(c, "node", r.name) } }],
      ports: tcp(PORTS.router),
    },
  ];
  // A rule with ports and no `from` admits everyone: with no peers the rule must go.
  const metricsFrom = d.spec.networkPolicy.metricsFrom;
  if (metricsFrom.length > 0) ingress.push({ from: metricsFrom, ports: tcp(PORTS.metrics) });
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(networkPolicyName(c, r.name), labels(c, "network-policy", r.name)),
    spec: {
      podSelector: {
        matchLabels: { "edition.dev/cluster": c, "edition.dev/region": r.name },
        matchExpressions: [{ key: LABEL_COMPONENT, operator: "In", values: ["node", "balancer"] }],
      },
      policyTypes: ["Ingress"],
      ingress,
    },
  };
}
