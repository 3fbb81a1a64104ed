import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { stringify } from "yaml";
import { readSpec } from "./cluster.js";
import { type DesiredInput, desiredObjects } from "./desired.js";
import { redisUrl } from "./desired-pod.js";
import { extraReplicas } from "./failover.js";

/** Compares with operator/src/testdata/<name>.yaml; UPDATE_GOLDEN=1 rewrites it. */
function golden(name: string, value: unknown): void {
  const file = new URL(`./testdata/${name}.yaml`, import.meta.url);
  const text = stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(file)) writeFileSync(file, text);
  assert.equal(
    text,
    readFileSync(file, "utf8"),
    `golden ${name} differs (UPDATE_GOLDEN=1 to rewrite)`,
  );
}

const secrets: DesiredInput["secrets"] = {
  clusterSecret: { name: "push-secrets", key: "cluster-secret" },
  tokenKeys: { name: "push-secrets", key: "token-keys" },
  hash: "0123456789abcdef",
};

function input(rawSpec: unknown, extra: Partial<DesiredInput> = {}): DesiredInput {
  const { spec, problems } = readSpec("push", rawSpec);
  assert.deepEqual(problems, []);
  return {
    name: "push",
    namespace: "edition",
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

test("minimal cluster: one region, one StatefulSet, services, balancer, budgets", () => {
  golden(
    "minimal",
    desiredObjects(
      input({
        image: "edition:1.0.0",
        replicas: 2,
        regions: [
          {
            name: "eu",
            etcd: { endpoints: ["http://etcd-eu:2379"] },
            redis: { url: "redis://redis-eu:6379" },
          },
        ],
      }),
    ),
  );
});

test("two regions with zones, sentinel Redis, per-node LoadBalancers, failover extras, ServiceMonitor", () => {
  const raw = {
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
        service: { type: "LoadBalancer", annotations: { "example.com/lb": "public" } },
        nodeServices: {
          type: "LoadBalancer",
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
  const base = input(raw);
  const regionStates = {
    eu: { state: "active" as const, since: "2025-01-01T00:00:00.000Z" },
    us: { state: "failed" as const, since: "2025-01-02T00:00:00.000Z" },
  };
  const extras = extraReplicas(base.spec, regionStates);
  assert.deepEqual(extras, { eu: 2 }, "us lost 300k capacity; eu may add at most 2 nodes of 50k");
  golden(
    "multi-region",
    desiredObjects({ ...base, regionStates, extraReplicas: extras, serviceMonitor: true }),
  );
});

test("redis password goes into the URL through $(REDIS_PASSWORD) expansion", () => {
  assert.equal(redisUrl("redis://r:6379/0", true), "redis://:$(REDIS_PASSWORD)@r:6379/0");
  assert.equal(redisUrl("rediss://old:pw@r:6379", true), "rediss://:$(REDIS_PASSWORD)@r:6379");
  assert.equal(redisUrl("redis://r:6379", false), "redis://r:6379");
});

test("readSpec reports derived-name and cross-field problems", () => {
  const { problems } = readSpec("a-very-long-cluster-name-for-testing", {
    image: "x",
    regions: [
      {
        name: "region-number-one",
        zones: ["zone-with-long-name"],
        nodes: { replicas: 4, maxReplicas: 2 },
        etcd: { endpoints: ["e"] },
        redis: { url: "redis://r", mode: "sentinel" },
      },
    ],
  });
  assert.equal(problems.length, 3, problems.join("\n"));
});
