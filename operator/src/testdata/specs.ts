/**
 * The PushCluster specs the golden files (desired.test.ts) and the pod-env check
 * (pod-env.test.ts) are made from, so both see every variant the operator can generate.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { readSpec } from "../cluster.js";
import type { DesiredInput } from "../desired.js";

export const secrets: DesiredInput["secrets"] = {
  clusterSecret: { name: "push-secrets", key: "cluster-secret" },
  tokenKeys: { name: "push-secrets", key: "token-keys" },
  hash: "0123456789abcdef",
};

/** The desired-state input of PushCluster `name` with `rawSpec`, every region active. */
export function input(
  rawSpec: unknown,
  extra: Partial<DesiredInput> = {},
  name = "push",
  namespace = "edition",
): DesiredInput {
  const { spec, problems } = readSpec(name, rawSpec);
  assert.deepEqual(problems, []);
  return {
    name,
    namespace,
    uid: "uid-1",
    spec,
    secrets,
    regionStates: Object.fromEntries(
      spec.regions.map((r) => [r.name, { state: "active", since: "2025-01-01T00:00:00.000Z" }]),
    ),
    extraReplicas: {},
    serviceMonitor: false,
    ...extra,
  };
}

export const minimalSpec = {
  image: "edition:1.0.0",
  replicas: 2,
  regions: [
    {
      name: "eu",
      etcd: { endpoints: ["http://etcd-eu:2379"] },
      redis: { url: "redis://redis-eu:6379" },
    },
  ],
};

/** Zones, sentinel Redis with a password, per-node LoadBalancers with a wss urlTemplate. */
export const multiRegionSpec = {
  image: "edition:1.1.0",
  replicas: 3,
  regions: [
    {
      name: "eu",
      zones: ["a", "b"],
      nodes: {
        replicas: 3,
        maxReplicas: 5,
        maxConnections: 50000,
        resources: { requests: { cpu: "1" } },
      },
      nodeSelector: { pool: "push" },
      tolerations: [{ key: "push", operator: "Exists", effect: "NoSchedule" }],
      balancer: { replicas: 1 },
      etcd: { endpoints: ["http://e1:2379", "http://e2:2379"], prefix: "/push" },
      redis: {
        url: "redis://sentinel-eu:26379",
        mode: "sentinel",
        sentinels: ["s1:26379", "s2:26379"],
        sentinelName: "mymaster",
        passwordSecretRef: { name: "redis-eu" },
      },
      failoverPriority: 200,
      publicUrl: "https://eu.push.example.com",
      service: {
        type: "LoadBalancer",
        port: 443,
        annotations: { "example.com/lb": "public", "example.com/dns": "eu.push.example.com" },
        endpointAnnotations: { "example.com/dns": "api.eu.push.example.com" },
      },
      nodeServices: {
        type: "LoadBalancer",
        port: 443,
        annotations: {
          "external-dns.alpha.kubernetes.io/hostname": "{node}.eu.push.example.com",
        },
        urlTemplate: "wss://{node}.eu.push.example.com",
      },
    },
    {
      name: "us",
      balancer: { replicas: 0 },
      etcd: { endpoints: ["http://etcd-us:2379"] },
      redis: { url: "redis://redis-us:6379" },
    },
  ],
  rollout: { drainTimeoutSeconds: 120 },
};

const examples = new URL("../../../charts/edition/examples/", import.meta.url);

export interface ExampleSpec {
  readonly name: string;
  readonly namespace: string;
  readonly spec: unknown;
}

/**
 * Every PushCluster in the chart's examples: `kind: PushCluster` documents, and the
 * `pushCluster.spec` of values files (whose image the chart fills in).
 */
export function exampleSpecs(): ExampleSpec[] {
  const out: ExampleSpec[] = [];
  for (const file of readdirSync(examples)
    .filter((f) => f.endsWith(".yaml"))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(new URL(file, examples), "utf8"))) {
      const o = doc.toJS() as {
        kind?: string;
        metadata?: { name: string; namespace?: string };
        spec?: object;
        pushCluster?: { spec?: object };
      } | null;
      if (o?.kind === "PushCluster" && o.metadata)
        out.push({
          name: `${file}:${o.metadata.name}`,
          namespace: o.metadata.namespace ?? "edition",
          spec: o.spec,
        });
      else if (o?.pushCluster?.spec)
        out.push({
          name: `${file}:values`,
          namespace: "edition",
          spec: { image: "edition/push-node:1", ...o.pushCluster.spec },
        });
    }
  }
  return out;
}
