import assert from "node:assert/strict";
import { test } from "node:test";
import type { PodInfo } from "./model.js";
import { planRollout, type ZoneObservation } from "./rollout.js";

const now = new Date("2025-01-01T00:10:00Z");
const policy = { maxUnavailablePerZone: 1, drainTimeoutSeconds: 60 };
const pod = (name: string, revision: string, over: Partial<PodInfo> = {}): PodInfo => ({
  name,
  zone: name.split("-")[1]!,
  revision,
  ready: true,
  terminating: false,
  ...over,
});
const zone = (z: string, replicas: number, pods: PodInfo[], rev = "new"): ZoneObservation => ({
  sts: { name: `push-${z}`, zone: z, replicas, updateRevision: rev, observed: true },
  pods,
});

test("nothing to do when every pod is on the update revision", () => {
  const plan = planRollout(
    [zone("a", 2, [pod("push-a-0", "new"), pod("push-a-1", "new")])],
    new Map(),
    policy,
    now,
  );
  assert.deepEqual(plan.delete, []);
  assert.equal(plan.done, true);
  assert.equal(plan.updated, 2);
});

test("one pod at a time in the first zone with outdated pods, fewest connections first", () => {
  const zones = [
    zone("a", 3, [pod("push-a-0", "old"), pod("push-a-1", "old"), pod("push-a-2", "old")]),
    zone("b", 2, [pod("push-b-0", "old"), pod("push-b-1", "old")]),
  ];
  const plan = planRollout(
    zones,
    new Map([
      ["push-a-0", 50],
      ["push-a-1", 10],
      ["push-a-2", 30],
    ]),
    policy,
    now,
  );
  assert.deepEqual(plan.delete, ["push-a-1"]);
  assert.equal(plan.outdated, 5);
  assert.equal(plan.done, false);
});

test("a draining pod blocks the next one until it is replaced, and the wait says why", () => {
  const zones = [
    zone("a", 2, [
      pod("push-a-0", "old"),
      pod("push-a-1", "old", {
        terminating: true,
        ready: false,
        deletingSince: "2025-01-01T00:09:30Z",
      }),
    ]),
  ];
  const plan = planRollout(zones, new Map([["push-a-1", 7]]), policy, now);
  assert.deepEqual(plan.delete, []);
  assert.equal(plan.waiting, "draining push-a-1 (7 connections left)");
  assert.deepEqual(plan.overdue, []);
});

test("a replaced pod that is not ready yet still counts as unavailable", () => {
  const zones = [zone("a", 2, [pod("push-a-0", "old"), pod("push-a-1", "new", { ready: false })])];
  assert.deepEqual(planRollout(zones, new Map(), policy, now).delete, []);
  const missing = [zone("a", 2, [pod("push-a-0", "old")])];
  assert.deepEqual(
    planRollout(missing, new Map(), policy, now).delete,
    [],
    "a pod not yet recreated",
  );
});

test("zones roll in turn: zone b waits for a drain still running in zone a", () => {
  const zones = [
    zone("a", 1, [pod("push-a-0", "new", { terminating: true, ready: false })]),
    zone("b", 1, [pod("push-b-0", "old")]),
  ];
  const plan = planRollout(zones, new Map(), policy, now);
  assert.deepEqual(plan.delete, []);
  assert.match(plan.waiting ?? "", /draining push-a-0/);
});

test("maxUnavailablePerZone > 1 deletes that many; outdated pods that are not ready go at once", () => {
  const zones = [
    zone("a", 4, [
      pod("push-a-0", "old"),
      pod("push-a-1", "old"),
      pod("push-a-2", "old", { ready: false }),
      pod("push-a-3", "old"),
    ]),
  ];
  const plan = planRollout(zones, new Map(), { ...policy, maxUnavailablePerZone: 2 }, now);
  assert.deepEqual(plan.delete, ["push-a-2", "push-a-3"]);
});

test("waits for the StatefulSet controller to observe a new spec; reports overdue drains", () => {
  const unobserved: ZoneObservation = {
    sts: { name: "push-a", zone: "a", replicas: 1, updateRevision: "old", observed: false },
    pods: [pod("push-a-0", "old")],
  };
  const plan = planRollout([unobserved], new Map(), policy, now);
  assert.deepEqual(plan.delete, []);
  assert.match(plan.waiting ?? "", /observe push-a/);
  const stuck = [
    zone("a", 1, [
      pod("push-a-0", "old", {
        terminating: true,
        ready: false,
        deletingSince: "2025-01-01T00:00:00Z",
      }),
    ]),
  ];
  assert.deepEqual(planRollout(stuck, new Map(), policy, now).overdue, ["push-a-0"]);
});
