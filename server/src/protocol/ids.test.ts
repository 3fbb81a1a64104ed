import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mintUaid, normalizeUuid, uuidBytes, uuidFromBytes } from "./ids.js";

const NORM = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
const DASHED = "9f8e7d6c-5b4a-4938-2716-a5b4c3d2e1f0";

describe("normalizeUuid", () => {
  it("accepts 32 hex digits in any case and lower-cases them", () => {
    assert.equal(normalizeUuid(NORM), NORM);
    assert.equal(normalizeUuid(NORM.toUpperCase()), NORM);
    assert.equal(normalizeUuid("9F8e7D6c5B4a49382716A5b4C3d2E1f0"), NORM);
  });

  it("accepts 36 characters with dashes at 8/13/18/23 in any case and drops the dashes", () => {
    assert.equal(normalizeUuid(DASHED), NORM);
    assert.equal(normalizeUuid(DASHED.toUpperCase()), NORM);
    assert.equal(normalizeUuid("9F8E7D6C-5b4a-4938-2716-A5B4c3d2e1f0"), NORM);
  });

  it("makes both spellings of one id the same key", () => {
    assert.equal(normalizeUuid(DASHED.toUpperCase()), normalizeUuid(NORM));
  });

  it("does not require a version-4 UUID (format only)", () => {
    assert.equal(normalizeUuid("0".repeat(32)), "0".repeat(32));
    assert.equal(normalizeUuid("ffffffff-ffff-ffff-ffff-ffffffffffff"), "f".repeat(32));
  });

  for (const [name, s] of [
    ["empty", ""],
    ["31 hex", NORM.slice(1)],
    ["33 hex", `${NORM}a`],
    ["34 hex", `${NORM}ab`],
    ["36 hex without dashes", `${NORM}abcd`],
    ["32 chars with a non-hex letter", `${NORM.slice(0, 31)}g`],
    ["dashes in the wrong places", "9f8e7d6c5-b4a-4938-2716-a5b4c3d2e1f0"],
    ["dashed, one dash missing", "9f8e7d6c-5b4a-4938-2716a-5b4c3d2e1f0"],
    ["dashed with a non-hex letter", "9f8e7d6c-5b4a-4938-2716-a5b4c3d2e1fz"],
    ["dashed with underscores", "9f8e7d6c_5b4a_4938_2716_a5b4c3d2e1f0"],
    ["braced", `{${DASHED}}`],
    ["leading space", ` ${NORM}`],
    ["trailing newline", `${NORM}\n`],
    ["32 hex with a dash appended", `${NORM.slice(0, 31)}-`],
    ["full-width digits", "０".repeat(32)],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.equal(normalizeUuid(s), undefined);
    });
  }

  it("rejects non-strings", () => {
    for (const v of [undefined, null, 0, 1234n, true, [], {}, [NORM], { uaid: NORM }]) {
      assert.equal(normalizeUuid(v), undefined, String(v));
    }
  });
});

describe("mintUaid", () => {
  it("returns 32 lower-case hex digits shaped as a UUIDv4", () => {
    for (const fill of [0x00, 0xff, 0x5a]) {
      const u = mintUaid((n) => new Uint8Array(n).fill(fill));
      assert.match(u, /^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
      assert.equal(normalizeUuid(u), u);
    }
  });

  it("uses the random bytes it is given (apart from the version and variant bits)", () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const u = mintUaid(() => Uint8Array.from(bytes));
    assert.equal(u, "00112233445546778899aabbccddeeff");
  });

  it("asks for 16 bytes and gives distinct ids for distinct randomness", () => {
    const asked: number[] = [];
    let seed = 1;
    const byte = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    };
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      seen.add(
        mintUaid((n) => {
          asked.push(n);
          return Uint8Array.from({ length: n }, byte);
        }),
      );
    }
    assert.ok(asked.every((n) => n === 16));
    assert.equal(seen.size, 200);
  });
});

describe("uuidBytes / uuidFromBytes", () => {
  it("round-trip a normalised id through its 16 raw bytes", () => {
    const b = uuidBytes(NORM);
    assert.equal(b.length, 16);
    assert.equal(b[0], 0x9f);
    assert.equal(b[15], 0xf0);
    assert.equal(uuidFromBytes(b), NORM);
  });

  it("writes leading zero nibbles", () => {
    assert.equal(uuidFromBytes(new Uint8Array(16)), "0".repeat(32));
    assert.equal(uuidFromBytes(Uint8Array.from({ length: 16 }, () => 1)), "01".repeat(16));
  });
});
