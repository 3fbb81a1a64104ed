/**
 * Web Push URLs, sealed with the endpoint token keys (`token.ts`), so any node decodes them
 * and none needs a lookup:
 *
 * - subscription endpoint `/wpush/<token>`: region, UAID, channelID (the client's spelling)
 *   and, for a subscription made with an application server key, the SHA-256 of that key
 *   (RFC 8292 §3.2: only pushes signed by that key are accepted);
 * - message URL `/m/<subscription token>/<message id>` (the `Location` of a 201), for
 *   `DELETE`: no sealing per push (it was a sixth of the endpoint's CPU); the message id is
 *   random (128 bits) and known only to the app server and the client.
 */
import { createHash } from "node:crypto";
import { setBounded } from "../bounded-map.js";
import { normalizeUuid, uuidBytes, uuidFromBytes } from "../protocol/ids.js";
import type { TokenCodec } from "./token.js";

const KIND_SUBSCRIPTION = 0x57; // "W"
const KEY_HASH = 32;

export interface SubscriptionTarget {
  readonly region: string;
  readonly uaid: string;
  /** Normalised channel id. */
  readonly channel: string;
  /** The channelID as the client registered it. */
  readonly channelID: string;
  /** SHA-256 of the raw application server key, when the subscription is restricted. */
  readonly keyHash: Buffer | undefined;
}

/** SHA-256 of a raw (65-byte uncompressed P-256) application server key. */
export function keyHash(rawKey: Buffer): Buffer {
  return createHash("sha256").update(rawKey).digest();
}

/** Decoded Web Push endpoint tokens kept (the newest), like the SimplePush decode cache. */
const DECODE_CACHE = 10_000;

export class WebPushTokens {
  /** Decoded subscription tokens, bounded (app servers push to the same endpoints again). */
  private readonly cache = new Map<string, SubscriptionTarget>();

  constructor(private readonly codec: TokenCodec) {}

  subscription(t: {
    region: string;
    uaid: string;
    channelID: string;
    keyHash: Buffer | undefined;
  }): string {
    const region = Buffer.from(t.region, "utf8");
    const hash = t.keyHash ?? Buffer.alloc(0);
    const plain = Buffer.concat([
      Buffer.of(region.length),
      region,
      uuidBytes(t.uaid),
      Buffer.of(hash.length),
      hash,
      Buffer.from(t.channelID, "latin1"),
    ]);
    return this.codec.sealKind(plain, KIND_SUBSCRIPTION);
  }

  decodeSubscription(token: string): SubscriptionTarget | undefined {
    const hit = this.cache.get(token);
    if (hit !== undefined) return hit;
    const plain = this.codec.openKind(token, KIND_SUBSCRIPTION);
    if (plain === undefined) return undefined;
    const regionLen = plain[0]!;
    let at = 1 + regionLen;
    if (plain.length < at + 16 + 1) return undefined;
    const region = plain.toString("utf8", 1, at);
    const uaid = uuidFromBytes(plain.subarray(at, at + 16));
    at += 16;
    const hashLen = plain[at]!;
    at += 1;
    if (hashLen !== 0 && hashLen !== KEY_HASH) return undefined;
    const hash = hashLen === 0 ? undefined : Buffer.from(plain.subarray(at, at + hashLen));
    at += hashLen;
    const channelID = plain.toString("latin1", at);
    const channel = normalizeUuid(channelID);
    if (channel === undefined) return undefined;
    const t = { region, uaid, channel, channelID, keyHash: hash };
    setBounded(this.cache, token, t, DECODE_CACHE);
    return t;
  }
}
