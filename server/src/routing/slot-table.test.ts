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
  it("maps a UAID to a slot from its first 32 bits", () => {
    assert.equal(slotOf("00000001ffffffffffffffffffffffff", S), 1);
    assert.equal(slotOf("ffffffff000000000000000000000000", S), 0xffffffff % S);
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
