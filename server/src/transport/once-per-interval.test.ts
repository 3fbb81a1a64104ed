import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { oncePerInterval } from "./once-per-interval.js";

describe("oncePerInterval", () => {
  it("lets one event per key through per interval, and the next after it", () => {
    let t = 0;
    const allow = oncePerInterval(1_000, 1024, () => t);
    assert.equal(allow("10.0.0.1"), true);
    assert.equal(allow("10.0.0.1"), false);
    assert.equal(allow("10.0.0.2"), true);
    t = 999;
    assert.equal(allow("10.0.0.1"), false);
    t = 1_000;
    assert.equal(allow("10.0.0.1"), true);
  });

  it("keeps its table bounded", () => {
    const allow = oncePerInterval(60_000, 4, () => 0);
    for (let i = 0; i < 100; i++) assert.equal(allow(`k${i}`), true);
  });
});
