/**
 * Every refusal of the Web Push endpoint, with its stable errno (Mozilla autopush's numbers
 * where one exists, so existing app-server libraries recognise them) and HTTP status, in one
 * place. The body is `{"code":<status>,"errno":<n>,"error":"<status text>","message":"…"}`.
 */

export const PushError = {
  /** The endpoint token does not decode here (never issued, or for another region). */
  noSuchEndpoint: { status: 404, errno: 102 },
  /** The subscription was unsubscribed, or its client reset (RFC 8030 §6.2). */
  gone: { status: 410, errno: 106 },
  /** Body over 4096 bytes (RFC 8030 §7.2). */
  tooLarge: { status: 413, errno: 104 },
  /** Payload without usable Content-Encoding / Encryption / Crypto-Key. */
  badCrypto: { status: 400, errno: 110 },
  missingTtl: { status: 400, errno: 111 },
  badTtl: { status: 400, errno: 112 },
  badTopic: { status: 400, errno: 113 },
  badUrgency: { status: 400, errno: 114 },
  /** No or unverifiable VAPID Authorization (RFC 8292 §4.2). */
  unauthorized: { status: 401, errno: 109 },
  /** A valid VAPID signature by another key than the subscription's (RFC 8292 §4.2). */
  wrongKey: { status: 403, errno: 109 },
  /** The subscription already holds the most messages or bytes a UAID may have pending. */
  queueFull: { status: 429, errno: 120 },
  /** Internal queues full, or storage unreachable: nothing was accepted; retry. */
  unavailable: { status: 503, errno: 201 },
  /** DELETE of a message URL that is not (or no longer) pending. */
  noSuchMessage: { status: 404, errno: 121 },
} as const;

export type PushErrorKind = keyof typeof PushError;

export interface PushFailure {
  readonly ok: false;
  readonly kind: PushErrorKind;
  readonly message: string;
}

export function failure(kind: PushErrorKind, message: string): PushFailure {
  return { ok: false, kind, message };
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  410: "Gone",
  413: "Payload Too Large",
  429: "Too Many Requests",
  503: "Service Unavailable",
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? "Error"}`;
}

export function errorBody(f: PushFailure): string {
  const { status, errno } = PushError[f.kind];
  return JSON.stringify({ code: status, errno, error: STATUS_TEXT[status], message: f.message });
}
