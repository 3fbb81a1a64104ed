import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backoffDelayMs, DEFAULT_BACKOFF } from "./backoff.js";

describe("client reconnect backoff", () => {
  const p = { baseMs: 500, capMs: 30_000, maxAttempts: 20 };

  it("doubles its ceiling per attempt, jittered within [ceiling/2, ceiling]", () => {
    for (const [attempt, ceiling] of [
      [1, 500],
      [2, 1000],
      [3, 2000],
      [6, 16_000],
    ] as const) {
      assert.equal(
        backoffDelayMs(p, attempt, () => 0),
        ceiling / 2,
      );
      assert.equal(
        backoffDelayMs(p, attempt, () => 1),
        ceiling,
      );
    }
  });

  it("never exceeds the cap, however many attempts", () => {
    for (const attempt of [7, 20, 100, 10_000])
      assert.equal(
        backoffDelayMs(p, attempt, () => 1),
        30_000,
      );
  });

  it("spreads clients: different random draws give different delays", () => {
    const draws = new Set([0.1, 0.4, 0.7, 0.9].map((r) => backoffDelayMs(p, 4, () => r)));
    assert.equal(draws.size, 4);
  });

  it("gives up after a bounded number of attempts by default", () => {
    assert.ok(DEFAULT_BACKOFF.maxAttempts > 0 && DEFAULT_BACKOFF.maxAttempts <= 100);
  });
});
