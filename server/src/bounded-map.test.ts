import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setBounded } from "./bounded-map.js";

describe("setBounded", () => {
  it("keeps at most max entries, dropping the oldest set", () => {
    const m = new Map<string, number>();
    for (let i = 0; i < 10; i++) setBounded(m, `k${i}`, i, 3);
    assert.deepEqual([...m.keys()], ["k7", "k8", "k9"]);
  });

  it("makes a key set again the newest, so it outlives older ones", () => {
    const m = new Map<string, number>();
    setBounded(m, "a", 1, 2);
    setBounded(m, "b", 2, 2);
    setBounded(m, "a", 3, 2);
    setBounded(m, "c", 4, 2);
    assert.deepEqual(
      [...m],
      [
        ["a", 3],
        ["c", 4],
      ],
    );
  });

  it("keeps nothing when max is 0", () => {
    const m = new Map([["x", 1]]);
    setBounded(m, "x", 2, 0);
    setBounded(m, "y", 3, 0);
    assert.equal(m.size, 0);
  });
});
