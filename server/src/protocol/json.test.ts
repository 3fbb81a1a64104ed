import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseJson } from "./json.js";

/** 19 digits, unsafe: forces the slow path without touching the value under test. */
const PAD = "1234567890123456789";

/** Parses `text` on the slow path by putting it next to an unsafe integer. */
function slow(text: string): unknown {
  const v = parseJson(`{"pad":${PAD},"v":${text}}`) as { pad: unknown; v: unknown };
  assert.equal(v.pad, BigInt(PAD));
  return v.v;
}

/** Same shape with bigints turned into numbers, to compare with plain JSON.parse. */
function asNumbers(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(asNumbers);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      Object.defineProperty(out, k, { value: asNumbers(x), enumerable: true, writable: true });
    }
    return out;
  }
  return v;
}

describe("parseJson: unsafe integers", () => {
  it("keeps 2^64-1 digit for digit", () => {
    const v = parseJson('{"version":18446744073709551615}') as { version: unknown };
    assert.equal(v.version, 18446744073709551615n);
  });

  it("keeps integers just past 2^53 exact", () => {
    assert.deepEqual(parseJson("[9007199254740992,9007199254740993]"), [
      9007199254740992n,
      9007199254740993n,
    ]);
  });

  it("leaves safe integers as numbers, even long ones", () => {
    assert.deepEqual(
      parseJson("[9007199254740991,-9007199254740991,1000000000000000]"),
      [9007199254740991, -9007199254740991, 1000000000000000],
    );
  });

  it("keeps negative big integers", () => {
    assert.deepEqual(parseJson("[-18446744073709551615,-9007199254740993]"), [
      -18446744073709551615n,
      -9007199254740993n,
    ]);
  });

  it("keeps integers larger than u64", () => {
    assert.equal(parseJson("123456789012345678901234567890"), 123456789012345678901234567890n);
  });

  it("leaves long fractions and exponents as JSON numbers", () => {
    assert.deepEqual(parseJson("[12345678901234567890.5,1234567890123456789e2,1e400]"), [
      Number("12345678901234567890.5"),
      Number("1234567890123456789e2"),
      Number.POSITIVE_INFINITY,
    ]);
  });

  it("keeps big integers nested anywhere", () => {
    assert.deepEqual(
      parseJson('{"a":[{"b":18446744073709551615}],"c":{"d":[[-99999999999999999999]]}}'),
      { a: [{ b: 18446744073709551615n }], c: { d: [[-99999999999999999999n]] } },
    );
  });

  it("keeps big integers with whitespace around them", () => {
    assert.deepEqual(parseJson('{ "v" :\n\t18446744073709551615 \r\n}'), {
      v: 18446744073709551615n,
    });
  });
});

describe("parseJson: strings are untouched", () => {
  it("does not convert digits inside strings", () => {
    assert.deepEqual(parseJson('{"v":"18446744073709551615","w":["-99999999999999999999"]}'), {
      v: "18446744073709551615",
      w: ["-99999999999999999999"],
    });
  });

  it("does not convert digits inside keys", () => {
    assert.deepEqual(parseJson('{"18446744073709551615":1}'), { "18446744073709551615": 1 });
  });

  it("handles escaped quotes and backslashes before digit runs", () => {
    assert.deepEqual(parseJson('["a\\"18446744073709551615", 18446744073709551615]'), [
      'a"18446744073709551615',
      18446744073709551615n,
    ]);
    assert.deepEqual(parseJson('["a\\\\", 18446744073709551615, "\\\\\\"1234567890123456789"]'), [
      "a\\",
      18446744073709551615n,
      '\\"1234567890123456789',
    ]);
  });

  it("keeps client strings that look like internal markers", () => {
    // U+0000 can only be sent escaped; whatever the parser uses internally must not leak.
    const text = `["\\u0000big:12","\\u000012","\\u0000","\\u0000\\u0000x",${PAD}]`;
    assert.deepEqual(parseJson(text), [
      "\u0000big:12",
      "\u000012",
      "\u0000",
      "\u0000\u0000x",
      BigInt(PAD),
    ]);
    assert.deepEqual(parseJson(`{"\\u00001":"\\u00002","p":${PAD}}`), {
      "\u00001": "\u00002",
      p: BigInt(PAD),
    });
  });

  it("keeps a __proto__ key as an own property on the slow path", () => {
    const v = parseJson(`{"__proto__":${PAD},"x":{"__proto__":"\\u0000"}}`) as Record<
      string,
      unknown
    >;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(v, "__proto__")?.value, BigInt(PAD));
    const x = v.x as Record<string, unknown>;
    assert.equal(Object.getOwnPropertyDescriptor(x, "__proto__")?.value, "\u0000");
  });
});

describe("parseJson: validation", () => {
  const invalid = [
    "",
    "{",
    "{}}",
    "[1,]",
    "{'a':1}",
    "01",
    "-01",
    "012345678901234567890",
    "-012345678901234567890",
    '{"v":012345678901234567890}',
    "[1234567890123456789012 3]",
    '{"v":18446744073709551615 18446744073709551615}',
    "{18446744073709551615:1}",
    '{"a":1,18446744073709551615:2}',
    '{"a":1, 18446744073709551615 :2}',
    '["a"18446744073709551615]',
    "--18446744073709551615",
    "+18446744073709551615",
    "18446744073709551615-1",
    "0x1234567890123456789",
    '"\u0000 raw control char 18446744073709551615"',
    "[18446744073709551615",
    '"unterminated 18446744073709551615',
  ];
  for (const text of invalid) {
    it(`rejects ${JSON.stringify(text)} like JSON.parse`, () => {
      assert.throws(() => JSON.parse(text), SyntaxError);
      assert.throws(() => parseJson(text), SyntaxError);
    });
  }

  it("parses deep nesting on the slow path without overflowing the stack", () => {
    const depth = 100_000;
    const text = `{"v":${PAD},"d":${"[".repeat(depth)}"\\u0000x"${"]".repeat(depth)}}`;
    let v: unknown = (parseJson(text, { maxDigits: 40, maxDepth: depth + 1 }) as { d: unknown }).d;
    for (let i = 1; i < depth; i++) v = (v as unknown[])[0];
    assert.deepEqual(v, ["\u0000x"]);
  });
});

describe("parseJson: fast path and slow path agree", () => {
  const samples = [
    "{}",
    "[]",
    "null",
    "true",
    "0",
    "-0",
    "1.5e-7",
    '"x"',
    '{"messageType":"hello","uaid":"","channelIDs":[]}',
    '{"a":[1,2,{"b":null}],"c":"d\\"e","f":-12.5E+3}',
    '{"s":"\\u0000\\ud800\\n\\t\\/"}',
    '{"dup":1,"dup":2}',
    '{"__proto__":{"x":1}}',
  ];
  for (const text of samples) {
    it(`agrees on ${text}`, () => {
      assert.deepEqual(parseJson(text), JSON.parse(text));
      assert.deepEqual(slow(text), JSON.parse(text));
    });
  }

  it("agrees with JSON.parse on random JSON (numbers compared as numbers)", () => {
    fc.assert(
      fc.property(fc.json({ stringUnit: "binary" }), (text) => {
        const expected = JSON.parse(text);
        assert.deepEqual(asNumbers(parseJson(text)), expected);
        assert.deepEqual(asNumbers(slow(text)), expected);
      }),
      { numRuns: 2000, seed: 4242 },
    );
  });

  it("returns every generated integer literal exactly", () => {
    const intLiteral = fc.bigInt({ min: -(1n << 70n), max: 1n << 70n });
    fc.assert(
      fc.property(fc.array(intLiteral, { maxLength: 8 }), fc.string(), (ints, s) => {
        const text = `{"s":${JSON.stringify(s)},"ints":[${ints.join(" , ")}]}`;
        const v = parseJson(text) as { s: string; ints: unknown[] };
        assert.equal(v.s, s);
        assert.equal(v.ints.length, ints.length);
        v.ints.forEach((x, i) => {
          assert.equal(BigInt(x as number | bigint), ints[i]);
          const safe = Number.isSafeInteger(Number(ints[i]));
          assert.equal(typeof x, safe ? "number" : "bigint");
        });
      }),
      { numRuns: 2000, seed: 777 },
    );
  });
});

describe("parseJson: bounds", () => {
  it("refuses a number literal longer than maxDigits, on the slow path, before any BigInt", () => {
    const u64 = "18446744073709551615";
    const v = parseJson(`{"v":${u64}}`, { maxDigits: 20, maxDepth: 8 }) as { v: bigint };
    assert.equal(v.v, BigInt(u64));
    assert.throws(() => parseJson(`{"v":${u64}9}`, { maxDigits: 20, maxDepth: 8 }), SyntaxError);
    // 520k digits: refused by the scan (one BigInt of it cost 100 ms of CPU).
    const huge = `{"messageType":"ack","updates":[{"channelID":"x","version":${"9".repeat(520_000)}}]}`;
    assert.throws(() => parseJson(huge), /longer than 40/);
    // Digits inside strings are not numbers.
    assert.equal((parseJson(`{"s":"${"1".repeat(100)}"}`) as { s: string }).s.length, 100);
  });

  it("refuses nesting deeper than maxDepth on both paths; brackets in strings do not count", () => {
    const nest = (d: number, inner = "0") => `{"x":${"[".repeat(d)}${inner}${"]".repeat(d)}}`;
    assert.doesNotThrow(() => parseJson(nest(31)));
    assert.throws(() => parseJson(nest(32)), /deeper than 32/);
    assert.throws(() => parseJson(nest(250_000, PAD)), /deeper than 32/);
    assert.doesNotThrow(() => parseJson(`{"s":"${"[".repeat(1000)}"}`));
    assert.doesNotThrow(() => parseJson(nest(100), { maxDigits: 40, maxDepth: 101 }));
  });
});
