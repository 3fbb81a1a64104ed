import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_VERSION, parseVersion, versionFromJson } from "./version.js";

describe("parseVersion", () => {
  it("parses unsigned decimal integers exactly, up to 2^64-1", () => {
    assert.equal(MAX_VERSION, 18446744073709551615n);
    assert.equal(parseVersion("0"), 0n);
    assert.equal(parseVersion("12"), 12n);
    assert.equal(parseVersion("9007199254740993"), 9007199254740993n);
    assert.equal(parseVersion("18446744073709551615"), 18446744073709551615n);
  });

  it("rejects 2^64 and beyond", () => {
    assert.equal(parseVersion("18446744073709551616"), undefined);
    assert.equal(parseVersion("99999999999999999999"), undefined);
    assert.equal(parseVersion("100000000000000000000"), undefined);
  });

  for (const s of ["", "-1", "+1", "1.0", "1e3", "0x10", " 1", "1 ", "1_000", "١٢", "12a", "-0"]) {
    it(`rejects ${JSON.stringify(s)}`, () => {
      assert.equal(parseVersion(s), undefined);
    });
  }
});

describe("versionFromJson", () => {
  it("takes safe non-negative integers as numbers", () => {
    assert.equal(versionFromJson(0), 0n);
    assert.equal(versionFromJson(12), 12n);
    assert.equal(versionFromJson(Number.MAX_SAFE_INTEGER), 9007199254740991n);
  });

  it("takes bigints within u64 exactly", () => {
    assert.equal(versionFromJson(18446744073709551615n), 18446744073709551615n);
    assert.equal(versionFromJson(9007199254740993n), 9007199254740993n);
  });

  it("takes decimal strings exactly", () => {
    assert.equal(versionFromJson("12"), 12n);
    assert.equal(versionFromJson("18446744073709551615"), 18446744073709551615n);
  });

  it("never rounds: unsafe numbers, fractions and negatives are not versions", () => {
    for (const v of [2 ** 53, 2 ** 64, 1.5, -1, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(versionFromJson(v), undefined, String(v));
    }
  });

  it("rejects bigints outside u64", () => {
    assert.equal(versionFromJson(-1n), undefined);
    assert.equal(versionFromJson(18446744073709551616n), undefined);
  });

  it("rejects everything else", () => {
    for (const v of [undefined, null, true, [], [12], {}, { version: 12 }, "abc", ""]) {
      assert.equal(versionFromJson(v), undefined, JSON.stringify(v));
    }
  });
});
