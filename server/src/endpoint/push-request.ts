/**
 * The headers and body of `POST <subscription endpoint>` (RFC 8030 §5, RFC 8291, and the
 * older `aesgcm` draft Firefox still decrypts), parsed without any transport. The payload is
 * relayed opaquely: Edition never decrypts it, it only checks that the client will be told
 * how to (`headers` of the notification).
 */
import { failure, type PushFailure } from "./push-errors.js";

/** RFC 8030 §7.2: a push service must accept at least 4096 bytes; we accept exactly that. */
export const MAX_PUSH_BYTES = 4096;
/** TTLs above this are lowered to it (RFC 8030 §5.2 allows it; the response says so). */
export const MAX_TTL_SECONDS = 30 * 24 * 3600;

export const URGENCIES = ["very-low", "low", "normal", "high"] as const;
export type Urgency = (typeof URGENCIES)[number];

export interface PushHeaders {
  readonly ttl: string;
  readonly contentEncoding: string;
  readonly encryption: string;
  readonly cryptoKey: string;
  readonly urgency: string;
  readonly topic: string;
}

/** What the client's notification carries about the payload (Firefox's `headers` keys). */
export interface PayloadHeaders {
  readonly encoding: string;
  readonly crypto_key?: string;
  readonly encryption?: string;
}

export interface PushRequest {
  readonly ok: true;
  readonly ttlSeconds: number;
  /** base64url of the body; undefined for an empty push. */
  readonly data: string | undefined;
  readonly headers: PayloadHeaders | undefined;
  readonly topic: string | undefined;
  readonly urgency: Urgency;
}

const TOPIC = /^[A-Za-z0-9_-]{1,32}$/;

export function parsePushRequest(h: PushHeaders, body: Buffer): PushRequest | PushFailure {
  if (h.ttl === "") return failure("missingTtl", "the TTL header is required");
  if (!/^\d{1,10}$/.test(h.ttl.trim()))
    return failure("badTtl", "TTL must be a non-negative integer (seconds)");
  const ttlSeconds = Math.min(Number(h.ttl.trim()), MAX_TTL_SECONDS);
  let urgency: Urgency = "normal";
  if (h.urgency !== "") {
    const u = h.urgency.trim().toLowerCase();
    if (!(URGENCIES as readonly string[]).includes(u))
      return failure("badUrgency", `Urgency must be one of ${URGENCIES.join(", ")}`);
    urgency = u as Urgency;
  }
  let topic: string | undefined;
  if (h.topic !== "") {
    if (!TOPIC.test(h.topic))
      return failure("badTopic", "Topic must be at most 32 base64url characters");
    topic = h.topic;
  }
  if (body.length > MAX_PUSH_BYTES)
    return failure("tooLarge", `the body is larger than ${MAX_PUSH_BYTES} bytes`);
  if (body.length === 0)
    return { ok: true, ttlSeconds, data: undefined, headers: undefined, topic, urgency };

  const encoding = h.contentEncoding.trim().toLowerCase();
  let headers: PayloadHeaders;
  if (encoding === "aes128gcm") {
    // RFC 8188: salt (16) ‖ record size (4) ‖ key id length (1) ‖ key id ‖ records.
    if (body.length < 21 + 1 || body.length < 21 + body[20]! + 17)
      return failure("badCrypto", "an aes128gcm body starts with a 21-byte header and a key id");
    headers = { encoding };
  } else if (encoding === "aesgcm") {
    if (!/(^|[;,\s])salt=/.test(h.encryption))
      return failure("badCrypto", "aesgcm needs an Encryption header with salt");
    if (!/(^|[;,\s])dh=/.test(h.cryptoKey))
      return failure("badCrypto", "aesgcm needs a Crypto-Key header with dh");
    headers = { encoding, crypto_key: h.cryptoKey, encryption: h.encryption };
  } else {
    return failure("badCrypto", "a payload needs Content-Encoding: aes128gcm (RFC 8291) or aesgcm");
  }
  return {
    ok: true,
    ttlSeconds,
    data: body.toString("base64url"),
    headers,
    topic,
    urgency,
  };
}
