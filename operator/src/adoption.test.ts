import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planAdoption, type RegionReplication, regionRecords } from "./adoption.js";
import type { RegionStateRecord } from "./failover.js";

const now = new Date("2026-12-03T12:00:00Z");
const regions: RegionReplication[] = [
  {
    name: "a",
    primaryUrl: "redis://a:6379",
    replica: { url: "redis://b-replica-of-a:6379", region: "b" },
    endpoint: "https://a.example",
  },
  {
    name: "b",
    primaryUrl: "redis://b:6379",
    replica: { url: "redis://a-replica-of-b:6379", region: "a" },
  },
  { name: "c", primaryUrl: "redis://c:6379" },
];
const st = (state: RegionStateRecord["state"]): RegionStateRecord => ({ state, since: "t0" });

describe("planAdoption", () => {
  it("promotes a failed region's replica when the replica's region is active", () => {
    const plan = planAdoption({
      regions,
      failover: { a: st("failed"), b: st("active"), c: st("failed") },
      previous: {},
      now,
    });
    assert.deepEqual(
      plan.map((p) => [p.step, p.next.phase, p.next.adoptedBy]),
      [
        [
          { kind: "promote", region: "a", replicaUrl: "redis://b-replica-of-a:6379" },
          "adopted",
          "b",
        ],
      ],
      "c has no replica: nothing to promote",
    );
  });

  it("does not promote into a region that is itself failed or recovering", () => {
    for (const b of ["failed", "recovering"] as const)
      assert.deepEqual(
        planAdoption({ regions, failover: { a: st("failed"), b: st(b) }, previous: {}, now }),
        [],
      );
  });

  it("hands back once the region is no longer failed, and only then", () => {
    const previous = { a: { phase: "adopted" as const, since: "t1", adoptedBy: "b" } };
    assert.deepEqual(planAdoption({ regions, failover: { a: st("failed") }, previous, now }), []);
    const plan = planAdoption({ regions, failover: { a: st("recovering") }, previous, now });
    assert.deepEqual(plan[0]?.step, {
      kind: "handBack",
      region: "a",
      primaryUrl: "redis://a:6379",
      replicaUrl: "redis://b-replica-of-a:6379",
    });
    assert.equal(plan[0]?.next.phase, "home");
  });
});

describe("regionRecords", () => {
  it("publishes adoption, replica and endpoint; keeps an adopted region failed until handed back", () => {
    const r = regionRecords(
      regions,
      { a: { state: "recovering", since: "t2", until: "t3" }, b: st("active"), c: st("active") },
      { a: { phase: "adopted", since: "t1", adoptedBy: "b" } },
    );
    assert.deepEqual(r, {
      a: {
        state: "failed",
        since: "t1",
        adoptedBy: "b",
        replicaUrl: "redis://b-replica-of-a:6379",
        endpoint: "https://a.example",
      },
      b: { state: "active", since: "t0", replicaUrl: "redis://a-replica-of-b:6379" },
      c: { state: "active", since: "t0" },
    });
  });
});
