import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseRegionState, RegionState } from "./region-state.js";

describe("region state", () => {
  it("parses the operator's record and ignores anything else", () => {
    assert.equal(parseRegionState('{"state":"failed","since":1}'), "failed");
    assert.equal(parseRegionState('{"state":"recovering","since":1,"until":2}'), "recovering");
    assert.equal(parseRegionState('{"state":"active"}'), "active");
    for (const bad of [null, undefined, "", "{", '{"state":"down"}', "[]", '"failed"']) {
      assert.equal(parseRegionState(bad), undefined, `${bad} is not a state`);
    }
  });

  it("is active by default, prefers etcd, and falls back to the mounted file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edition-region-"));
    try {
      const s = new RegionState(dir, "eu");
      assert.equal(s.phase, "active");
      writeFileSync(join(dir, "eu"), '{"state":"failed","since":1}');
      s.watchFile(60_000);
      const end = Date.now() + 5_000;
      while ((s.phase as string) !== "failed") {
        assert.ok(Date.now() < end, "the file is read");
        await new Promise((r) => setImmediate(r));
      }
      s.setFromEtcd('{"state":"active","since":2}');
      assert.equal(s.phase, "active", "etcd wins over the file");
      s.setFromEtcd(null);
      assert.equal(s.phase, "failed", "the file again once etcd has no record");
      s.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
