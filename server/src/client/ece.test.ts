import assert from "node:assert/strict";
import { describe, it } from "node:test";
import webpush from "web-push";
import { decryptAes128gcm, newUserAgentKeys } from "./ece.js";

describe("decryptAes128gcm", () => {
  it("decrypts what the web-push library encrypts for a subscription, and nothing tampered", () => {
    const ua = newUserAgentKeys();
    const p256dh = ua.publicKey.toString("base64url");
    const auth = ua.authSecret.toString("base64url");
    for (const text of ["", "hello", "✓ ünïcødé", "x".repeat(3900)]) {
      const enc = webpush.encrypt(p256dh, auth, text, "aes128gcm");
      assert.equal(decryptAes128gcm(ua, enc.cipherText).toString("utf8"), text);
    }
    const enc = webpush.encrypt(p256dh, auth, "secret", "aes128gcm");
    const bad = Buffer.from(enc.cipherText);
    bad[bad.length - 1]! ^= 1;
    assert.throws(() => decryptAes128gcm(ua, bad));
    assert.throws(() => decryptAes128gcm(newUserAgentKeys(), enc.cipherText));
  });
});
