/**
 * Every refusal and failure a client, an app server or an operator can see, by stable code,
 * in one place: the WebSocket close code, the error reply (status, fixed `error` string,
 * errno), the HTTP answer (status, Web Push errno, Retry-After) and the value it has in the
 * Prometheus counters. The rest of the code names a code and reads its answer from here;
 * `docs/errors.md` is generated from this table (`npm run gen:errors`) and a test fails when
 * it is stale. Pure data: imported by the protocol core.
 */

/**
 * WebSocket close codes the server sends, and the `reason` label each has in
 * `edition_connections_closed_total` (a socket is counted by the code it closed with, whoever
 * closed it; 1001/1005/1006 only ever come from the client or the network).
 */
export const CloseCodes = {
  /** Normal end: error reply sent, or the server asked the client to go (redirect). */
  normal: { code: 1000, label: "normal" },
  /** The client went away (tab closed, browser quit). Sent by clients only. */
  goingAway: { code: 1001, label: "going_away" },
  /** Frame was not a JSON object, or was binary. No reply is sent. */
  unsupported: { code: 1003, label: "unsupported" },
  /** Closed without a close frame (1005 no status, 1006 connection lost). Never sent. */
  noStatus: { code: 1005, label: "abnormal" },
  abnormal: { code: 1006, label: "abnormal" },
  /** A text frame larger than the configured maximum (RFC 6455 "message too big"). */
  tooBig: { code: 1009, label: "too_big" },
  /** Server is shutting down or draining: reconnect elsewhere (RFC 6455 "service restart"). */
  restart: { code: 1012, label: "drain" },
  /** Try again later: the client could not keep up with what we had to send it. */
  tryAgainLater: { code: 1013, label: "slow_consumer" },
  /** A newer connection for the same UAID took over. */
  replaced: { code: 4000, label: "replaced" },
  /** The socket said no hello within the hello deadline, or left a frame half-sent. */
  helloTimeout: { code: 4408, label: "hello_timeout" },
  /** Ping flood: the client must back off (Mozilla clients know this code). */
  pingFlood: { code: 4774, label: "ping_flood" },
} as const;

export type CloseName = keyof typeof CloseCodes;

/** The `edition_connections_closed_total` label of a close code ("other" for any other). */
export function closeLabel(code: number): string {
  for (const c of Object.values(CloseCodes)) if (c.code === code) return c.label;
  return "other";
}

/** The HTTP reason phrases the server writes (RFC 9110), for status lines and error bodies. */
export const StatusText: Readonly<Record<number, string>> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  410: "Gone",
  413: "Payload Too Large",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** `"503 Service Unavailable"`: what uWS `writeStatus` takes. */
export function statusLine(status: number): string {
  return `${status} ${StatusText[status] ?? "Error"}`;
}

/** How long a client told to come back (503, 429) waits: one figure for every such answer. */
export const RETRY_AFTER_SECONDS = 5;
/** A per-address refusal at upgrade clears within a second (docs/limits.md). */
export const RETRY_AFTER_IP_SECONDS = 1;

/** The error reply to a WebSocket command (docs/protocol.md "Error reply"). */
export interface WsReply {
  readonly status: number;
  /** Fixed per status: clients compare it. */
  readonly error: string;
  /** Added to the reply when a configured limit caused it. */
  readonly errno?: number;
}

export interface HttpAnswer {
  readonly status: number;
  /** Web Push bodies only (Mozilla autopush's numbers where one exists). */
  readonly errno?: number;
  /** Seconds for a `Retry-After` header; absent: none is sent. */
  readonly retryAfter?: number;
}

export interface ErrorEntry {
  /** One line for people (docs/errors.md). */
  readonly meaning: string;
  /** The close code the socket gets, when a WebSocket is ended by it. */
  readonly close?: CloseName;
  /** The error reply sent before that close (absent: closed without a reply). */
  readonly reply?: WsReply;
  /** The HTTP answer, when an HTTP request is refused by it. */
  readonly http?: HttpAnswer;
  /** Its value in the counters below (snake_case; unique). */
  readonly label: string;
  /** Counters (`name{label}`) that count it under `label`; empty: counted by status only. */
  readonly counters: readonly string[];
  /** Also the `code` of this error class (thrown, never answered as such). */
  readonly errorClass?: string;
}

const INVALID: WsReply = { status: 401, error: "Invalid Command" };
const UNAVAILABLE: WsReply = { status: 503, error: "Service Unavailable" };
const TOO_MANY: WsReply = { status: 429, error: "Too Many Requests" };
/** Web Push's errno for every "retry later" (autopush: 201 "service unavailable"). */
const ERRNO_RETRY = 201;

const PROTOCOL = "edition_protocol_errors_total{kind}";
const HANDSHAKES = "edition_handshakes_total{outcome}";
const HELLOS = "edition_hellos_total{outcome}";
const REGISTRATIONS = "edition_registrations_total{outcome}";
const REDIRECTS = "edition_redirects_total{outcome}";
/** The counter of every app-server refusal, by code (`label`). */
export const REFUSALS = "edition_endpoint_refusals_total{code}";

export const Errors = {
  // ---------------------------------------------------------------- WebSocket commands
  INVALID_COMMAND: {
    meaning:
      "bad input: unknown type, missing or invalid field, command before hello, two hellos at once",
    close: "normal",
    reply: INVALID,
    label: "invalid_command",
    counters: [PROTOCOL],
  },
  BAD_UAID: {
    meaning: "hello: the UAID is not a UUID, or a second hello on the socket names another UAID",
    close: "normal",
    reply: UNAVAILABLE,
    label: "bad_uaid",
    counters: [PROTOCOL],
  },
  MALFORMED_FRAME: {
    meaning: "a frame that is not a JSON object (or past the number and nesting bounds)",
    close: "unsupported",
    label: "garbage",
    counters: [PROTOCOL],
  },
  BINARY_FRAME: {
    meaning: "a binary frame",
    close: "unsupported",
    label: "binary",
    counters: [PROTOCOL],
  },
  FRAME_TOO_BIG: {
    meaning: "a text frame over EDITION_MAX_FRAME_BYTES",
    close: "tooBig",
    label: "too_big",
    counters: [PROTOCOL],
  },
  HELLO_TIMEOUT: {
    meaning: "no hello within the hello deadline",
    close: "helloTimeout",
    label: "hello_timeout",
    counters: [PROTOCOL],
  },
  FRAME_TIMEOUT: {
    meaning: "a frame left half-sent past the frame deadline",
    close: "helloTimeout",
    label: "frame_timeout",
    counters: [PROTOCOL],
  },
  PING_FLOOD: {
    meaning: "pings (or purges, repeated hellos) faster than EDITION_PING_MIN_INTERVAL_MS",
    close: "pingFlood",
    reply: INVALID,
    label: "ping_flood",
    counters: [PROTOCOL],
  },
  TOO_MANY_CHANNELS: {
    meaning: "register past EDITION_MAX_CHANNELS (the channels already registered stay)",
    close: "normal",
    reply: { ...INVALID, errno: 104 },
    label: "too_many_channels",
    counters: [REGISTRATIONS],
  },
  REGION_FULL: {
    meaning: "first hello while every node of the region is full (or the region failed over)",
    close: "normal",
    reply: TOO_MANY,
    label: "full",
    counters: [REDIRECTS],
  },
  REPLACED: {
    meaning: "a newer connection of the same UAID took over",
    close: "replaced",
    label: "replaced",
    counters: [],
  },
  SLOW_CONSUMER: {
    meaning: "the client did not read fast enough (send buffer full); what it missed stays stored",
    close: "tryAgainLater",
    label: "slow_consumer",
    counters: ["edition_notifications_total{outcome} (dropped)"],
  },
  HANDED_BACK: {
    meaning: "a client of an adopted region whose home region is back: reconnect there",
    close: "restart",
    label: "handed_back",
    counters: [],
  },
  // ---------------------------------------------------------------- WebSocket upgrades
  DRAINING: {
    meaning: "the node drains before exit: open sockets are closed, upgrades refused",
    close: "restart",
    http: { status: 503, retryAfter: RETRY_AFTER_SECONDS },
    label: "refused_draining",
    counters: [HANDSHAKES],
  },
  CONNECTIONS_FULL: {
    meaning: "upgrade past EDITION_MAX_CONNECTIONS",
    http: { status: 503, retryAfter: RETRY_AFTER_SECONDS },
    label: "refused_capacity",
    counters: [HANDSHAKES],
  },
  IP_CONNECTIONS: {
    meaning: "upgrade from an address that holds its maximum of sockets",
    http: { status: 429, retryAfter: RETRY_AFTER_IP_SECONDS },
    label: "refused_ip_connections",
    counters: [HANDSHAKES],
  },
  IP_RATE: {
    meaning: "upgrades from one address faster than its rate",
    http: { status: 429, retryAfter: RETRY_AFTER_IP_SECONDS },
    label: "refused_ip_rate",
    counters: [HANDSHAKES],
  },
  // ---------------------------------------------------------------- both sides
  STORE_UNAVAILABLE: {
    meaning:
      "the store failed (unreachable, timed out): hello, register, unregister and PUT alike; nothing was done, retry",
    close: "normal",
    reply: UNAVAILABLE,
    http: { status: 503, errno: ERRNO_RETRY, retryAfter: RETRY_AFTER_SECONDS },
    label: "store_error",
    counters: [HELLOS, REGISTRATIONS, REFUSALS],
    errorClass: "StoreError",
  },
  // ---------------------------------------------------------------- app-server endpoints
  OVERLOADED: {
    meaning: "the node sheds load (router queue or store too slow): nothing was stored, retry",
    http: { status: 503, errno: ERRNO_RETRY, retryAfter: RETRY_AFTER_SECONDS },
    label: "overloaded",
    counters: [REFUSALS],
  },
  NOT_CONFIRMED: {
    meaning:
      "durability global: no replica in another region confirmed in time (stored here; may still be delivered)",
    http: { status: 503, errno: ERRNO_RETRY, retryAfter: RETRY_AFTER_SECONDS },
    label: "not_confirmed",
    counters: [REFUSALS],
    errorClass: "ReplicationTimeout",
  },
  REGION_UNREACHABLE: {
    meaning: "a token of another region that could not be forwarded there nor served here",
    http: { status: 503, errno: ERRNO_RETRY, retryAfter: RETRY_AFTER_SECONDS },
    label: "region_unreachable",
    counters: [REFUSALS],
  },
  INTERNAL_ERROR: {
    meaning: "an unexpected failure while handling the request: retry",
    http: { status: 503, errno: ERRNO_RETRY, retryAfter: RETRY_AFTER_SECONDS },
    label: "internal_error",
    counters: [REFUSALS],
  },
  NO_SUCH_ENDPOINT: {
    meaning: "the token does not decode or authenticate here, or the channel is not registered",
    http: { status: 404, errno: 102 },
    label: "no_such_endpoint",
    counters: [REFUSALS],
  },
  GONE: {
    meaning: "the client was reset, or (Web Push) unsubscribed",
    http: { status: 410, errno: 106 },
    label: "gone",
    counters: [REFUSALS],
  },
  PAYLOAD_TOO_LARGE: {
    meaning: "data over 4096 bytes (or a body over the endpoint's bound)",
    http: { status: 413, errno: 104 },
    label: "payload_too_large",
    counters: [REFUSALS],
  },
  BAD_VERSION: {
    meaning: "SimplePush: version is not an unsigned 64-bit integer",
    http: { status: 400 },
    label: "bad_version",
    counters: [REFUSALS],
  },
  BAD_CRYPTO: {
    meaning: "Web Push: a body without a usable Content-Encoding / Encryption / Crypto-Key",
    http: { status: 400, errno: 110 },
    label: "bad_crypto",
    counters: [REFUSALS],
  },
  MISSING_TTL: {
    meaning: "Web Push: no TTL header",
    http: { status: 400, errno: 111 },
    label: "missing_ttl",
    counters: [REFUSALS],
  },
  BAD_TTL: {
    meaning: "Web Push: TTL is not a non-negative integer",
    http: { status: 400, errno: 112 },
    label: "bad_ttl",
    counters: [REFUSALS],
  },
  BAD_TOPIC: {
    meaning: "Web Push: Topic longer than 32 base64url characters",
    http: { status: 400, errno: 113 },
    label: "bad_topic",
    counters: [REFUSALS],
  },
  BAD_URGENCY: {
    meaning: "Web Push: Urgency not one of very-low, low, normal, high",
    http: { status: 400, errno: 114 },
    label: "bad_urgency",
    counters: [REFUSALS],
  },
  VAPID_UNAUTHORIZED: {
    meaning: "Web Push: VAPID missing (the subscription has a key) or not verifiable",
    http: { status: 401, errno: 109 },
    label: "vapid_unauthorized",
    counters: [REFUSALS],
  },
  VAPID_WRONG_KEY: {
    meaning: "Web Push: a valid VAPID signature by another key than the subscription's",
    http: { status: 403, errno: 109 },
    label: "vapid_wrong_key",
    counters: [REFUSALS],
  },
  QUEUE_FULL: {
    meaning: "Web Push: the UAID already holds its most messages or bytes pending",
    http: { status: 429, errno: 120, retryAfter: RETRY_AFTER_SECONDS },
    label: "queue_full",
    counters: [REFUSALS],
  },
  NO_SUCH_MESSAGE: {
    meaning: "Web Push: DELETE of a message that is not (or no longer) pending",
    http: { status: 404, errno: 121 },
    label: "no_such_message",
    counters: [REFUSALS],
  },
  METHOD_NOT_ALLOWED: {
    meaning: "another method on an endpoint path (Allow says which)",
    http: { status: 405, errno: 405 },
    label: "method_not_allowed",
    counters: [REFUSALS],
  },
  NOT_FOUND: {
    meaning: "any other HTTP path (the body says where WebSocket clients and app servers go)",
    http: { status: 404 },
    label: "not_found",
    counters: [],
  },
  // ---------------------------------------------------------------- operators
  NOT_READY: {
    meaning: "admin /ready: draining, not in the slot table yet, or store unreachable",
    http: { status: 503 },
    label: "not_ready",
    counters: [],
  },
  ADMIN_FAILED: {
    meaning: "admin: /metrics or /ready failed unexpectedly",
    http: { status: 500 },
    label: "admin_failed",
    counters: [],
  },
  CONFIG_INVALID: {
    meaning: "the environment does not make a valid configuration: every problem on stderr, exit 2",
    label: "config_invalid",
    counters: [],
    errorClass: "ConfigError",
  },
  // ---------------------------------------------------------------- between nodes
  ROUTER_UNREACHABLE: {
    meaning: "a request to a peer node failed: no connection, or it closed before the reply",
    label: "router_unreachable",
    counters: [],
    errorClass: "RouterUnreachable",
  },
  ROUTER_OVERLOADED: {
    meaning:
      "too many requests in flight or bytes queued towards a peer: the request fails at once (the caller sheds)",
    label: "router_overloaded",
    counters: [],
    errorClass: "RouterOverloaded",
  },
  ROUTER_BAD_MESSAGE: {
    meaning: "a router message from a peer that does not decode",
    label: "router_bad_message",
    counters: [],
    errorClass: "RouterDecodeError",
  },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof Errors;

/** Codes an HTTP request can be refused with. */
export type HttpErrorCode = {
  [K in ErrorCode]: (typeof Errors)[K] extends { readonly http: HttpAnswer } ? K : never;
}[ErrorCode];

/** Codes a WebSocket command is answered with (an error reply, then a close). */
export type ReplyErrorCode = {
  [K in ErrorCode]: (typeof Errors)[K] extends { readonly reply: WsReply } ? K : never;
}[ErrorCode];

/** The refusals of `PUT /update/<token>` (SimplePush; 405 aside, which no handler returns). */
export const SIMPLEPUSH_PUT_CODES = [
  "BAD_VERSION",
  "NO_SUCH_ENDPOINT",
  "GONE",
  "PAYLOAD_TOO_LARGE",
  "OVERLOADED",
  "STORE_UNAVAILABLE",
  "NOT_CONFIRMED",
  "REGION_UNREACHABLE",
  "INTERNAL_ERROR",
] as const satisfies readonly HttpErrorCode[];

export type SimplePushPutCode = (typeof SIMPLEPUSH_PUT_CODES)[number];
/** Their statuses, each once, ascending, as label values of `edition_endpoint_requests_total`. */
export const SIMPLEPUSH_PUT_STATUSES: readonly string[] = [
  ...new Set(SIMPLEPUSH_PUT_CODES.map((c) => Errors[c].http.status)),
]
  .sort((a, b) => a - b)
  .map(String);

/** The entry of a code, typed as the general shape (for code that reads optional parts). */
export function entry(code: ErrorCode): ErrorEntry {
  return Errors[code];
}

/** The HTTP answer of a code that has one. */
export function httpOf(code: HttpErrorCode): HttpAnswer {
  return Errors[code].http;
}

/** The error reply of a code that has one. */
export function replyOf(code: ReplyErrorCode): WsReply {
  return Errors[code].reply;
}

/** The close code (number) of a code that closes a socket. */
export function closeOf(code: ErrorCode): number | undefined {
  const name = entry(code).close;
  return name === undefined ? undefined : CloseCodes[name].code;
}
