import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { randomTokenKey, TokenCodec, type TokenKey } from "./token.js";

const KEY1: TokenKey = { id: 1, key: Buffer.alloc(32, 0x11) };
const KEY2: TokenKey = { id: 2, key: Buffer.alloc(32, 0x22) };
const UAID = "0123456789abcdef0123456789abcdef";
const CHID = "fedcba9876543210fedcba9876543210";
const TARGET = { region: "eu-west-1", uaid: UAID, channelID: CHID };

const codec = new TokenCodec([KEY1]);
const TOKEN = codec.encode(TARGET);

describe("TokenCodec round trip", () => {
  it("decodes what it encodes: region, UAID, channel", () => {
    assert.deepEqual(codec.decode(TOKEN), {
      region: "eu-west-1",
      uaid: UAID,
      channel: CHID,
      channelID: CHID,
    });
  });

  it("is URL-safe base64 without padding", () => {
    assert.match(TOKEN, /^[A-Za-z0-9_-]+$/);
    assert.ok(TOKEN.length <= 512, `${TOKEN.length} chars`);
  });

  it("mints a different token each time for the same target (random nonce), all decoding", () => {
    const again = codec.encode(TARGET);
    assert.notEqual(again, TOKEN);
    assert.deepEqual(codec.decode(again), codec.decode(TOKEN));
  });

  for (const [spelling, channelID] of [
    ["32 lower-case hex", CHID],
    ["32 upper-case hex", CHID.toUpperCase()],
    ["dashed", "fedcba98-7654-3210-fedc-ba9876543210"],
    ["dashed upper case", "FEDCBA98-7654-3210-FEDC-BA9876543210"],
    ["mixed case", "FeDcBa98-7654-3210-fEdC-bA9876543210"],
  ] as const) {
    it(`keeps the client's channelID spelling (${spelling}) and normalises the channel`, () => {
      const t = codec.decode(codec.encode({ ...TARGET, channelID }));
      assert.equal(t?.channelID, channelID);
      assert.equal(t?.channel, CHID);
    });
  }

  it("carries the region, whatever it is", () => {
    for (const region of ["", "local", "us-east-2", "x".repeat(63)]) {
      assert.equal(codec.decode(codec.encode({ ...TARGET, region }))?.region, region);
    }
  });
});

describe("TokenCodec keys", () => {
  it("a token minted with an old key still decodes after a new key is prepended", () => {
    const rotated = new TokenCodec([KEY2, KEY1]);
    assert.deepEqual(rotated.decode(TOKEN), codec.decode(TOKEN));
  });

  it("the newest (first) key mints", () => {
    const rotated = new TokenCodec([KEY2, KEY1]);
    const fresh = rotated.encode(TARGET);
    assert.equal(Buffer.from(fresh, "base64url")[0], 2, "key id written into the token");
    assert.equal(codec.decode(fresh), undefined, "a node with only the old key cannot read it");
    assert.deepEqual(new TokenCodec([KEY2]).decode(fresh)?.uaid, UAID);
  });

  it("a token whose key was retired no longer decodes", () => {
    assert.equal(new TokenCodec([KEY2]).decode(TOKEN), undefined);
  });

  it("the same id with another key does not decode", () => {
    assert.equal(new TokenCodec([{ id: 1, key: KEY2.key }]).decode(TOKEN), undefined);
  });

  it("rejects a token claiming another key id with the same key bytes (id authenticated)", () => {
    const twins = new TokenCodec([KEY1, { id: 9, key: KEY1.key }]);
    const raw = Buffer.from(TOKEN, "base64url");
    assert.ok(twins.decode(TOKEN), "decodes with its own id");
    raw[0] = 9;
    assert.equal(twins.decode(raw.toString("base64url")), undefined);
  });

  it("refuses to be built without keys or with a key that is not 32 bytes", () => {
    assert.throws(() => new TokenCodec([]));
    assert.throws(() => new TokenCodec([{ id: 1, key: Buffer.alloc(31) }]));
    assert.throws(() => new TokenCodec([KEY1, { id: 2, key: Buffer.alloc(33) }]));
  });

  it("randomTokenKey gives a usable 32-byte key with the requested id", () => {
    const k = randomTokenKey(7);
    assert.equal(k.id, 7);
    assert.equal(k.key.length, 32);
    assert.notDeepEqual(k.key, randomTokenKey(7).key);
    const c = new TokenCodec([k]);
    assert.equal(c.decode(c.encode(TARGET))?.channel, CHID);
  });
});

describe("TokenCodec rejects forged and damaged tokens", () => {
  it("every single-bit flip of a token's bytes → undefined", () => {
    const rotated = new TokenCodec([KEY1, KEY2]);
    const raw = Buffer.from(TOKEN, "base64url");
    let tried = 0;
    for (let i = 0; i < raw.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = Buffer.from(raw);
        flipped[i]! ^= 1 << bit;
        const t = flipped.toString("base64url");
        assert.equal(rotated.decode(t), undefined, `byte ${i} bit ${bit}`);
        tried++;
      }
    }
    assert.equal(tried, raw.length * 8);
  });

  it("every single-bit flip of a token's characters → undefined", () => {
    for (let i = 0; i < TOKEN.length; i++) {
      for (let bit = 0; bit < 7; bit++) {
        const ch = String.fromCharCode(TOKEN.charCodeAt(i) ^ (1 << bit));
        const t = TOKEN.slice(0, i) + ch + TOKEN.slice(i + 1);
        assert.equal(codec.decode(t), undefined, `char ${i} bit ${bit}`);
      }
    }
  });

  it("every truncation → undefined", () => {
    for (let n = 0; n < TOKEN.length; n++) {
      assert.equal(codec.decode(TOKEN.slice(0, n)), undefined, `first ${n} chars`);
      assert.equal(codec.decode(TOKEN.slice(TOKEN.length - n)), undefined, `last ${n} chars`);
    }
  });

  it("extensions → undefined", () => {
    for (const tail of ["A", "AA", "AAA", "AAAA", "_", "-", "=", "==", TOKEN]) {
      assert.equal(codec.decode(TOKEN + tail), undefined, `+${tail}`);
      assert.equal(codec.decode(tail + TOKEN), undefined, `${tail}+`);
    }
  });

  it("characters outside base64url → undefined (decoders would silently skip them)", () => {
    for (const c of ["+", "/", "=", " ", ".", "%", "\n", "é", "\u0000"]) {
      for (const at of [0, 10, TOKEN.length]) {
        assert.equal(
          codec.decode(TOKEN.slice(0, at) + c + TOKEN.slice(at)),
          undefined,
          `${c}@${at}`,
        );
      }
    }
    // Standard base64 spelling of the same bytes.
    const std = Buffer.from(TOKEN, "base64url").toString("base64");
    if (std !== TOKEN) assert.equal(codec.decode(std), undefined);
  });

  it("garbage, empty and oversized input → undefined", () => {
    for (const t of [
      "",
      "A",
      "AAAA",
      "not a token",
      "update",
      "A".repeat(TOKEN.length),
      Buffer.alloc(200, 1).toString("base64url"),
      Buffer.concat([Buffer.of(1), Buffer.alloc(120)]).toString("base64url"),
      "A".repeat(513),
      "A".repeat(100_000),
      TOKEN.repeat(5),
    ]) {
      assert.equal(codec.decode(t), undefined, t.slice(0, 40));
    }
  });

  it("the longest token it can mint (255-byte region, dashed channelID) fits within the 512 limit", () => {
    const channelID = "FEDCBA98-7654-3210-FEDC-BA9876543210";
    const longest = codec.encode({ ...TARGET, region: "r".repeat(255), channelID });
    assert.ok(longest.length <= 512, `${longest.length} chars`);
    assert.equal(codec.decode(longest)?.channelID, channelID);
  });

  it("an unknown key id → undefined", () => {
    const raw = Buffer.from(TOKEN, "base64url");
    for (const id of [0, 2, 3, 255]) {
      raw[0] = id;
      assert.equal(codec.decode(raw.toString("base64url")), undefined, `id ${id}`);
    }
  });
});
