/**
 * The Web Push endpoint's refusals, by kind, as views of the error catalogue
 * (`errors/catalogue.ts`: status, errno — Mozilla autopush's numbers where one exists, so
 * existing app-server libraries recognise them — and Retry-After). The body is
 * `{"code":<status>,"errno":<n>,"error":"<status text>","message":"…"}`.
 */
import {
  type ErrorCode,
  type HttpAnswer,
  type HttpErrorCode,
  httpOf,
  StatusText,
} from "../errors/catalogue.js";

export { statusLine } from "../errors/catalogue.js";

/** The catalogue code of each kind. */
const CODE = {
  /** The endpoint token does not decode here (never issued, or for another region). */
  noSuchEndpoint: "NO_SUCH_ENDPOINT",
  /** The subscription was unsubscribed, or its client reset (RFC 8030 §6.2). */
  gone: "GONE",
  /** Body over 4096 bytes (RFC 8030 §7.2). */
  tooLarge: "PAYLOAD_TOO_LARGE",
  /** Payload without usable Content-Encoding / Encryption / Crypto-Key. */
  badCrypto: "BAD_CRYPTO",
  missingTtl: "MISSING_TTL",
  badTtl: "BAD_TTL",
  badTopic: "BAD_TOPIC",
  badUrgency: "BAD_URGENCY",
  /** No or unverifiable VAPID Authorization (RFC 8292 §4.2). */
  unauthorized: "VAPID_UNAUTHORIZED",
  /** A valid VAPID signature by another key than the subscription's (RFC 8292 §4.2). */
  wrongKey: "VAPID_WRONG_KEY",
  /** The subscription already holds the most messages or bytes a UAID may have pending. */
  queueFull: "QUEUE_FULL",
  /** Internal queues full: nothing was accepted; retry. */
  unavailable: "OVERLOADED",
  /** The store is unreachable: nothing was accepted; retry. */
  storage: "STORE_UNAVAILABLE",
  /** The request failed unexpectedly: retry. */
  internal: "INTERNAL_ERROR",
  /** DELETE of a message URL that is not (or no longer) pending. */
  noSuchMessage: "NO_SUCH_MESSAGE",
} as const satisfies Record<string, HttpErrorCode>;

export type PushErrorKind = keyof typeof CODE;

/** Each kind's catalogue code and HTTP answer. */
export const PushError = Object.fromEntries(
  Object.entries(CODE).map(([kind, code]) => [kind, { code, ...httpOf(code) }]),
) as { readonly [K in PushErrorKind]: HttpAnswer & { readonly code: (typeof CODE)[K] } };

export interface PushFailure {
  readonly ok: false;
  readonly kind: PushErrorKind;
  readonly message: string;
}

export function failure(kind: PushErrorKind, message: string): PushFailure {
  return { ok: false, kind, message };
}

/** The catalogue code of a failure (its metric label and answer). */
export function codeOf(f: PushFailure): ErrorCode {
  return CODE[f.kind];
}

export function errorBody(f: PushFailure): string {
  const { status, errno } = PushError[f.kind];
  return JSON.stringify({ code: status, errno, error: StatusText[status], message: f.message });
}
