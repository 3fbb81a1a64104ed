import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodeOwners,
  encodeOwners,
  moved,
  rebalance,
  type SlotMember,
  slotOf,
} from "./slot-table.js";

const S = 4096;
const m = (id: string, capacity = 100, draining = false): SlotMember => ({
  id,
  capacity,
  draining,
});
const count = (owners: readonly string[]) => {
  const c = new Map<string, number>();
  for (const o of owners) c.set(o, (c.get(o) ?? 0) + 1);
  return c;
};

describe("slot table", () => {
  it("maps a UAID to a slot by a hash keyed with the cluster secret, not by its digits", () => {
    const key = "3f9c1a7e5b2d8046a1b2";
    // A client choosing UAIDs with the same leading digits no longer lands on one slot.
    const slots = new Set<number>();
    for (let i = 0; i < 200; i++) {
      slots.add(slotOf(`00000001${i.toString(16).padStart(24, "0")}`, S, key));
    }
    assert.ok(slots.size > 150, `${slots.size} distinct slots for one 8-digit prefix`);
    // Deterministic for a key; another key gives another map.
    const u = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
    assert.equal(slotOf(u, S, key), slotOf(u, S, key));
    let differs = 0;
    for (let i = 0; i < 50; i++) {
      const x = `${i.toString(16).padStart(8, "0")}${u.slice(8)}`;
      if (slotOf(x, S, key) !== slotOf(x, S, `${key}x`)) differs++;
    }
    assert.ok(differs > 40);
    // Uniform enough over the slots.
    const counts = new Array(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[slotOf(i.toString(16).padStart(32, "0"), 16, key)]++;
    for (const n of counts) assert.ok(n > 800 && n < 1200, String(counts));
  });

  it("assigns every slot, capacity-weighted", () => {
    const owners = rebalance(undefined, [m("a", 100), m("b", 100), m("c", 200)], S);
    assert.equal(owners.length, S);
    const c = count(owners);
    assert.equal(c.get("a"), 1024);
    assert.equal(c.get("b"), 1024);
    assert.equal(c.get("c"), 2048);
  });

  it("moves only the slots of a node that left", () => {
    const before = rebalance(undefined, [m("a"), m("b"), m("c")], S);
    const after = rebalance(before, [m("a"), m("b")], S);
    const c = count(before);
    assert.equal(moved(before, after), c.get("c"));
    for (let s = 0; s < S; s++) if (before[s] !== "c") assert.equal(after[s], before[s]);
    assert.ok(Math.abs(count(after).get("a")! - count(after).get("b")!) <= 1);
  });

  it("moves about 1/n of the slots when a node joins", () => {
    const before = rebalance(undefined, [m("a"), m("b"), m("c")], S);
    const after = rebalance(before, [m("a"), m("b"), m("c"), m("d")], S);
    assert.equal(count(after).get("d"), 1024);
    assert.equal(moved(before, after), 1024);
  });

  it("takes every slot away from a draining node", () => {
    const before = rebalance(undefined, [m("a"), m("b")], S);
    const after = rebalance(before, [m("a"), m("b", 100, true)], S);
    assert.equal(count(after).get("a"), S);
  });

  it("keeps slots on draining nodes when every node drains", () => {
    const owners = rebalance(undefined, [m("a", 100, true), m("b", 100, true)], S);
    assert.equal(owners.filter((o) => o === undefined).length, 0);
  });

  it("is deterministic whatever the member order", () => {
    const x = rebalance(undefined, [m("c", 3), m("a", 7), m("b", 5)], 1000);
    const y = rebalance(undefined, [m("b", 5), m("c", 3), m("a", 7)], 1000);
    assert.deepEqual(x, y);
  });

  it("round-trips through the etcd encoding and rejects garbage", () => {
    const owners = rebalance(undefined, [m("node-0"), m("node-1")], 64);
    assert.deepEqual(decodeOwners(encodeOwners(owners), 64), owners);
    assert.equal(decodeOwners("{", 64), undefined);
    assert.equal(decodeOwners(encodeOwners(owners), 65), undefined);
    assert.equal(decodeOwners('{"nodes":["a"],"owners":[1]}', 1), undefined);
  });
});
