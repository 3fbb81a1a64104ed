import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Errors } from "../errors/catalogue.js";
import { MAX_DATA_BYTES, parseUpdateRequest, type UpdateRequest } from "./update-request.js";

const NOW = 1_700_000_123n;
const FORM = "application/x-www-form-urlencoded";
const MAX_U64 = "18446744073709551615";

function parse(body: string, opts: { type?: string; query?: string } = {}): UpdateRequest {
  return parseUpdateRequest(opts.type ?? "", body, opts.query ?? "", () => NOW);
}

function ok(version: bigint, data?: string): UpdateRequest {
  return { ok: true, version, data };
}

function status(r: UpdateRequest): number {
  return r.ok ? 200 : Errors[r.code].http.status;
}

describe("parseUpdateRequest: version", () => {
  it("reads version from a form body", () => {
    assert.deepEqual(parse("version=12"), ok(12n));
    assert.deepEqual(parse("version=12", { type: FORM }), ok(12n));
  });

  it("missing, empty or 0 → now (Unix seconds)", () => {
    for (const body of ["", "version=", "version=0", "version=00", "data=x&other=1", "version"]) {
      const r = parse(body);
      assert.ok(r.ok, body);
      assert.equal(r.version, NOW, JSON.stringify(body));
    }
  });

  it("2^64 − 1 is exact", () => {
    assert.deepEqual(parse(`version=${MAX_U64}`), ok(18446744073709551615n));
  });

  it("keeps digits past 2^53 exact", () => {
    assert.deepEqual(parse("version=9007199254740993"), ok(9007199254740993n));
  });

  it("leading zeros are the same number", () => {
    assert.deepEqual(parse("version=007"), ok(7n));
  });

  for (const [what, v] of [
    ["2^64", "18446744073709551616"],
    ["far past 2^64", "99999999999999999999999"],
    ["negative", "-1"],
    ["negative zero", "-0"],
    ["fractional", "1.5"],
    ["a trailing dot", "1."],
    ["exponent", "1e3"],
    ["hex", "0x10"],
    ["hex digits", "ff"],
    ["a leading space", "%201"],
    ["a trailing space", "1%20"],
    ["a form-encoded space (+)", "+1"],
    ["a plus sign", "%2B1"],
    ["a tab", "1%09"],
    ["a newline", "1%0A"],
    ["words", "latest"],
    ["full-width digits", "%EF%BC%91"],
    ["underscores", "1_000"],
  ] as const) {
    it(`version ${what} → 400`, () => {
      const r = parse(`version=${v}`);
      assert.equal(status(r), 400);
      assert.ok(!r.ok && r.reason.length > 0, "400 with a reason");
    });
  }

  it("version from the query string when the body has none", () => {
    assert.deepEqual(parse("", { query: "version=77" }), ok(77n));
    assert.deepEqual(parse("data=hi", { query: "version=77" }), ok(77n, "hi"));
    assert.deepEqual(parse("", { query: `version=${MAX_U64}` }), ok(18446744073709551615n));
  });

  it("the body's version wins over the query's", () => {
    assert.deepEqual(parse("version=5", { query: "version=77" }), ok(5n));
  });

  it("a bad version in the query → 400", () => {
    assert.equal(status(parse("", { query: "version=-3" })), 400);
    assert.equal(status(parse("", { query: "version=18446744073709551616" })), 400);
  });

  it("query version 0 or empty → now", () => {
    assert.deepEqual(parse("", { query: "version=0" }), ok(NOW));
    assert.deepEqual(parse("", { query: "version=" }), ok(NOW));
    assert.deepEqual(parse("", { query: "other=1" }), ok(NOW));
  });

  it("percent-encoded digits are digits", () => {
    assert.deepEqual(parse("version=%31%32"), ok(12n));
  });

  it("calls the clock only when it needs it", () => {
    let calls = 0;
    const r = parseUpdateRequest("", "version=3", "", () => {
      calls++;
      return NOW;
    });
    assert.deepEqual(r, ok(3n));
    assert.equal(calls, 0);
  });
});

describe("parseUpdateRequest: content type", () => {
  it("absent → form", () => {
    assert.deepEqual(parse("version=9&data=a", { type: "" }), ok(9n, "a"));
  });

  for (const type of [
    FORM,
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded;charset=UTF-8",
    "Application/X-WWW-Form-URLEncoded",
    " application/x-www-form-urlencoded ; charset=utf-8",
  ]) {
    it(`${JSON.stringify(type)} → form`, () => {
      assert.deepEqual(parse("version=9&data=a", { type }), ok(9n, "a"));
    });
  }

  for (const type of [
    "text/plain",
    "application/json",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencodedx",
    "application/octet-stream",
  ]) {
    it(`${JSON.stringify(type)} → the body is ignored`, () => {
      assert.deepEqual(parse("version=9&data=a", { type }), ok(NOW));
      // Even a body that would be invalid as a form is ignored.
      assert.deepEqual(parse(`version=-1&data=${"x".repeat(5000)}`, { type }), ok(NOW));
      // The query still counts.
      assert.deepEqual(parse("version=9", { type, query: "version=4" }), ok(4n));
    });
  }
});

describe("parseUpdateRequest: data", () => {
  it("is carried when present, percent- and plus-decoded", () => {
    assert.deepEqual(parse("version=1&data=hello%20world+%26%3D"), ok(1n, "hello world &="));
  });

  it("is undefined when absent and empty when empty", () => {
    assert.deepEqual(parse("version=1"), ok(1n));
    assert.deepEqual(parse("version=1&data="), ok(1n, ""));
  });

  it("in the query string is not data", () => {
    assert.deepEqual(parse("version=1", { query: "data=x" }), ok(1n));
  });

  it(`${MAX_DATA_BYTES} bytes is accepted; ${MAX_DATA_BYTES + 1} → 413`, () => {
    assert.equal(MAX_DATA_BYTES, 4096);
    const r = parse(`version=1&data=${"a".repeat(4096)}`);
    assert.ok(r.ok && r.data?.length === 4096, "4096 bytes accepted");
    const big = parse(`version=1&data=${"a".repeat(4097)}`);
    assert.equal(status(big), 413);
    assert.ok(!big.ok && big.reason.length > 0, "413 with a reason");
  });

  it("counts UTF-8 bytes after decoding, not characters and not escapes", () => {
    // "é" is 2 bytes in UTF-8 and 6 characters as %C3%A9.
    const e = "%C3%A9";
    const fits = parse(`data=${e.repeat(2048)}`);
    assert.ok(fits.ok && fits.data === "é".repeat(2048), "2048 × é = 4096 bytes fits");
    assert.equal(status(parse(`data=${e.repeat(2048)}a`)), 413);
    // "😀" is 4 bytes and 2 UTF-16 units.
    const smile = encodeURIComponent("😀");
    assert.ok(parse(`data=${smile.repeat(1024)}`).ok, "1024 × 😀 = 4096 bytes fits");
    assert.equal(status(parse(`data=${smile.repeat(1024)}a`)), 413);
    // Escapes take more room than the bytes they stand for: 4096 escaped bytes fit.
    assert.ok(parse(`data=${"%41".repeat(4096)}`).ok, "4096 escaped bytes fit");
  });
});
