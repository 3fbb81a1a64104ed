/**
 * Route: hand a notification frame to whichever node holds the UAID's socket. The
 * single-node adapter looks in local presence; the cluster adapter (cluster-presence.ts)
 * asks the slot owner, at most two internal hops.
 */

export type RouteResult =
  /** A live socket took the frame. */
  | "delivered"
  /** No socket holds the UAID (or it went away): the update waits in the store. */
  | "absent"
  /** The node that should know could not be reached: the update waits in the store. */
  | "unreachable";

export interface Route {
  route(uaid: string, frame: string): Promise<RouteResult> | RouteResult;
  /** True when internal queues are full: shed new PUTs (503 + Retry-After) before storing. */
  shedding(): boolean;
}
