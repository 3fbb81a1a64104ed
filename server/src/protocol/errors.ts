/**
 * Every outcome that ends or refuses something, with its stable code, mapped in one place
 * to what the client sees: the `status` of an error reply and the WebSocket close code, or
 * the HTTP status of the endpoint.
 */

/** WebSocket close codes used by the server. */
export const Close = {
  /** Normal end: error reply sent, or server asked the client to go (redirect). */
  normal: 1000,
  /** Frame was not a JSON object, or was binary. No reply is sent. */
  unsupported: 1003,
  /** Server is shutting down or draining: reconnect elsewhere (RFC 6455 "service restart"). */
  restart: 1012,
  /** Try again later: the client could not keep up with what we had to send it. */
  tryAgainLater: 1013,
  /** A newer connection for the same UAID took over. */
  replaced: 4000,
  /** A text frame larger than the configured maximum (RFC 6455 "message too big"). */
  tooBig: 1009,
  /** The socket said no hello within the hello deadline. */
  helloTimeout: 4408,
  /** Ping flood: the client must back off (Mozilla clients know this code). */
  pingFlood: 4774,
} as const;

/**
 * `errno` added to an error reply that a configured limit caused (docs/protocol.md allows
 * a numeric errno), so a client or an operator can tell it from a malformed command.
 */
export const LimitErrno = {
  /** register: the UAID has `EDITION_MAX_CHANNELS` channels already. */
  tooManyChannels: 104,
} as const;

/** Error reply statuses and their fixed `error` strings (docs/protocol.md "Error reply"). */
export const ReplyError = {
  invalidCommand: { status: 401, error: "Invalid Command" },
  /**
   * The store failed (unreachable, timed out): the same answer wherever it happens — hello,
   * register, unregister — and the same status a PUT gets (503): nothing was done; retry.
   */
  storage: { status: 503, error: "Service Unavailable" },
  unavailable: { status: 503, error: "Service Unavailable" },
  regionFull: { status: 429, error: "Too Many Requests" },
} as const;

export type ReplyErrorKind = keyof typeof ReplyError;
