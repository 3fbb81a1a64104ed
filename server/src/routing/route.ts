/**
 * Route: hand a notification frame to whichever node holds the UAID's socket. The
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

export interface Route {
  /**
   * `stamp`: the identity the PUT stored its update under (see `PendingUpdate.stamp`), so a
   * socket that already got that very update from a flush is not sent it again.
   */
  route(uaid: string, frame: string, stamp?: string): Promise<RouteResult> | RouteResult;
  /** True when internal queues are full: shed new PUTs (503 + Retry-After) before storing. */
  shedding(): boolean;
}

/** The sockets of this node, as delivery sees them (implemented by `Connections`). */
export interface LocalDelivery {
  /**
   * Sends `frame` to the local socket holding `uaid`: `undefined` when none does here, else
   * whether it took the frame (or already had that update).
   */
  deliver(uaid: string, frame: string, stamp?: string): boolean | undefined;
  /** Sockets open on this node (member record, redirects). */
  readonly size: number;
}
