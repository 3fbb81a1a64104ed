import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { stringify } from "yaml";
import { readSpec } from "./cluster.js";
import { desiredObjects } from "./desired.js";
import { redisUrl } from "./desired-pod.js";
import { extraReplicas } from "./failover.js";
import { input, minimalSpec, multiRegionSpec } from "./testdata/specs.js";

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

test("minimal cluster: one region, one StatefulSet, services, balancer, budgets", () => {
  golden("minimal", desiredObjects(input(minimalSpec)));
});

test("two regions with zones, sentinel Redis, per-node LoadBalancers, failover extras, ServiceMonitor", () => {
  const base = input(multiRegionSpec);
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
        etcd: { endpoints: ["http://e:2379"] },
        redis: { url: "redis://r", mode: "sentinel" },
      },
    ],
  });
  assert.equal(problems.length, 3, problems.join("\n"));
});
