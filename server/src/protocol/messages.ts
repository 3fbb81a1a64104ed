/**
 * Client frames decoded into a discriminated union. Keys and `messageType` are matched
 * case-insensitively (keys with surrounding whitespace do not match); fields are kept as
 * `unknown` here and validated by the session, which knows what each command needs.
 */
import { type JsonLimits, parseJson } from "./json.js";

export type ClientMessage =
  | { readonly messageType: "purge" }
  | { readonly messageType: "hello"; readonly uaid: unknown; readonly channelIDs: unknown }
  | { readonly messageType: "register"; readonly channelID: unknown }
  | { readonly messageType: "unregister"; readonly channelID: unknown }
  | { readonly messageType: "ack"; readonly updates: unknown }
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
    }
  }
  if (keys === 0) return { kind: "ping", raw: "{}" };
  const raw = text;
  switch (typeof type === "string" ? type.toLowerCase() : undefined) {
    case "ping":
      return { kind: "ping", raw };
    case "hello":
      return { kind: "message", raw, message: { messageType: "hello", uaid, channelIDs } };
    case "register":
      return { kind: "message", raw, message: { messageType: "register", channelID } };
    case "unregister":
      return { kind: "message", raw, message: { messageType: "unregister", channelID } };
    case "ack":
      return { kind: "message", raw, message: { messageType: "ack", updates } };
    case "purge":
      return { kind: "message", raw, message: { messageType: "purge" } };
    default:
      return { kind: "message", raw, message: { messageType: "invalid" } };
  }
}
