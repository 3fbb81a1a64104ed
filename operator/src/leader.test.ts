import assert from "node:assert/strict";
import { test } from "node:test";
import { decideLease } from "./leader.js";

const t0 = new Date("2025-01-01T00:00:00.000Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);

test("an absent or released lease is taken; the holder renews", () => {
  const mine = decideLease(undefined, "a", t0, 15);
  assert.equal(mine?.holderIdentity, "a");
  assert.equal(mine?.leaseTransitions, 0);
  const renewed = decideLease(mine, "a", at(2), 15);
  assert.equal(renewed?.renewTime, "2025-01-01T00:00:02.000000Z");
  assert.equal(renewed?.acquireTime, mine?.acquireTime);
  assert.equal(decideLease({ ...mine, holderIdentity: "" }, "b", at(1), 15)?.holderIdentity, "b");
});

test("another candidate waits until the holder's lease expires, then takes over", () => {
  const held = decideLease(undefined, "a", t0, 15);
  assert.equal(decideLease(held, "b", at(14), 15), undefined);
  const taken = decideLease(held, "b", at(16), 15);
  assert.equal(taken?.holderIdentity, "b");
  assert.equal(taken?.leaseTransitions, 1);
});
