/**
 * Route: hand an update to whichever node holds the UAID's socket. The
 * single-node adapter (local-route.ts) looks in the local socket registry; the cluster
 * adapter (cluster-route.ts) asks the directory where and sends there, at most two
 * internal hops.
 */

export type RouteResult =
  /** A live socket took the frame. */
  | "delivered"
  /** No socket holds the UAID (or it went away): the update waits in the store. */
  | "absent"
  /** The node that should know could not be reached: the update waits in the store. */
  | "unreachable";

/**
 * What a PUT hands to the socket. SimplePush: the update as fields, turned into a frame only
 * by the node holding the socket (it needs channel and version for its sent-map anyway, and
 * the router carries them compactly); `stamp` is the identity the PUT stored the update
 * under (see `PendingUpdate.stamp`), so a socket that already got that very update from a
 * flush is not sent it again. Web Push: the notification frame, opaque, and its message id.
 */
export type Push =
  | {
      readonly kind: "simplepush";
      readonly channelID: string;
      readonly version: bigint;
      readonly data?: string | undefined;
      readonly stamp?: string | undefined;
    }
  | {
      readonly kind: "webpush";
      readonly frame: string;
      /** The message id: a socket that already got this message (a flush) is not sent it again. */
      readonly stamp?: string | undefined;
    };

export interface Route {
  route(uaid: string, push: Push): Promise<RouteResult> | RouteResult;
  /** True when internal queues are full: shed new PUTs (503 + Retry-After) before storing. */
  shedding(): boolean;
}

/** The sockets of this node, as delivery sees them (implemented by `Connections`). */
export interface LocalDelivery {
  /**
   * Sends `push` to the local socket holding `uaid`: `undefined` when none does here, else
   * whether it took it (or already had that update).
   */
  deliver(uaid: string, push: Push): boolean | undefined;
  /** Sockets open on this node (member record, redirects). */
  readonly size: number;
}
