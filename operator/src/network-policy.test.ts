/**
 * The per-region NetworkPolicy, evaluated the way the NetworkPolicy API defines it (a pod is
 * admitted on a port when some ingress rule lists the port and, if the rule has `from`, one
 * peer matches), so the test states who can reach what rather than the YAML's shape.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { desiredObjects } from "./desired.js";
import type { KubeObject } from "./model.js";
import { input, minimalSpec } from "./testdata/specs.js";

type Labels = Record<string, string>;
interface Selector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
}
interface Rule {
  from?: Peer[];
  ports?: { protocol: string; port: number }[];
}
interface Source {
  namespace: string;
  namespaceLabels?: Labels;
  labels: Labels;
}

function selects(s: Selector, l: Labels): boolean {
  const labelsOk = Object.entries(s.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  const exprOk = (s.matchExpressions ?? []).every((e) => {
    assert.equal(e.operator, "In", "only In is generated");
    return l[e.key] !== undefined && (e.values ?? []).includes(l[e.key]!);
  });
  return labelsOk && exprOk;
}

function peerMatches(p: Peer, src: Source, policyNs: string): boolean {
  const nsOk = p.namespaceSelector
    ? selects(p.namespaceSelector, src.namespaceLabels ?? {})
    : src.namespace === policyNs;
  return nsOk && (p.podSelector ? selects(p.podSelector, src.labels) : true);
}

/** Whether `src` may open a TCP connection to `port` of pod `dst` under `policies`. */
function admitted(policies: KubeObject[], dst: Labels, src: Source, port: number): boolean {
  const applying = policies.filter((p) =>
    selects((p.spec as { podSelector: Selector }).podSelector, dst),
  );
  if (applying.length === 0) return true;
  return applying.some((p) =>
    ((p.spec as { ingress: Rule[] }).ingress ?? []).some(
      (r) =>
        (r.ports ?? []).some((x) => x.port === port && x.protocol === "TCP") &&
        (r.from === undefined || r.from.some((f) => peerMatches(f, src, p.metadata.namespace!))),
    ),
  );
}

const pod = (component: string, region = "eu", cluster = "push"): Labels => ({
  "app.kubernetes.io/component": component,
  "edition.dev/cluster": cluster,
  "edition.dev/region": region,
});
const twoRegions = {
  ...minimalSpec,
  regions: [
    minimalSpec.regions[0]!,
    { ...minimalSpec.regions[0]!, name: "us", redis: { url: "redis://redis-us:6379" } },
  ],
};
const policiesOf = (raw: unknown) =>
  desiredObjects(input(raw)).filter((o) => o.kind === "NetworkPolicy");

test("one NetworkPolicy per region, on by default", () => {
  assert.deepEqual(
    policiesOf(twoRegions).map((p) => p.metadata.name),
    ["push-eu-netpol", "push-us-netpol"],
  );
  assert.deepEqual(policiesOf({ ...twoRegions, networkPolicy: { enabled: false } }), []);
});

test("the public port is open to anyone; the router port only to the region's node pods", () => {
  const policies = policiesOf(twoRegions);
  const outsider: Source = { namespace: "elsewhere", labels: { app: "anything" } };
  const sameNs = (labels: Labels): Source => ({ namespace: "edition", labels });
  for (const dst of [pod("node"), pod("balancer")])
    assert.ok(admitted(policies, dst, outsider, 8080), "WebSocket/endpoint port open");
  const node = pod("node");
  assert.ok(admitted(policies, node, sameNs(pod("node")), 8081), "a peer node of the region");
  assert.ok(
    admitted(policies, node, sameNs({ ...pod("node"), "edition.dev/zone": "b" }), 8081),
    "a peer node in another zone",
  );
  for (const [src, why] of [
    [sameNs(pod("node", "us")), "a node of another region"],
    [sameNs(pod("node", "eu", "other")), "a node of another PushCluster"],
    [sameNs(pod("balancer")), "a balancer"],
    [sameNs({ app: "web" }), "another pod of the namespace"],
    [{ ...outsider, labels: pod("node") }, "a look-alike in another namespace"],
  ] as const)
    assert.ok(!admitted(policies, node, src, 8081), `router refused: ${why}`);
});

test("metrics: Prometheus by default, whoever metricsFrom names, nobody when it is empty", () => {
  const prometheus: Source = {
    namespace: "monitoring",
    labels: { "app.kubernetes.io/name": "prometheus" },
  };
  const other: Source = { namespace: "monitoring", labels: { app: "grafana" } };
  const defaults = policiesOf(minimalSpec);
  assert.ok(admitted(defaults, pod("node"), prometheus, 9464));
  assert.ok(admitted(defaults, pod("balancer"), prometheus, 9464));
  assert.ok(!admitted(defaults, pod("node"), other, 9464));

  const custom = policiesOf({
    ...minimalSpec,
    networkPolicy: {
      metricsFrom: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "obs" } },
          podSelector: { matchLabels: { app: "vmagent" } },
        },
      ],
    },
  });
  const vmagent: Source = {
    namespace: "obs",
    namespaceLabels: { "kubernetes.io/metadata.name": "obs" },
    labels: { app: "vmagent" },
  };
  assert.ok(admitted(custom, pod("node"), vmagent, 9464));
  assert.ok(!admitted(custom, pod("node"), prometheus, 9464));

  const closed = policiesOf({ ...minimalSpec, networkPolicy: { metricsFrom: [] } });
  assert.ok(!admitted(closed, pod("node"), prometheus, 9464), "an empty list admits nobody");
  assert.ok(admitted(closed, pod("node"), prometheus, 8080), "the public port stays open");
});
