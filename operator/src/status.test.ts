import assert from "node:assert/strict";
import { test } from "node:test";
import { computeStatus, type RegionObservation, type StatusInput } from "./status.js";

const now = new Date("2025-01-01T00:00:00Z");
const later = new Date("2025-01-01T00:05:00Z");
const active = { state: "active" as const, since: now.toISOString() };
const region = (over: Partial<RegionObservation> = {}): RegionObservation => ({
  name: "eu",
  replicas: 3,
  readyNodes: 3,
  updatedNodes: 3,
  members: { connections: 120, capacity: 300 },
  rolloutDone: true,
  failover: active,
  ...over,
});
const input = (over: Partial<StatusInput> = {}): StatusInput => ({
  generation: 7,
  previous: undefined,
  now,
  selector: "edition.dev/cluster=push",
  specReplicas: 3,
  problems: [],
  paused: false,
  regions: [region()],
  recommendedFailover: [],
  ...over,
});
const cond = (s: ReturnType<typeof computeStatus>, type: string) =>
  s.conditions?.find((c) => c.type === type);

test("all regions ready: Ready True, Reconciling/Stalled/Degraded False, totals and observedGeneration", () => {
  const s = computeStatus(
    input({
      regions: [region(), region({ name: "us", members: { connections: 5, capacity: 100 } })],
    }),
  );
  assert.equal(s.observedGeneration, 7);
  assert.equal(cond(s, "Ready")?.status, "True");
  for (const t of ["Reconciling", "Stalled", "Degraded", "RegionFailover"])
    assert.equal(cond(s, t)?.status, "False", t);
  assert.ok(s.conditions?.every((c) => c.observedGeneration === 7));
  assert.equal(s.readyRegions, "2/2");
  assert.equal(s.connections, 125);
  assert.equal(s.capacity, 400);
  assert.equal(s.regions?.[0]?.lastSeen, now.toISOString());
});

test("a rollout in progress is Reconciling with the reason it waits", () => {
  const s = computeStatus(
    input({
      regions: [
        region({
          rolloutDone: false,
          updatedNodes: 1,
          waiting: "draining push-eu-2 (4 connections left)",
        }),
      ],
    }),
  );
  assert.equal(cond(s, "Ready")?.status, "False");
  assert.equal(cond(s, "Reconciling")?.status, "True");
  assert.match(cond(s, "Reconciling")?.message ?? "", /draining push-eu-2/);
  assert.equal(s.regions?.[0]?.phase, "Progressing");
});

test("an unreachable region keeps its last figures and lastSeen, and is Degraded", () => {
  const first = computeStatus(input());
  const { members: _m, ...unreachable } = region();
  const s = computeStatus(input({ now: later, previous: first, regions: [unreachable] }));
  assert.equal(s.regions?.[0]?.phase, "Unreachable");
  assert.equal(s.regions?.[0]?.connections, 120);
  assert.equal(s.regions?.[0]?.lastSeen, now.toISOString());
  assert.equal(cond(s, "Degraded")?.status, "True");
});

test("failover and invalid specs: RegionFailover True; Stalled True; transition times kept while unchanged", () => {
  const failed = computeStatus(
    input({ regions: [region({ failover: { state: "failed", since: now.toISOString() } })] }),
  );
  assert.equal(failed.regions?.[0]?.phase, "Failed");
  assert.equal(cond(failed, "RegionFailover")?.status, "True");
  const again = computeStatus(
    input({
      now: later,
      previous: failed,
      regions: [region({ failover: { state: "failed", since: now.toISOString() } })],
    }),
  );
  assert.equal(cond(again, "RegionFailover")?.lastTransitionTime, now.toISOString());
  const stalled = computeStatus(input({ problems: ["spec.image: required"], regions: [] }));
  assert.equal(cond(stalled, "Stalled")?.status, "True");
  assert.equal(cond(stalled, "Ready")?.reason, "InvalidSpec");
  const manual = computeStatus(input({ recommendedFailover: ["eu"] }));
  assert.equal(cond(manual, "RegionFailover")?.reason, "FailoverRecommended");
});
