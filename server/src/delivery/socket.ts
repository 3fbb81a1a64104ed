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
   * SimplePush: the version last sent on this socket, per normalised channelID (made on the
   * first update sent). A flush skips a pending update this socket was already sent, so the
   * flush asked for again after a routing change (it reads the store, where an update stays
   * until its ack lands) never hands the client back what it got directly or already acked:
   * "unacked updates are not re-sent on the same socket". Bounded by the UAID's channels (an
   * unregister removes its entry).
   */
  sent: Map<string, bigint> | undefined;
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
