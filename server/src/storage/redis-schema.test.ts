import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodePending, encodePending, keysOf, versionString } from "./redis-schema.js";

const MAX_U64 = 18446744073709551615n;

describe("redis schema", () => {
  it("tags both keys of a UAID with the UAID, under the prefix", () => {
    const uaid = "0123456789abcdef0123456789abcdef";
    assert.deepEqual(keysOf("edition:", uaid), {
      registrations: `edition:{${uaid}}:u`,
      pending: `edition:{${uaid}}:p`,
    });
  });

  it("round-trips a pending value, keeping every u64 digit and any channelID spelling", () => {
    for (const [version, channelID] of [
      [MAX_U64, "0123ABCD-0000-0000-0000-000000000000"],
      [0n, "with:colons:inside"],
      [9007199254740993n, ""],
    ] as const) {
      const value = encodePending(1_700_000_000_000, version, channelID);
      assert.deepEqual(decodePending(value), { version, channelID });
    }
    assert.equal(encodePending(5, MAX_U64, "c"), "5:18446744073709551615:c");
  });

  it("carries a stamp between version and channelID, and still reads values without one", () => {
    const value = encodePending(7, 3n, "a:b", "k2.Zz-9");
    assert.equal(value, "7:3:~k2.Zz-9:a:b");
    assert.deepEqual(decodePending(value), { version: 3n, stamp: "k2.Zz-9", channelID: "a:b" });
    assert.deepEqual(decodePending("7:3:a:b"), { version: 3n, channelID: "a:b" });
    assert.throws(() => encodePending(7, 3n, "c", "has:colon"), RangeError);
    assert.throws(() => decodePending("7:3:~nocolon"), /malformed pending value/);
  });

  it("refuses versions outside u64", () => {
    assert.equal(versionString(MAX_U64), "18446744073709551615");
    assert.throws(() => versionString(MAX_U64 + 1n), RangeError);
    assert.throws(() => versionString(-1n), RangeError);
  });

  it("rejects a malformed stored value instead of inventing a version", () => {
    for (const bad of ["", "123", "123:", "123::c"]) {
      assert.throws(() => decodePending(bad), /malformed pending value/);
    }
  });
});
