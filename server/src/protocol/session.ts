/**
 * The protocol state machine of one WebSocket. It never touches a socket, a store or a
 * clock: `step` takes the session state, one text frame and the time, updates the state
 * and returns what the shell must do next. Commands that need storage (hello, register,
 * unregister, ack) come back as validated requests; the shell performs them and builds the
 * reply with the functions in `replies.ts` and `hello.ts`.
 */
import { closeOf, type ErrorCode, type ReplyErrorCode } from "../errors/catalogue.js";
import { normalizeUuid } from "./ids.js";
import type { JsonLimits } from "./json.js";
import { type ControlLimits, takeControlToken } from "./limits.js";
import { decodeFrame } from "./messages.js";
import { errorReply, helloReply, PING_REPLY } from "./replies.js";
import { versionFromJson } from "./version.js";
import { type WebPushStep, webpushHelloReply, webpushStep } from "./webpush-session.js";

export const Phase = {
  /** Connected, no successful hello yet. */
  New: 0,
  /** hello accepted by the core, the shell is resolving the UAID. */
  Hello: 1,
  /** hello answered with 200: every command is allowed. */
  Ready: 2,
  /** The socket is closing or closed: ignore everything. */
  Closed: 3,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/**
 * Per-socket state. Kept deliberately small (it lives once per connection, millions per
 * region): a handful of scalars, no closures, no per-socket buffers.
 */
export interface Session {
  phase: Phase;
  /** Normalised UAID once hello succeeded. */
  uaid: string | undefined;
  /** The hello said `use_webpush: true`: Web Push mode (webpush-session.ts). */
  webpush: boolean;
  /** Ping token bucket: tokens left and when they were last counted (ms). */
  pingTokens: number;
  pingAt: number;
}

export function newSession(now: number, pingBurst: number): Session {
  return {
    phase: Phase.New,
    uaid: undefined,
    webpush: false,
    pingTokens: pingBurst,
    pingAt: now,
  };
}

/** Ping, purge and repeated hellos share one bucket (`limits.ts`); JSON bounds (`json.ts`). */
export interface Limits extends ControlLimits {
  /** Bounds of the JSON slow path; default `DEFAULT_JSON_LIMITS`. */
  readonly json?: JsonLimits;
}

export interface AckedUpdate {
  /** Normalised channelID. */
  readonly channel: string;
  readonly version: bigint;
}

export type Step =
  /** Nothing to send and nothing to do (also: an ack in which no update parses). */
  | { readonly do: "none" }
  /** Send `text`, keep the socket. */
  | { readonly do: "reply"; readonly text: string }
  /**
   * Send `text` if given, then close with `code`; `error` is why (its metric label and
   * answers: `errors/catalogue.ts`).
   */
  | {
      readonly do: "close";
      readonly text: string | undefined;
      readonly code: number;
      readonly error: ErrorCode;
    }
  /**
   * First hello: resolve the UAID. `requested` is the normalised UAID the client asked for
   * (undefined: mint one) and `echo` the exact text to echo if it is kept.
   */
  | {
      readonly do: "hello";
      readonly requested: string | undefined;
      readonly echo: string | undefined;
      readonly channelCount: number;
      readonly raw: string;
    }
  | {
      readonly do: "register";
      readonly channelID: string;
      readonly channel: string;
      readonly raw: string;
      /** Web Push only: the application server key (base64url, unpadded), when given. */
      readonly key?: string;
    }
  | {
      readonly do: "unregister";
      readonly channelID: string;
      /** Normalised channel, or undefined when the id is not a UUID (nothing to delete). */
      readonly channel: string | undefined;
      readonly raw: string;
    }
  | { readonly do: "ack"; readonly updates: readonly AckedUpdate[] }
  | WebPushStep;

const NONE: Step = { do: "none" };
const GARBAGE: Step = {
  do: "close",
  text: undefined,
  code: closeOf("MALFORMED_FRAME")!,
  error: "MALFORMED_FRAME",
};
const PONG: Step = { do: "reply", text: PING_REPLY };

/** The error reply of `error` echoing `raw`, then its close code. */
function fail(raw: string, error: ReplyErrorCode): Step {
  return { do: "close", text: errorReply(raw, error), code: closeOf(error)!, error };
}

/** Handles one text frame. Mutates `s` (phase, ping bucket) and returns the next action. */
export function step(s: Session, text: string, now: number, limits: Limits): Step {
  if (s.phase === Phase.Closed) return NONE;
  const frame = decodeFrame(text, limits.json);
  if (frame.kind === "garbage") {
    s.phase = Phase.Closed;
    return GARBAGE;
  }
  if (frame.kind === "ping") return control(s, frame.raw, now, limits) ?? PONG;
  const { message: m, raw } = frame;
  if (m.messageType === "purge") return control(s, raw, now, limits) ?? PONG;
  if (m.messageType === "hello") {
    // A repeated hello is a control message (answered from the session, nothing changes).
    if (s.phase === Phase.Ready) {
      const flood = control(s, raw, now, limits);
      if (flood !== undefined) return flood;
    }
    return hello(s, m.uaid, m.channelIDs, raw, m.useWebpush === true);
  }
  if (s.webpush && s.phase === Phase.Ready) return webpushStep(s, m, raw);
  if (
    s.phase !== Phase.Ready ||
    m.messageType === "invalid" ||
    m.messageType === "nack" ||
    m.messageType === "broadcast_subscribe"
  ) {
    s.phase = Phase.Closed;
    return fail(raw, "INVALID_COMMAND");
  }
  switch (m.messageType) {
    case "register": {
      const channel = normalizeUuid(m.channelID);
      if (channel === undefined) {
        s.phase = Phase.Closed;
        return fail(raw, "INVALID_COMMAND");
      }
      return { do: "register", channelID: m.channelID as string, channel, raw };
    }
    case "unregister": {
      if (typeof m.channelID !== "string" || m.channelID.length === 0) {
        s.phase = Phase.Closed;
        return fail(raw, "INVALID_COMMAND");
      }
      return {
        do: "unregister",
        channelID: m.channelID,
        channel: normalizeUuid(m.channelID),
        raw,
      };
    }
    default:
      return ack(s, m.updates, raw);
  }
}

function hello(
  s: Session,
  uaid: unknown,
  channelIDs: unknown,
  raw: string,
  webpush: boolean,
): Step {
  // Web Push clients keep their subscriptions on the server and send no channelIDs.
  if (!Array.isArray(channelIDs) && !(webpush && channelIDs === undefined)) {
    s.phase = Phase.Closed;
    return fail(raw, "INVALID_COMMAND");
  }
  const empty = uaid === undefined || uaid === null || uaid === "";
  let requested: string | undefined;
  if (!empty) {
    requested = normalizeUuid(uaid);
    if (requested === undefined) {
      s.phase = Phase.Closed;
      return fail(raw, "BAD_UAID");
    }
  }
  if (s.phase === Phase.Ready) {
    // A second hello on the same socket: same or empty UAID → 200 again; another → 503.
    const reply = s.webpush ? webpushHelloReply : helloReply;
    if (requested === undefined) return { do: "reply", text: reply(s.uaid!) };
    if (requested === s.uaid) return { do: "reply", text: reply(uaid as string) };
    s.phase = Phase.Closed;
    return fail(raw, "BAD_UAID");
  }
  if (s.phase === Phase.Hello) {
    // The shell queues frames while a hello resolves, so this only happens if a client
    // sends two hellos back to back; the second is a protocol violation.
    s.phase = Phase.Closed;
    return fail(raw, "INVALID_COMMAND");
  }
  s.phase = Phase.Hello;
  s.webpush = webpush;
  return {
    do: "hello",
    requested,
    echo: requested === undefined ? undefined : (uaid as string),
    // Firefox sends its UAID only when it holds subscriptions (and no channelIDs): count
    // that as "has channels", so an unknown UAID is replaced and Firefox, seeing a new one,
    // drops its dead subscriptions (pushsubscriptionchange) instead of keeping 410 endpoints.
    channelCount: Array.isArray(channelIDs)
      ? channelIDs.length
      : webpush && requested !== undefined
        ? 1
        : 0,
    raw,
  };
}

function ack(s: Session, updates: unknown, raw: string): Step {
  if (!Array.isArray(updates)) {
    s.phase = Phase.Closed;
    return fail(raw, "INVALID_COMMAND");
  }
  const acked: AckedUpdate[] = [];
  for (const u of updates) {
    if (typeof u !== "object" || u === null) continue;
    let channelID: unknown;
    let version: unknown;
    for (const key in u) {
      const k = key.toLowerCase();
      if (k === "channelid") channelID = (u as Record<string, unknown>)[key];
      else if (k === "version") version = (u as Record<string, unknown>)[key];
    }
    const channel = normalizeUuid(channelID);
    const v = versionFromJson(version);
    if (channel !== undefined && v !== undefined) acked.push({ channel, version: v });
  }
  return acked.length === 0 ? NONE : { do: "ack", updates: acked };
}

/** Charges one control message; the close step when the client floods, else undefined. */
function control(s: Session, raw: string, now: number, limits: Limits): Step | undefined {
  if (takeControlToken(s, now, limits)) return undefined;
  s.phase = Phase.Closed;
  return fail(raw, "PING_FLOOD");
}

/** The shell finished the hello: the session is ready for every command. */
export function helloDone(s: Session, uaid: string): void {
  s.uaid = uaid;
  s.phase = Phase.Ready;
}
