import assert from "node:assert/strict";
import { test } from "node:test";
import { readSpec } from "./cluster.js";
import {
  decideFailover,
  extraReplicas,
  type FailoverInput,
  type RegionFailoverStatus,
} from "./failover.js";

const t0 = Date.parse("2025-01-01T00:00:00Z");
const at = (s: number) => new Date(t0 + s * 1000);
const policy = {
  mode: "Automatic" as const,
  detectionDelaySeconds: 60,
  minHealthyRatio: 0.5,
  maxReHomeRate: 100,
};
const health = (ready: number, reachable = true) => [
  { name: "eu", desiredNodes: 4, readyNodes: ready, reachable, capacity: 1000 },
];

function step(
  prev: RegionFailoverStatus | undefined,
  s: number,
  ready: number,
  over: Partial<FailoverInput> = {},
) {
  return decideFailover({
    policy,
    now: at(s),
    health: health(ready),
    previous: { eu: prev },
    failRequested: new Set(),
    failbackRequested: new Set(),
    ...over,
  });
}

test("a region below the healthy ratio for the detection delay fails, then recovers gradually", () => {
  let r = step(undefined, 0, 4);
  assert.equal(r.regions.eu?.state, "active");
  r = step(r.regions.eu, 10, 1);
  assert.equal(r.regions.eu?.unhealthySince, at(10).toISOString());
  r = step(r.regions.eu, 69, 1);
  assert.equal(r.regions.eu?.state, "active", "not before the delay");
  r = step(r.regions.eu, 70, 1);
  assert.equal(r.regions.eu?.state, "failed");
  assert.deepEqual(
    r.events.map((e) => e.reason),
    ["RegionFailed"],
  );
  r = step(r.regions.eu, 80, 4);
  assert.equal(r.regions.eu?.state, "failed", "healthy, but not yet for the delay");
  r = step(r.regions.eu, 140, 4);
  assert.equal(r.regions.eu?.state, "recovering");
  assert.equal(r.regions.eu?.until, at(150).toISOString(), "1000 connections at 100/s");
  r = step(r.regions.eu, 151, 4);
  assert.equal(r.regions.eu?.state, "active");
  assert.deepEqual(
    r.events.map((e) => e.reason),
    ["RegionActive"],
  );
});

test("a blip shorter than the delay resets; an unreachable etcd counts as unhealthy", () => {
  let r = step(undefined, 0, 4);
  r = step(r.regions.eu, 10, 0);
  r = step(r.regions.eu, 20, 4);
  assert.equal(r.regions.eu?.unhealthySince, undefined);
  const down = decideFailover({
    policy: { ...policy, detectionDelaySeconds: 0 },
    now: at(30),
    health: health(4, false),
    previous: { eu: r.regions.eu },
    failRequested: new Set(),
    failbackRequested: new Set(),
  });
  assert.equal(down.regions.eu?.state, "failed");
});

test("a region that was never healthy (still starting) is not failed over", () => {
  let r = step(undefined, 0, 0);
  r = step(r.regions.eu, 1000, 0);
  assert.equal(r.regions.eu?.state, "active");
});

test("manual mode only recommends, and acts on the annotations", () => {
  const manual = { ...policy, mode: "Manual" as const };
  let r = step(undefined, 0, 4, { policy: manual });
  r = step(r.regions.eu, 10, 0, { policy: manual });
  r = step(r.regions.eu, 100, 0, { policy: manual });
  assert.equal(r.regions.eu?.state, "active");
  assert.deepEqual(r.recommended, ["eu"]);
  r = step(r.regions.eu, 101, 0, { policy: manual, failRequested: new Set(["eu"]) });
  assert.equal(r.regions.eu?.state, "failed");
  r = step(r.regions.eu, 500, 4, { policy: manual, failRequested: new Set(["eu"]) });
  assert.equal(r.regions.eu?.state, "failed", "healthy again, but waits for failback");
  r = step(r.regions.eu, 501, 4, {
    policy: manual,
    failRequested: new Set(["eu"]),
    failbackRequested: new Set(["eu"]),
  });
  assert.equal(r.regions.eu?.state, "recovering");
  r = step(r.regions.eu, 502, 4, {
    policy: manual,
    failRequested: new Set(["eu"]),
    failbackRequested: new Set(["eu"]),
  });
  assert.equal(
    r.regions.eu?.state,
    "recovering",
    "a lingering failover annotation does not flip it back",
  );
});

test("lost capacity goes to survivors by priority, within maxReplicas", () => {
  const { spec } = readSpec("push", {
    image: "x",
    replicas: 4,
    regions: [
      {
        name: "a",
        nodes: { maxConnections: 100 },
        etcd: { endpoints: ["e"] },
        redis: { url: "redis://r" },
      },
      {
        name: "b",
        failoverPriority: 10,
        nodes: { maxConnections: 100, maxReplicas: 5 },
        etcd: { endpoints: ["e"] },
        redis: { url: "redis://r" },
      },
      {
        name: "c",
        failoverPriority: 200,
        nodes: { maxConnections: 50, maxReplicas: 8 },
        etcd: { endpoints: ["e"] },
        redis: { url: "redis://r" },
      },
    ],
  });
  const since = "2025-01-01T00:00:00Z";
  assert.deepEqual(
    extraReplicas(spec, { a: { state: "failed", since } }),
    { c: 4, b: 1 },
    "c: +4×50=200 first, b: +1×100 (its limit); 100 unplaced",
  );
  assert.deepEqual(extraReplicas(spec, { a: { state: "active", since } }), {});
  assert.deepEqual(
    extraReplicas(spec, { a: { state: "recovering", since } }),
    { c: 4, b: 1 },
    "kept while the region ramps back",
  );
});
