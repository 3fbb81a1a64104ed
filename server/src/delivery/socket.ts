/**
 * What the delivery shell needs from a client socket, as one shared operations object
 * (no per-socket wrapper: sockets are the transport's own handles).
 */
import type { Session } from "../protocol/session.js";

/** Per-socket state: the protocol session plus what the shell tracks while a hello resolves. */
export interface Conn extends Session {
  /** The UAID as echoed in the hello reply (the client's own spelling when kept). */
  echo: string | undefined;
  /** Frames received while the hello resolves, replayed in order after it (bounded). */
  queue: string[] | undefined;
  /** The transport closed the socket: nothing may be sent or closed on it any more. */
  gone: boolean;
  /** When this socket claimed its UAID: orders connections cluster-wide (newest wins). */
  since: number;
  /** When the socket opened (ms): it must say hello within the hello deadline. */
  openedAt: number;
  /** When the socket last completed a frame (message, ping or pong), ms. */
  lastFrameAt: number;
  /** Source address key for per-IP limits (transport/ip-limits.ts); "" when not tracked. */
  ip: string;
  /**
   * Web Push: messages of a flush cut short by backpressure still awaiting their acks; at 0
   * the next batch is flushed (0 also when nothing is held back).
   */
  backlog: number;
  /**
   * SimplePush: what was sent on this socket, per normalised channelID (made on the first
   * update sent): the last version, and the stamps of the last `MAX_SENT_STAMPS` updates.
   * A flush skips a stored update whose stamp this socket was sent, and a direct frame whose
   * stamp a flush already sent is not sent again, so the flush after each confirmation (it
   * reads the store, where an update stays until its ack lands) never hands the client back
   * what it got directly or already acked, whichever of flush and direct frame came first
   * and in whatever order concurrent PUTs were stored. Two PUTs with the same version are
   * two updates (different stamps): both are sent. An update stored without a stamp is
   * compared by version. Bounded by the UAID's channels (an unregister removes its entry).
   */
  sent: Map<string, SentUpdate> | undefined;
  /**
   * Web Push: ids of the messages sent on this socket and not acked yet (made on the first
   * message sent), so a flush (after a confirmation, a nudge, an ack that ends a backlog)
   * never sends a message this socket already got, directly or from an earlier flush. An
   * ack removes its id; bounded by `MAX_WEBPUSH_SENT` (past it, the oldest goes: at worst a
   * message is sent twice, never lost).
   */
  webpushSent: Map<string, true> | undefined;
}

/** Unacked Web Push message ids a socket remembers (a UAID's queue is bounded lower by default). */
export const MAX_WEBPUSH_SENT = 1024;

/**
 * How many stamps a socket remembers per channel: a duplicate would need more updates sent
 * on one channel between a flush and the direct frame of the same update (or the other way
 * round) than this, all racing one routing change.
 */
export const MAX_SENT_STAMPS = 16;

export interface SentUpdate {
  version: bigint;
  /** Oldest first, at most `MAX_SENT_STAMPS`. */
  readonly stamps: string[];
}

export const SendResult = { ok: 0, buffered: 1, dropped: 2, closed: 3 } as const;
export type SendResult = (typeof SendResult)[keyof typeof SendResult];

export interface SocketOps<S> {
  conn(socket: S): Conn;
  /** Sends one text frame. `closed` if the socket is gone; never throws. */
  send(socket: S, text: string): SendResult;
  /** Closes with a code (and short reason); no-op if already closed. */
  close(socket: S, code: number, reason?: string): void;
}
