/**
 * Web Push mode of the session: what a client that said `use_webpush: true` in its hello
 * (Firefox's PushServiceWebSocket, Mozilla autopush's protocol) may send once ready.
 * Pure like `session.ts`, which delegates here.
 *
 * Differences from SimplePush:
 * - `register` may carry `key`, the application server key (base64url, Firefox pads it);
 * - notifications are one message per push, `version` being the message id (a string);
 * - `ack` names message ids (`updates: [{channelID, version, code}]`, code 100 delivered,
 *   101 decryption error, 102 not delivered: every code removes the message, as autopush
 *   does, since redelivering what the client refused would only loop);
 * - `nack` (the service worker failed after delivery) is counted, nothing else;
 * - `broadcast_subscribe` is answered with a `broadcast` listing the broadcasts this server
 *   carries (none);
 * - an unknown message type is ignored, never fatal: Firefox sends newer types to older
 *   servers and must keep its connection.
 */
import { closeOf } from "../errors/catalogue.js";
import { normalizeUuid } from "./ids.js";
import type { ClientMessage } from "./messages.js";
import { errorReply } from "./replies.js";
import { Phase, type Session, type Step } from "./session.js";

export interface WebPushAck {
  /** Normalised channel. */
  readonly channel: string;
  /** Message id (32 lower-case hex). */
  readonly id: string;
  readonly code: number;
}

export type WebPushStep =
  | { readonly do: "webpushAck"; readonly acks: readonly WebPushAck[] }
  | { readonly do: "nack"; readonly code: number | undefined };

export const BROADCAST_REPLY = '{"messageType":"broadcast","broadcasts":{}}';

export function webpushHelloReply(uaid: string): string {
  return `{"messageType":"hello","uaid":${JSON.stringify(uaid)},"status":200,"use_webpush":true,"broadcasts":{}}`;
}

export interface WebPushNotification {
  readonly channelID: string;
  readonly id: string;
  readonly ttlSeconds: number;
  readonly data: string | undefined;
  /** Firefox's keys: `encoding`, and for aesgcm `crypto_key` and `encryption`. */
  readonly headers:
    | { readonly encoding: string; readonly crypto_key?: string; readonly encryption?: string }
    | undefined;
}

/** One push as Firefox expects it: `data` and `headers` only when there is a payload. */
export function webpushNotification(n: WebPushNotification): string {
  let s = `{"messageType":"notification","channelID":${JSON.stringify(n.channelID)},"version":"${n.id}","ttl":${n.ttlSeconds}`;
  if (n.data !== undefined && n.headers !== undefined) {
    s += `,"data":"${n.data}","headers":${JSON.stringify(n.headers)}`;
  }
  return `${s}}`;
}

const NONE: Step = { do: "none" };
const MESSAGE_ID = /^[0-9a-f]{32}$/;
const KEY = /^[A-Za-z0-9_-]+={0,2}$/;

/** The canonical (unpadded base64url) spelling of an uncompressed P-256 key, or undefined. */
export function canonicalServerKey(key: unknown): string | undefined {
  if (typeof key !== "string" || key.length > 200 || !KEY.test(key)) return undefined;
  const raw = Buffer.from(key.replace(/=+$/, ""), "base64url");
  return raw.length === 65 && raw[0] === 4 ? raw.toString("base64url") : undefined;
}

function close(s: Session, raw: string): Step {
  s.phase = Phase.Closed;
  return {
    do: "close",
    text: errorReply(raw, "INVALID_COMMAND"),
    code: closeOf("INVALID_COMMAND")!,
    error: "INVALID_COMMAND",
  };
}

/** One message of a ready Web Push session (hello and pings are handled by `step`). */
export function webpushStep(s: Session, m: ClientMessage, raw: string): Step {
  switch (m.messageType) {
    case "register": {
      const channel = normalizeUuid(m.channelID);
      if (channel === undefined) return close(s, raw);
      if (m.key === undefined || m.key === null)
        return { do: "register", channelID: m.channelID as string, channel, raw };
      const key = canonicalServerKey(m.key);
      // Firefox validates the key before sending it; a bad one is a broken client.
      if (key === undefined) return close(s, raw);
      return { do: "register", channelID: m.channelID as string, channel, raw, key };
    }
    case "unregister":
      if (typeof m.channelID !== "string" || m.channelID.length === 0) return close(s, raw);
      return { do: "unregister", channelID: m.channelID, channel: normalizeUuid(m.channelID), raw };
    case "ack":
      return ack(m.updates);
    case "nack":
      return { do: "nack", code: typeof m.code === "number" ? m.code : undefined };
    case "broadcast_subscribe":
      return { do: "reply", text: BROADCAST_REPLY };
    default:
      return NONE;
  }
}

function ack(updates: unknown): Step {
  if (!Array.isArray(updates)) return NONE;
  const acks: WebPushAck[] = [];
  for (const u of updates) {
    if (typeof u !== "object" || u === null) continue;
    const o = u as Record<string, unknown>;
    const channel = normalizeUuid(o.channelID);
    const id = typeof o.version === "string" ? o.version.toLowerCase() : undefined;
    if (channel === undefined || id === undefined || !MESSAGE_ID.test(id)) continue;
    acks.push({ channel, id, code: typeof o.code === "number" ? o.code : 100 });
  }
  return acks.length === 0 ? NONE : { do: "webpushAck", acks };
}
