import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Push } from "./route.js";
import { binaryWire, decodeFrame, encodeFrame } from "./router-codec.js";
import { legacyWire } from "./router-legacy.js";
import {
  type PresenceReply,
  RouterDecodeError,
  type RouterFrame,
  type RouterRequest,
} from "./router-messages.js";

/** Records with an ordinary prototype, as decoded objects have (deepEqual compares them). */
const anyRecord = fc.record as (model: unknown, opts: object) => unknown;
const rec = ((model: unknown, opts?: object) =>
  anyRecord(model, { ...opts, noNullPrototype: true })) as typeof fc.record;

const id = fc
  .string({ unit: "grapheme", minLength: 1, maxLength: 24 })
  .filter((s) => Buffer.byteLength(s) <= 256);
const stamp = fc
  .string({ unit: "grapheme", minLength: 1, maxLength: 12 })
  .filter((s) => Buffer.byteLength(s) <= 64);
const since = fc.double({ min: 0, noNaN: true, noDefaultInfinity: true });
const version = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const text = fc.string({ unit: "grapheme", maxLength: 200 });

const push: fc.Arbitrary<Push> = fc.oneof(
  rec(
    {
      kind: fc.constant("simplepush" as const),
      channelID: id,
      version,
      data: text,
      stamp,
    },
    { requiredKeys: ["kind", "channelID", "version"] },
  ),
  rec(
    { kind: fc.constant("webpush" as const), frame: text, stamp },
    { requiredKeys: ["kind", "frame"] },
  ),
);

const request: fc.Arbitrary<RouterRequest> = fc.oneof(
  rec({ op: fc.constantFrom("announce" as const, "withdraw" as const), uaid: id, node: id, since }),
  rec({ op: fc.constantFrom("evict" as const, "flush" as const), uaid: id, since }),
  rec({ op: fc.constant("reclaim" as const), node: id }),
  rec(
    { op: fc.constant("nudge" as const), uaid: id, fwd: fc.constant(1 as const) },
    {
      requiredKeys: ["op", "uaid"],
    },
  ),
  rec(
    { op: fc.constant("route" as const), uaid: id, push, fwd: fc.constant(1 as const) },
    {
      requiredKeys: ["op", "uaid", "push"],
    },
  ),
  rec({ op: fc.constant("deliver" as const), uaid: id, push }),
);

const reply: fc.Arbitrary<PresenceReply> = rec(
  { d: fc.constantFrom(0 as const, 1 as const), h: id },
  { requiredKeys: [] },
);

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map(Buffer.from);

const frame: fc.Arbitrary<RouterFrame> = fc.oneof(
  rec({ t: fc.constant("hello" as const), nonce: bytes(16) }),
  rec({ t: fc.constant("challenge" as const), nonce: bytes(16), proof: bytes(32) }),
  rec({ t: fc.constant("auth" as const), proof: bytes(32) }),
  rec({ t: fc.constant("request" as const), id: u32, req: request }),
  rec({ t: fc.constant("reply" as const), id: u32, reply }),
  rec({
    t: fc.constant("error" as const),
    id: u32,
    message: fc.string({ unit: "grapheme", maxLength: 40 }),
  }),
);

/** Everything a decoder makes of `input`, fed in `cuts` pieces. */
function decodeAll(wire: typeof binaryWire, input: Buffer, cuts: number[], max = 1 << 20) {
  const d = wire.decoder(() => max);
  const out: RouterFrame[] = [];
  let at = 0;
  for (const c of [...cuts.filter((x) => x < input.length).sort((a, b) => a - b), input.length]) {
    const err = d.push(input.subarray(at, c), (f) => {
      out.push(f);
      return true;
    });
    at = c;
    if (err !== undefined) return { out, err };
  }
  return { out, err: undefined };
}

describe("router codec", () => {
  it("decodes every frame it encodes, however the stream is cut", () => {
    fc.assert(
      fc.property(
        fc.array(frame, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(4000)),
        (fs, cuts) => {
          const bytes = Buffer.concat(fs.map(encodeFrame));
          const { out, err } = decodeAll(binaryWire, bytes, cuts);
          assert.equal(err, undefined);
          assert.deepEqual(out, fs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("random bytes decode to frames or one RouterDecodeError, never a throw or a hang", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(600)), (raw, cuts) => {
        const { err } = decodeAll(binaryWire, Buffer.from(raw), cuts, 512);
        assert.ok(err === undefined || err instanceof RouterDecodeError);
      }),
      { numRuns: 2000 },
    );
  });

  it("corrupting one byte of a valid frame never throws", () => {
    fc.assert(
      fc.property(frame, fc.nat(), fc.integer({ min: 0, max: 255 }), (f, at, b) => {
        const bytes = Buffer.from(encodeFrame(f));
        bytes[at % bytes.length] = b;
        const { err } = decodeAll(binaryWire, bytes, []);
        assert.ok(err === undefined || err instanceof RouterDecodeError);
      }),
      { numRuns: 1000 },
    );
  });

  it("stops at the first bad frame: too long, unknown type, truncated field, trailing bytes", () => {
    const ok = encodeFrame({ t: "request", id: 1, req: { op: "nudge", uaid: "u" } });
    const unknown = Buffer.from([0, 0, 0, 1, 99]);
    const long = Buffer.from([0, 0, 4, 0]); // announces 1024 bytes: over a 512-byte limit
    const truncated = Buffer.from([0, 0, 0, 6, 19, 0, 0, 0, 1, 0]); // nudge: uaid length cut off
    const trailing = Buffer.concat([ok.subarray(0, 4), ok.subarray(4), Buffer.from([0])]);
    trailing.writeUInt32BE(ok.length - 4 + 1, 0);
    for (const [bad, tooLong] of [
      [unknown, false],
      [long, true],
      [truncated, false],
      [trailing, false],
    ] as const) {
      const { out, err } = decodeAll(binaryWire, Buffer.concat([ok, bad, ok]), [], 512);
      assert.equal(out.length, 1, "the frame before is decoded, nothing after the bad one");
      assert.ok(err instanceof RouterDecodeError);
      assert.equal(err.code, "ROUTER_BAD_MESSAGE");
      assert.equal(err.tooLong, tooLong);
    }
  });

  it("rejects fields out of bounds", () => {
    const bad: RouterFrame[] = [
      { t: "request", id: 1, req: { op: "evict", uaid: "x".repeat(300), since: 1 } },
      { t: "request", id: 1, req: { op: "evict", uaid: "", since: 1 } },
      { t: "request", id: 1, req: { op: "evict", uaid: "u", since: -1 } },
      { t: "request", id: 1, req: { op: "flush", uaid: "u", since: Number.NaN } },
      {
        t: "request",
        id: 1,
        req: {
          op: "deliver",
          uaid: "u",
          push: { kind: "simplepush", channelID: "c", version: 1n, stamp: "s".repeat(65) },
        },
      },
    ];
    for (const f of bad)
      assert.ok(decodeFrame(encodeFrame(f).subarray(4)) instanceof RouterDecodeError);
  });

  it("carries a SimplePush update in a few dozen bytes, not a JSON frame", () => {
    const f = encodeFrame({
      t: "request",
      id: 7,
      req: {
        op: "route",
        uaid: "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        push: {
          kind: "simplepush",
          channelID: "a5b4c3d2-e1f0-4b5a-8978-0f1e2d3c4b5a",
          version: 1_700_000_000n,
          stamp: "AbCdEfGh.1z",
        },
      },
    });
    assert.ok(f.length < 110, `${f.length} bytes`);
  });
});

describe("legacy JSON-line wire (rolling upgrade)", () => {
  it("round-trips what old nodes send, SimplePush frames read back into fields", () => {
    const frames: RouterFrame[] = [
      { t: "hello", nonce: Buffer.alloc(16, 1) },
      { t: "challenge", nonce: Buffer.alloc(16, 2), proof: Buffer.alloc(32, 3) },
      { t: "auth", proof: Buffer.alloc(32, 4) },
      { t: "request", id: 1, req: { op: "announce", uaid: "u", node: "n1", since: 5 } },
      { t: "request", id: 2, req: { op: "nudge", uaid: "u", fwd: 1 } },
      {
        t: "request",
        id: 3,
        req: {
          op: "route",
          uaid: "u",
          push: {
            kind: "simplepush",
            channelID: "c",
            version: 18446744073709551615n,
            data: 'hi "there"',
            stamp: "k.1",
          },
          fwd: 1,
        },
      },
      {
        t: "request",
        id: 4,
        req: { op: "deliver", uaid: "u", push: { kind: "webpush", frame: '{"messageType":"x"}' } },
      },
      { t: "reply", id: 5, reply: { d: 1, h: "n2" } },
      { t: "error", id: 6, message: "boom" },
    ];
    const { out, err } = decodeAll(
      legacyWire,
      Buffer.concat(frames.map(legacyWire.encode)),
      [7, 90],
    );
    assert.equal(err, undefined);
    assert.deepEqual(out, frames);
  });

  it("reads an old node's exact lines and ignores its `flush` reply flag", () => {
    const lines = [
      '{"op":"deliver","uaid":"u","frame":"{\\"messageType\\":\\"notification\\",\\"updates\\":[{\\"channelID\\":\\"c\\",\\"version\\":12345678901234567890}]}","stamp":"s.1","i":9}',
      '{"d":0,"flush":1,"r":3}',
    ];
    const { out, err } = decodeAll(legacyWire, Buffer.from(`${lines.join("\n")}\n`), []);
    assert.equal(err, undefined);
    assert.deepEqual(out, [
      {
        t: "request",
        id: 9,
        req: {
          op: "deliver",
          uaid: "u",
          push: {
            kind: "simplepush",
            channelID: "c",
            version: 12345678901234567890n,
            data: undefined,
            stamp: "s.1",
          },
        },
      },
      { t: "reply", id: 3, reply: { d: 0 } },
    ]);
  });

  it("rejects malformed lines with a clear error and parses nothing after them", () => {
    const bad = [
      "{}",
      '{"op":"nope","uaid":"u","i":1}',
      '{"op":"announce","uaid":"u","node":"n","i":1}',
      '{"op":"evict","uaid":"u","since":-1,"i":1}',
      '{"op":"route","uaid":"u","frame":1,"i":1}',
      '{"op":"route","uaid":"u","frame":"{}","fwd":2,"i":1}',
      '{"op":"deliver","uaid":"u","frame":"","stamp":3,"i":1}',
      '{"d":2,"r":1}',
      '{"hello":"zz"}',
      "not json",
      "[1]",
    ];
    for (const l of bad) {
      const { out, err } = decodeAll(legacyWire, Buffer.from(`${l}\n{"r":1}\n`), []);
      assert.ok(err instanceof RouterDecodeError, l);
      assert.equal(out.length, 0, l);
    }
  });
});
