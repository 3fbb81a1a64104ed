/**
 * Endpoint tokens: `base64url(keyId ‖ nonce ‖ AES-256-GCM(key, region ‖ uaid ‖ channelID))`.
 *
 * - stateless: any node holding the keys decodes any token;
 * - unforgeable: GCM authenticates the ciphertext and (as associated data) the key id, so
 *   a flipped bit anywhere is a failed decode, never a different channel;
 * - rotatable: every configured key decodes, the first one (the newest) mints.
 *
 * The channelID is kept in the client's own spelling so notifications echo it as sent.
 */
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomBytes,
  randomFillSync,
} from "node:crypto";
import { normalizeUuid, uuidBytes, uuidFromBytes } from "../protocol/ids.js";
import { TokenCache } from "./token-cache.js";

export interface TokenKey {
  /** 0–255, written into every token it mints. */
  readonly id: number;
  /** 32 bytes. */
  readonly key: Buffer;
}

export interface EndpointTarget {
  readonly region: string;
  /** Normalised UAID. */
  readonly uaid: string;
  /** Normalised channel id. */
  readonly channel: string;
  /** The channelID as the client registered it. */
  readonly channelID: string;
}

const NONCE = 12;
const TAG = 16;
const MAX_TOKEN_CHARS = 512;
/** Nonces come from a CSPRNG pool refilled this many bytes at a time; each byte used once. */
const NONCE_POOL = 4096;
/**
 * Decoded tokens kept (admitted by frequency: `token-cache.ts`). App servers PUT to the same
 * endpoints again and again; an AES-GCM decipher per PUT was the largest single cost of the
 * endpoint. Only tokens that authenticated are offered, so garbage cannot fill it.
 */
const DECODE_CACHE = 10_000;

export class TokenCodec {
  private readonly byId = new Map<number, KeyObject>();
  private readonly minting: TokenKey;
  private readonly mintKey: KeyObject;
  private readonly nonces = Buffer.allocUnsafe(NONCE_POOL);
  private noncesAt = NONCE_POOL;
  private readonly cache = new TokenCache<EndpointTarget>(DECODE_CACHE);

  /** `keys[0]` mints; all decode. */
  constructor(keys: readonly TokenKey[]) {
    if (keys.length === 0) throw new Error("TokenCodec needs at least one key");
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`token key ${k.id} must be 32 bytes`);
      this.byId.set(k.id, createSecretKey(k.key));
    }
    this.minting = keys[0]!;
    this.mintKey = this.byId.get(this.minting.id)!;
  }

  encode(t: { region: string; uaid: string; channelID: string }): string {
    const region = Buffer.from(t.region, "utf8");
    const channelID = Buffer.from(t.channelID, "latin1");
    const plain = Buffer.concat([Buffer.of(region.length), region, uuidBytes(t.uaid), channelID]);
    return this.seal(plain, undefined);
  }

  /**
   * Seals `plain` into a token of another `kind` (1–255): Web Push endpoints and message
   * URLs (`webpush-token.ts`). The kind is authenticated (associated data), so a token of
   * one kind never opens as another, nor as a SimplePush endpoint.
   */
  sealKind(plain: Buffer, kind: number): string {
    return this.seal(plain, kind);
  }

  /** Inverse of `sealKind`; `undefined` when the token does not authenticate as `kind`. */
  openKind(token: string, kind: number): Buffer | undefined {
    return this.open(token, kind, 1);
  }

  private seal(plain: Buffer, kind: number | undefined): string {
    const head = Buffer.allocUnsafe(1 + NONCE);
    head[0] = this.minting.id;
    if (this.noncesAt + NONCE > NONCE_POOL) {
      randomFillSync(this.nonces);
      this.noncesAt = 0;
    }
    this.nonces.copy(head, 1, this.noncesAt, this.noncesAt + NONCE);
    this.noncesAt += NONCE;
    const cipher = createCipheriv("aes-256-gcm", this.mintKey, head.subarray(1));
    cipher.setAAD(kind === undefined ? head.subarray(0, 1) : Buffer.of(head[0]!, kind));
    const body = Buffer.concat([head, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return body.toString("base64url");
  }

  private open(token: string, kind: number | undefined, minPlain: number): Buffer | undefined {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) return undefined;
    const raw = Buffer.from(token, "base64url");
    // base64url decoding silently skips foreign characters; a re-encode must round-trip.
    if (raw.length < 1 + NONCE + minPlain + TAG || raw.toString("base64url") !== token) {
      return undefined;
    }
    const key = this.byId.get(raw[0]!);
    if (key === undefined) return undefined;
    try {
      const d = createDecipheriv("aes-256-gcm", key, raw.subarray(1, 1 + NONCE));
      d.setAAD(kind === undefined ? raw.subarray(0, 1) : Buffer.of(raw[0]!, kind));
      d.setAuthTag(raw.subarray(raw.length - TAG));
      return Buffer.concat([d.update(raw.subarray(1 + NONCE, raw.length - TAG)), d.final()]);
    } catch {
      return undefined;
    }
  }

  /** The target of `token`, or `undefined` when it does not decode or authenticate. */
  decode(token: string): EndpointTarget | undefined {
    const hit = this.cache.get(token);
    if (hit !== undefined) return hit;
    const t = this.decodeUncached(token);
    if (t !== undefined) this.cache.offer(token, t);
    return t;
  }

  private decodeUncached(token: string): EndpointTarget | undefined {
    const plain = this.open(token, undefined, 1 + 16 + 32);
    if (plain === undefined) return undefined;
    const regionLen = plain[0]!;
    if (plain.length < 1 + regionLen + 16 + 32) return undefined;
    const region = plain.toString("utf8", 1, 1 + regionLen);
    const uaid = uuidFromBytes(plain.subarray(1 + regionLen, 17 + regionLen));
    const channelID = plain.toString("latin1", 17 + regionLen);
    const channel = normalizeUuid(channelID);
    if (channel === undefined) return undefined;
    return { region, uaid, channel, channelID };
  }
}

/** A fresh random key, for a node started without configured keys. */
export function randomTokenKey(id = 1): TokenKey {
  return { id, key: randomBytes(32) };
}
