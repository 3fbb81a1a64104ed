import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRegionRecord } from "./region-records.js";

describe("parseRegionRecord", () => {
  it("reads adoption, replica and endpoint", () => {
    assert.deepEqual(
      parseRegionRecord(
        '{"state":"failed","since":"x","adoptedBy":"b","replicaUrl":"redis://10.0.0.1:6379","endpoint":"https://a.example/"}',
      ),
      {
        state: "failed",
        adoptedBy: "b",
        replicaUrl: "redis://10.0.0.1:6379",
        endpoint: "https://a.example",
      },
    );
  });
  it("ignores adoption of a region that is not failed, and malformed fields", () => {
    assert.deepEqual(
      parseRegionRecord('{"state":"active","adoptedBy":"b","replicaUrl":"x","endpoint":3}'),
      { state: "active" },
    );
  });
  it("refuses garbage", () => {
    for (const t of ["", "null", "[]", "{", '{"state":"gone"}', null, undefined])
      assert.equal(parseRegionRecord(t), undefined);
  });
});
