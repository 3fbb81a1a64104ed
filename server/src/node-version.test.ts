import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nodeSupported, unsupportedNodeMessage } from "./node-version.js";

describe("node version check", () => {
  it("admits Node 20.10 and later 20.x only", () => {
    for (const v of ["20.10.0", "20.20.2", "20.99.1"]) assert.equal(nodeSupported(v), true, v);
    for (const v of ["18.20.0", "20.9.0", "21.0.0", "22.23.5", "24.22.3", ""])
      assert.equal(nodeSupported(v), false, v);
  });

  it("names the Node it runs on and the one it needs", () => {
    const m = unsupportedNodeMessage("22.23.5");
    assert.match(m, /Node\.js 22\.23\.5/);
    assert.match(m, /needs Node\.js 20 \(20\.10 or later\)/);
    assert.match(m, /docs\/node-versions\.md/);
  });
});
