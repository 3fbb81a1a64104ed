/**
 * The user agent's side of RFC 8291 (Message Encryption for Web Push) with the aes128gcm
 * content coding of RFC 8188, on node:crypto: what a browser does with a push payload.
 * Used by the Web Push mode of `npm run client` and by the bench to prove a message is
 * decrypt-ready.
 */
import { createDecipheriv, createECDH, type ECDH, hkdfSync, randomBytes } from "node:crypto";

export interface UserAgentKeys {
  readonly ecdh: ECDH;
  /** Uncompressed P-256 public key (65 bytes): the subscription's `p256dh`. */
  readonly publicKey: Buffer;
  /** 16 bytes: the subscription's `auth`. */
  readonly authSecret: Buffer;
}

export function newUserAgentKeys(): UserAgentKeys {
  return restoreUserAgentKeys(undefined, randomBytes(16));
}

/** Keys from a saved private key (base64url) and auth secret; a fresh key pair when absent. */
export function restoreUserAgentKeys(
  privateKey: string | undefined,
  authSecret: Buffer,
): UserAgentKeys {
  const ecdh = createECDH("prime256v1");
  if (privateKey === undefined) ecdh.generateKeys();
  else ecdh.setPrivateKey(Buffer.from(privateKey, "base64url"));
  return { ecdh, publicKey: ecdh.getPublicKey(), authSecret };
}

const HEADER = 21;
const TAG = 16;

/** Decrypts an aes128gcm Web Push body; throws on anything that does not authenticate. */
export function decryptAes128gcm(keys: UserAgentKeys, body: Buffer): Buffer {
  if (body.length < HEADER) throw new Error("shorter than the aes128gcm header");
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  if (idlen !== 65) throw new Error("the key id must be the 65-byte application server key");
  const asPublic = body.subarray(HEADER, HEADER + idlen);
  const records = body.subarray(HEADER + idlen);
  if (rs < 18 || records.length === 0) throw new Error("bad record size");
  const ecdhSecret = keys.ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), keys.publicKey, asPublic]);
  const ikm = Buffer.from(hkdfSync("sha256", ecdhSecret, keys.authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync("sha256", ikm, salt, "Content-Encoding: aes128gcm\0", 16));
  const baseNonce = Buffer.from(hkdfSync("sha256", ikm, salt, "Content-Encoding: nonce\0", 12));
  const out: Buffer[] = [];
  const count = Math.ceil(records.length / rs);
  for (let i = 0; i < count; i++) {
    const rec = records.subarray(i * rs, Math.min(records.length, (i + 1) * rs));
    if (rec.length <= TAG) throw new Error("truncated record");
    const nonce = Buffer.from(baseNonce);
    // The record sequence number is XORed into the end of the nonce (i < 2^32 here).
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ i) >>> 0, 8);
    const d = createDecipheriv("aes-128-gcm", cek, nonce);
    d.setAuthTag(rec.subarray(rec.length - TAG));
    const plain = Buffer.concat([d.update(rec.subarray(0, rec.length - TAG)), d.final()]);
    // Padding: the content, then a delimiter (2 in the last record, 1 before), then zeros.
    let end = plain.length - 1;
    while (end >= 0 && plain[end] === 0) end--;
    const last = i === count - 1;
    if (end < 0 || plain[end] !== (last ? 2 : 1)) throw new Error("bad padding delimiter");
    out.push(plain.subarray(0, end));
  }
  return Buffer.concat(out);
}
