/**
 * VAPID (RFC 8292): the application server signs a JWT (ES256) for the push service's
 * origin, and sends it with its public key. Both header forms seen in the wild:
 *
 * - `Authorization: vapid t=<jwt>, k=<key>` (RFC 8292, what `web-push` sends for aes128gcm);
 * - `Authorization: WebPush <jwt>` with `Crypto-Key: p256ecdsa=<key>` (draft 01, what
 *   `web-push` sends for aesgcm).
 *
 * ES256 is checked with node:crypto (IEEE P1363 signatures, the JWS encoding).
 */
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { setBounded } from "../bounded-map.js";
import { failure, type PushFailure } from "./push-errors.js";
import { keyHash } from "./webpush-token.js";

/** RFC 8292 §2: a JWT may be valid for at most 24 hours. Clock skew allowance on top. */
const MAX_EXP_SECONDS = 24 * 3600;
const SKEW_SECONDS = 60;
const MAX_HEADER_CHARS = 4096;

export interface VapidOk {
  readonly ok: true;
  /** SHA-256 of the signer's raw public key, to compare with the subscription's. */
  readonly keyHash: Buffer;
  readonly sub: string | undefined;
}

/** Decodes a base64url (padding tolerated, as Firefox pads keys) P-256 public key. */
export function decodeP256Key(text: string): Buffer | undefined {
  const t = text.trim().replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]+$/.test(t)) return undefined;
  const raw = Buffer.from(t, "base64url");
  return raw.length === 65 && raw[0] === 4 ? raw : undefined;
}

/** Subscription keys parsed once (a few per app server), newest kept. */
const KEY_CACHE = 1_000;
const keyCache = new Map<string, { key: KeyObject; hash: Buffer }>();

function publicKey(raw: Buffer): { key: KeyObject; hash: Buffer } | undefined {
  const id = raw.toString("base64url");
  const hit = keyCache.get(id);
  if (hit !== undefined) return hit;
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: {
        kty: "EC",
        crv: "P-256",
        x: raw.subarray(1, 33).toString("base64url"),
        y: raw.subarray(33, 65).toString("base64url"),
      },
      format: "jwk",
    });
  } catch {
    return undefined; // not a point on the curve
  }
  const entry = { key, hash: keyHash(raw) };
  setBounded(keyCache, id, entry, KEY_CACHE);
  return entry;
}

function credentials(
  authorization: string,
  cryptoKey: string,
): { jwt: string; key: string } | undefined {
  const a = authorization.trim();
  const space = a.indexOf(" ");
  if (space < 0) return undefined;
  const scheme = a.slice(0, space).toLowerCase();
  const rest = a.slice(space + 1);
  if (scheme === "vapid") {
    let jwt: string | undefined;
    let key: string | undefined;
    for (const part of rest.split(",")) {
      const p = part.trim();
      if (p.startsWith("t=")) jwt = p.slice(2);
      else if (p.startsWith("k=")) key = p.slice(2);
    }
    return jwt !== undefined && key !== undefined ? { jwt, key } : undefined;
  }
  if (scheme === "webpush") {
    const m = /(?:^|[;,\s])p256ecdsa=([A-Za-z0-9_\-=]+)/.exec(cryptoKey);
    return m === null ? undefined : { jwt: rest.trim(), key: m[1]! };
  }
  return undefined;
}

/**
 * Verifies the VAPID credentials of one request for `audience` (the endpoint's origin) at
 * `nowSeconds`. Every failure is `unauthorized` (401) with a message saying what is wrong.
 */
export function verifyVapid(
  authorization: string,
  cryptoKey: string,
  audience: string,
  nowSeconds: number,
): VapidOk | PushFailure {
  if (authorization === "")
    return failure(
      "unauthorized",
      "this subscription requires VAPID: Authorization: vapid t=…, k=…",
    );
  if (authorization.length > MAX_HEADER_CHARS)
    return failure("unauthorized", "Authorization header too long");
  const c = credentials(authorization, cryptoKey);
  if (c === undefined)
    return failure("unauthorized", "Authorization must be `vapid t=<jwt>, k=<key>`");
  const raw = decodeP256Key(c.key);
  const pk = raw === undefined ? undefined : publicKey(raw);
  if (pk === undefined)
    return failure("unauthorized", "k is not a base64url uncompressed P-256 public key");
  const parts = c.jwt.split(".");
  if (parts.length !== 3) return failure("unauthorized", "t is not a JWT");
  let header: unknown;
  let claims: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"));
  } catch {
    return failure("unauthorized", "the JWT header or claims are not JSON");
  }
  if (
    typeof header !== "object" ||
    header === null ||
    (header as { alg?: unknown }).alg !== "ES256"
  )
    return failure("unauthorized", "the JWT must be signed with ES256");
  const sig = Buffer.from(parts[2]!, "base64url");
  const ok =
    sig.length === 64 &&
    verify(
      "sha256",
      Buffer.from(`${parts[0]}.${parts[1]}`, "ascii"),
      { key: pk.key, dsaEncoding: "ieee-p1363" },
      sig,
    );
  if (!ok) return failure("unauthorized", "the JWT signature does not verify with k");
  if (typeof claims !== "object" || claims === null)
    return failure("unauthorized", "the JWT claims are not an object");
  const { aud, exp, sub } = claims as { aud?: unknown; exp?: unknown; sub?: unknown };
  if (aud !== audience)
    return failure("unauthorized", `the JWT aud must be this push service's origin (${audience})`);
  if (typeof exp !== "number" || !Number.isFinite(exp))
    return failure("unauthorized", "the JWT needs a numeric exp");
  if (exp <= nowSeconds) return failure("unauthorized", "the JWT has expired");
  if (exp > nowSeconds + MAX_EXP_SECONDS + SKEW_SECONDS)
    return failure("unauthorized", "the JWT exp is more than 24 hours ahead");
  return { ok: true, keyHash: pk.hash, sub: typeof sub === "string" ? sub : undefined };
}
