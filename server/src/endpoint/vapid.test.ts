import assert from "node:assert/strict";
import { createECDH, createPrivateKey, sign } from "node:crypto";
import { describe, it } from "node:test";
import { verifyVapid } from "./vapid.js";
import { keyHash } from "./webpush-token.js";

const AUD = "https://push.example.com:8443";
const NOW = 1_800_000_000;

function keypair() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const pub = ecdh.getPublicKey();
  const priv = createPrivateKey({
    key: {
      kty: "EC",
      crv: "P-256",
      d: ecdh.getPrivateKey().toString("base64url"),
      x: pub.subarray(1, 33).toString("base64url"),
      y: pub.subarray(33).toString("base64url"),
    },
    format: "jwk",
  });
  return { pub, priv };
}

function jwt(priv: ReturnType<typeof keypair>["priv"], claims: object, alg = "ES256"): string {
  const head = Buffer.from(JSON.stringify({ typ: "JWT", alg })).toString("base64url");
  const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const sig = sign("sha256", Buffer.from(`${head}.${body}`), {
    key: priv,
    dsaEncoding: "ieee-p1363",
  });
  return `${head}.${body}.${sig.toString("base64url")}`;
}

describe("verifyVapid", () => {
  const k = keypair();
  const key = k.pub.toString("base64url");
  const good = { aud: AUD, exp: NOW + 3600, sub: "mailto:ops@example.com" };

  it("accepts `vapid t=, k=` and `WebPush` + `Crypto-Key: p256ecdsa=`, returning the key hash", () => {
    const a = verifyVapid(`vapid t=${jwt(k.priv, good)}, k=${key}`, "", AUD, NOW);
    assert.ok(a.ok);
    assert.ok(a.keyHash.equals(keyHash(k.pub)));
    assert.equal(a.sub, "mailto:ops@example.com");
    const b = verifyVapid(`WebPush ${jwt(k.priv, good)}`, `dh=BAAA;p256ecdsa=${key}`, AUD, NOW);
    assert.ok(b.ok);
  });

  it("refuses (401) what RFC 8292 refuses", () => {
    const other = keypair();
    const cases: [string, string][] = [
      ["missing", ""],
      ["scheme", `Bearer ${jwt(k.priv, good)}`],
      ["no k", `vapid t=${jwt(k.priv, good)}`],
      ["bad k", `vapid t=${jwt(k.priv, good)}, k=AAAA`],
      ["signed by another key", `vapid t=${jwt(other.priv, good)}, k=${key}`],
      ["wrong aud", `vapid t=${jwt(k.priv, { ...good, aud: "https://elsewhere" })}, k=${key}`],
      ["expired", `vapid t=${jwt(k.priv, { ...good, exp: NOW - 1 })}, k=${key}`],
      ["exp > 24 h", `vapid t=${jwt(k.priv, { ...good, exp: NOW + 25 * 3600 })}, k=${key}`],
      ["no exp", `vapid t=${jwt(k.priv, { aud: AUD })}, k=${key}`],
      ["alg", `vapid t=${jwt(k.priv, good, "HS256")}, k=${key}`],
      ["not a jwt", `vapid t=abc, k=${key}`],
    ];
    for (const [what, auth] of cases) {
      const r = verifyVapid(auth, "", AUD, NOW);
      assert.equal(r.ok, false, what);
      assert.equal(!r.ok && r.kind, "unauthorized", what);
    }
  });
});
