import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorBody, PushError } from "./push-errors.js";
import {
  MAX_PUSH_BYTES,
  MAX_TTL_SECONDS,
  type PushHeaders,
  parsePushRequest,
} from "./push-request.js";

const H: PushHeaders = {
  ttl: "60",
  contentEncoding: "aes128gcm",
  encryption: "",
  cryptoKey: "",
  urgency: "",
  topic: "",
};
/** An RFC 8188 header (salt, rs, idlen 65, key id) plus one 17-byte record. */
const AES128GCM = Buffer.concat([
  Buffer.alloc(16, 1),
  Buffer.from([0, 0, 16, 0, 65]),
  Buffer.alloc(65, 4),
  Buffer.alloc(17, 9),
]);

function kindOf(r: ReturnType<typeof parsePushRequest>): string {
  return r.ok ? "ok" : r.kind;
}

describe("parsePushRequest", () => {
  it("relays an aes128gcm body as base64url with only the encoding", () => {
    const r = parsePushRequest(H, AES128GCM);
    assert.ok(r.ok);
    assert.equal(r.data, AES128GCM.toString("base64url"));
    assert.deepEqual(r.headers, { encoding: "aes128gcm" });
    assert.equal(r.ttlSeconds, 60);
    assert.equal(r.urgency, "normal");
  });

  it("relays aesgcm with its Crypto-Key and Encryption", () => {
    const h = {
      ...H,
      contentEncoding: "aesgcm",
      cryptoKey: "dh=BOb;p256ecdsa=BXy",
      encryption: "salt=abc",
    };
    const r = parsePushRequest(h, Buffer.alloc(40, 3));
    assert.ok(r.ok);
    assert.deepEqual(r.headers, {
      encoding: "aesgcm",
      crypto_key: "dh=BOb;p256ecdsa=BXy",
      encryption: "salt=abc",
    });
  });

  it("an empty push carries neither data nor headers", () => {
    const r = parsePushRequest({ ...H, contentEncoding: "" }, Buffer.alloc(0));
    assert.ok(r.ok);
    assert.equal(r.data, undefined);
    assert.equal(r.headers, undefined);
  });

  it("TTL is required and a non-negative integer; huge TTLs are lowered", () => {
    assert.equal(kindOf(parsePushRequest({ ...H, ttl: "" }, AES128GCM)), "missingTtl");
    for (const ttl of ["-1", "1.5", "abc", "99999999999"])
      assert.equal(kindOf(parsePushRequest({ ...H, ttl }, AES128GCM)), "badTtl", ttl);
    const r = parsePushRequest({ ...H, ttl: "9999999999" }, AES128GCM);
    assert.ok(r.ok);
    assert.equal(r.ttlSeconds, MAX_TTL_SECONDS);
    const zero = parsePushRequest({ ...H, ttl: "0" }, AES128GCM);
    assert.ok(zero.ok);
    assert.equal(zero.ttlSeconds, 0);
  });

  it("checks Urgency and Topic", () => {
    const u = parsePushRequest({ ...H, urgency: "High" }, AES128GCM);
    assert.ok(u.ok);
    assert.equal(u.urgency, "high");
    assert.equal(kindOf(parsePushRequest({ ...H, urgency: "urgent" }, AES128GCM)), "badUrgency");
    const t = parsePushRequest({ ...H, topic: "scores_1-a" }, AES128GCM);
    assert.ok(t.ok);
    assert.equal(t.topic, "scores_1-a");
    for (const topic of ["a b", "x".repeat(33), "é"])
      assert.equal(kindOf(parsePushRequest({ ...H, topic }, AES128GCM)), "badTopic", topic);
  });

  it("refuses bodies over 4096 bytes (413) and payloads it cannot describe (400)", () => {
    const big = Buffer.concat([AES128GCM, Buffer.alloc(MAX_PUSH_BYTES - AES128GCM.length + 1)]);
    assert.equal(kindOf(parsePushRequest(H, big)), "tooLarge");
    assert.ok(parsePushRequest(H, big.subarray(0, MAX_PUSH_BYTES)).ok);
    assert.equal(kindOf(parsePushRequest({ ...H, contentEncoding: "" }, AES128GCM)), "badCrypto");
    assert.equal(
      kindOf(parsePushRequest({ ...H, contentEncoding: "gzip" }, AES128GCM)),
      "badCrypto",
    );
    assert.equal(kindOf(parsePushRequest(H, Buffer.alloc(10))), "badCrypto");
    assert.equal(
      kindOf(parsePushRequest({ ...H, contentEncoding: "aesgcm" }, AES128GCM)),
      "badCrypto",
    );
  });

  it("error bodies carry code, errno, error and message", () => {
    assert.deepEqual(JSON.parse(errorBody({ ok: false, kind: "tooLarge", message: "m" })), {
      code: 413,
      errno: PushError.tooLarge.errno,
      error: "Payload Too Large",
      message: "m",
    });
  });
});
