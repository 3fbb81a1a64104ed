/**
 * Histogram quantiles from the nodes' Prometheus scrapes (bench/server-metrics.ts): the
 * window is after − before, several nodes' buckets are summed, labels select one series
 * whatever their order, and an empty window is undefined.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { histogramQuantiles, type Samples } from "../../bench/server-metrics.js";

const BOUNDS = ["0.001", "0.01", "0.1", "+Inf"];

/** A scrape holding `name` with cumulative bucket counts per series (label text → counts). */
function scrape(name: string, series: Record<string, readonly number[]>): Samples {
  const m = new Map<string, number>();
  for (const [labels, counts] of Object.entries(series)) {
    BOUNDS.forEach((le, i) => {
      const all = labels === "" ? `le="${le}"` : labels.replace("LE", `le="${le}"`);
      m.set(`${name}_bucket{${all}}`, counts[i]!);
    });
  }
  return m;
}

describe("histogramQuantiles", () => {
  it("reads one scrape's window as bucket upper bounds", () => {
    const before = scrape("h", { "": [0, 0, 0, 0] });
    const after = scrape("h", { "": [50, 98, 100, 100] });
    const q = histogramQuantiles(before, after, "h", [0.5, 0.99]);
    assert.deepEqual(q, { count: 100, upperBounds: [0.001, 0.1] });
  });

  it("sums nodes and counts only what happened in the window", () => {
    const before = [scrape("h", { "": [10, 10, 10, 10] }), scrape("h", { "": [0, 0, 0, 0] })];
    // Node 0: 10 new, all ≤ 1 ms. Node 1: 10 new, all in (10 ms, 100 ms].
    const after = [scrape("h", { "": [20, 20, 20, 20] }), scrape("h", { "": [0, 0, 10, 10] })];
    const q = histogramQuantiles(before, after, "h", [0.5, 0.51, 0.99]);
    assert.deepEqual(q, { count: 20, upperBounds: [0.001, 0.1, 0.1] });
  });

  it("keeps only the series whose labels match, in either label order", () => {
    const s = scrape("h", {
      'op="route",LE': [0, 0, 4, 4],
      'LE,op="deliver"': [4, 4, 4, 4],
    });
    const empty = new Map<string, number>();
    assert.deepEqual(histogramQuantiles(empty, s, "h", [0.5], { op: "route" }), {
      count: 4,
      upperBounds: [0.1],
    });
    assert.deepEqual(histogramQuantiles(empty, s, "h", [0.5], { op: "deliver" }), {
      count: 4,
      upperBounds: [0.001],
    });
    assert.equal(histogramQuantiles(empty, s, "h", [0.5], { op: "nudge" }), undefined);
  });

  it("is undefined for an empty window or a missing series", () => {
    const s = scrape("h", { "": [3, 3, 3, 3] });
    assert.equal(histogramQuantiles(s, s, "h", [0.5]), undefined);
    assert.equal(histogramQuantiles(new Map(), s, "other", [0.5]), undefined);
  });

  it("reports +Inf for a quantile past the last finite bound", () => {
    const q = histogramQuantiles(new Map(), scrape("h", { "": [0, 0, 0, 5] }), "h", [0.5]);
    assert.deepEqual(q, { count: 5, upperBounds: [Number.POSITIVE_INFINITY] });
  });
});
