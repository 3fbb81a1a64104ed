import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StoreLatency } from "./store-latency.js";

describe("store latency", () => {
  it("trips past the threshold under slow operations and recovers as time passes", () => {
    let t = 0;
    const l = new StoreLatency(200, () => t);
    for (let i = 0; i < 50; i++) l.observe(0.002);
    assert.equal(l.overloaded(), false);
    for (let i = 0; i < 50; i++) l.observe(1);
    assert.equal(l.overloaded(), true);
    t += 5_000; // nothing measured for 5 s: the slow past fades
    assert.equal(l.overloaded(), false);
  });

  it("never sheds with threshold 0", () => {
    const l = new StoreLatency(0, () => 0);
    for (let i = 0; i < 10; i++) l.observe(10);
    assert.equal(l.overloaded(), false);
  });
});
