/**
 * Client frames decoded into a discriminated union. Keys and `messageType` are matched
 * case-insensitively (keys with surrounding whitespace do not match); fields are kept as
 * `unknown` here and validated by the session, which knows what each command needs.
 */
import { type JsonLimits, parseJson } from "./json.js";

export type ClientMessage =
  | { readonly messageType: "purge" }
  | {
      readonly messageType: "hello";
      readonly uaid: unknown;
      readonly channelIDs: unknown;
      /** Web Push clients (Firefox) send `true`; anything else is a SimplePush hello. */
      readonly useWebpush: unknown;
    }
  | { readonly messageType: "register"; readonly channelID: unknown; readonly key: unknown }
  | { readonly messageType: "unregister"; readonly channelID: unknown }
  | { readonly messageType: "ack"; readonly updates: unknown }
  /** Web Push only (webpush-session.ts); a SimplePush session treats them as invalid. */
  | { readonly messageType: "nack"; readonly version: unknown; readonly code: unknown }
  | { readonly messageType: "broadcast_subscribe" }
  /** Anything else: unknown or non-string type. */
  | { readonly messageType: "invalid" };

export type Frame =
  /** Not JSON, or not a JSON object: close, no reply. */
  | { readonly kind: "garbage" }
  /** `{}`, an empty frame, or `{"messageType":"ping"}`. */
  | { readonly kind: "ping"; readonly raw: string }
  | { readonly kind: "message"; readonly message: ClientMessage; readonly raw: string };

const GARBAGE: Frame = { kind: "garbage" };

/** Decodes one text frame. Never throws. */
export function decodeFrame(text: string, limits?: JsonLimits): Frame {
  if (text.length === 0 || text === "{}") return { kind: "ping", raw: "{}" };
  let value: unknown;
  try {
    value = parseJson(text, limits);
  } catch {
    return GARBAGE;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return GARBAGE;
  const obj = value as Record<string, unknown>;
  let type: unknown;
  let uaid: unknown;
  let channelIDs: unknown;
  let channelID: unknown;
  let updates: unknown;
  let useWebpush: unknown;
  let serverKey: unknown;
  let version: unknown;
  let code: unknown;
  let keys = 0;
  for (const key in obj) {
    keys++;
    switch (key.toLowerCase()) {
      case "messagetype":
        type = obj[key];
        break;
      case "uaid":
        uaid = obj[key];
        break;
      case "channelids":
        channelIDs = obj[key];
        break;
      case "channelid":
        channelID = obj[key];
        break;
      case "updates":
        updates = obj[key];
        break;
      case "use_webpush":
        useWebpush = obj[key];
        break;
      case "key":
        serverKey = obj[key];
        break;
      case "version":
        version = obj[key];
        break;
      case "code":
        code = obj[key];
        break;
    }
  }
  if (keys === 0) return { kind: "ping", raw: "{}" };
  const raw = text;
  switch (typeof type === "string" ? type.toLowerCase() : undefined) {
    case "ping":
      return { kind: "ping", raw };
    case "hello":
      return {
        kind: "message",
        raw,
        message: { messageType: "hello", uaid, channelIDs, useWebpush },
      };
    case "register":
      return {
        kind: "message",
        raw,
        message: { messageType: "register", channelID, key: serverKey },
      };
    case "unregister":
      return { kind: "message", raw, message: { messageType: "unregister", channelID } };
    case "ack":
      return { kind: "message", raw, message: { messageType: "ack", updates } };
    case "nack":
      return { kind: "message", raw, message: { messageType: "nack", version, code } };
    case "broadcast_subscribe":
      return { kind: "message", raw, message: { messageType: "broadcast_subscribe" } };
    case "purge":
      return { kind: "message", raw, message: { messageType: "purge" } };
    default:
      return { kind: "message", raw, message: { messageType: "invalid" } };
  }
}
