/**
 * The messages the internal router carries, as types. One codec turns them into bytes and
 * back (router-codec.ts, the binary wire; router-legacy.ts, the JSON lines nodes before it
 * spoke): a request or reply from another node is checked field by field before any
 * handler sees it, never cast.
 */
import type { Push } from "./route.js";

/** Requests between nodes: the directory's (announce, withdraw, evict) and delivery's. */
export type RouterRequest =
  | { op: "announce"; uaid: string; node: string; since: number }
  | { op: "withdraw"; uaid: string; node: string; since: number }
  | { op: "evict"; uaid: string; since: number }
  /** To the owner: a PUT for `uaid` may have missed its socket (see cluster-route.ts). */
  | { op: "nudge"; uaid: string; fwd?: 1 }
  /** Owner to holder: flush the claim `(uaid, since)` again. */
  | { op: "flush"; uaid: string; since: number }
  /**
   * From `node`, to every member, when it gains slots: it knows no claim in them, so
   * announce again each local claim whose slot your table says `node` owns. (Binary wire
   * only: never sent to a node still on the JSON lines.)
   */
  | { op: "reclaim"; node: string }
  /**
   * `push`: the update itself (SimplePush: channel, version, data, stamp; the holder builds
   * the frame) or a Web Push frame, opaque. `fwd`: already forwarded once by a node whose
   * table said it was not the owner.
   */
  | { op: "route"; uaid: string; push: Push; fwd?: 1 }
  | { op: "deliver"; uaid: string; push: Push };

/**
 * Replies: `d` says whether a route/deliver reached a socket; `h` names the node holding the
 * socket (a delivered route), for the endpoint's holder cache.
 */
export type PresenceReply = { d?: 0 | 1; h?: string };

/** Everything that crosses a router connection: the handshake, requests, replies. */
export type RouterFrame =
  /** Client → server: the client's nonce (16 bytes). */
  | { t: "hello"; nonce: Buffer }
  /** Server → client: the server's nonce and its proof HMAC(secret, "server"|c|s). */
  | { t: "challenge"; nonce: Buffer; proof: Buffer }
  /** Client → server: HMAC(secret, "client"|c|s). */
  | { t: "auth"; proof: Buffer }
  | { t: "request"; id: number; req: RouterRequest }
  | { t: "reply"; id: number; reply: PresenceReply }
  /** The handler failed: the request fails at the caller with `message`. */
  | { t: "error"; id: number; message: string };

export const NONCE_BYTES = 16;
export const PROOF_BYTES = 32;
/** Bounds of the identifiers a message names (UAID, node id, channelID), in UTF-8 bytes. */
export const MAX_ID_BYTES = 256;
export const MAX_STAMP_BYTES = 64;
export const MAX_ERROR_BYTES = 1024;

export class RouterDecodeError extends Error {
  override readonly name = "RouterDecodeError";
  readonly code = "ROUTER_BAD_MESSAGE";
  constructor(
    message: string,
    /** The frame was over the size limit (before auth: `preauth_bytes`). */
    readonly tooLong = false,
  ) {
    super(message);
  }
}

/**
 * A wire format: how frames become bytes, and a decoder per connection that stops at the
 * first bad frame. `maxFrame` is asked per frame (it grows once the peer authenticated).
 */
export interface RouterWire {
  readonly name: "binary" | "json";
  encode(f: RouterFrame): Buffer;
  decoder(maxFrame: () => number): FrameDecoder;
}

export interface FrameDecoder {
  /**
   * Feeds bytes; calls `onFrame` for each complete frame while it returns true (false: the
   * connection is gone, parse nothing more). Returns the error of the first bad frame; the
   * decoder is then dead and parses nothing more.
   */
  push(chunk: Buffer, onFrame: (f: RouterFrame) => boolean): RouterDecodeError | undefined;
}
