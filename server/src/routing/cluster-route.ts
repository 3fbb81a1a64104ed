/**
 * Cluster delivery: the directory answers *where* a UAID's socket is (here, on a node, or
 * nowhere) and this sends there. A PUT goes endpoint → slot owner → holder, at most two
 * internal hops, and one when the endpoint already knows the holder (`HolderCache`).
 *
 * A PUT that did not reach a socket is stored (202) and normally waits for the holder's
 * flush, which starts after the owner confirmed the claim (directory.ts). Every answer but
 * "delivered" is reported to the directory (`missed`), which nudges the holder again if
 * the answer may have come from the wrong owner (cluster-directory.ts).
 */
import type { ClusterDirectory } from "./cluster-directory.js";
import type { HolderCache } from "./holder-cache.js";
import type { LocalDelivery, Push, Route, RouteResult } from "./route.js";
import type { PresenceReply, RouterRequest } from "./router-messages.js";

type DeliveryRequest = Extract<RouterRequest, { op: "route" | "deliver" }>;

/**
 * One decoded router request, to whichever part answers it: delivery for route/deliver
 * (`route` undefined while the node is starting: nothing is delivered here yet), the
 * directory for the rest.
 */
export function handleRouterRequest(
  directory: ClusterDirectory,
  route: ClusterRoute | undefined,
  req: RouterRequest,
): PresenceReply | Promise<PresenceReply> {
  if (req.op === "route" || req.op === "deliver") return route?.handle(req) ?? { d: 0 };
  return directory.handle(req);
}

export interface ClusterRouteDeps {
  readonly self: string;
  readonly directory: ClusterDirectory;
  readonly local: LocalDelivery;
  readonly request: (node: string, req: RouterRequest) => Promise<PresenceReply>;
  /** Whether new PUTs should be shed (router queues or the store too slow). */
  readonly overloaded: () => boolean;
  readonly cache?: HolderCache;
}

/** A member came back under the same id with a new incarnation (an empty memory). */
export function memberRestarted(
  directory: ClusterDirectory,
  route: ClusterRoute | undefined,
  node: string,
): void {
  directory.ownerRestarted(node);
  route?.ownerRestarted(node);
}

export class ClusterRoute implements Route {
  constructor(private readonly d: ClusterRouteDeps) {}

  /** `node` restarted under the same id: it holds no socket it held before. */
  ownerRestarted(node: string): void {
    this.d.cache?.forgetNode(node);
  }

  shedding(): boolean {
    return this.d.overloaded();
  }

  async route(uaid: string, push: Push): Promise<RouteResult> {
    const here = this.d.local.deliver(uaid, push);
    if (here !== undefined) return here ? "delivered" : "absent";
    const cached = this.d.cache?.get(uaid);
    if (cached !== undefined && cached !== this.d.self) {
      // One hop: straight to the node that held the socket last time. Anything but a
      // delivery drops the entry and takes the owner's path (the owner is the authority).
      const r = await this.ask(cached, { op: "deliver", uaid, push });
      if (r === "delivered") return r;
      this.d.cache?.delete(uaid, cached);
    }
    const owner = this.d.directory.ownerOf(uaid);
    const r =
      owner === undefined
        ? "unreachable"
        : owner === this.d.self
          ? await this.routeAsOwner(uaid, push)
          : await this.ask(owner, { op: "route", uaid, push });
    if (r !== "delivered") this.d.directory.missed(uaid, owner, r === "unreachable");
    return r;
  }

  /** A route or deliver request from another node. */
  async handle(req: DeliveryRequest): Promise<PresenceReply> {
    if (req.op === "deliver") {
      return { d: this.d.local.deliver(req.uaid, req.push) === true ? 1 : 0 };
    }
    // A route from a node that thinks we own the slot. If our table says another node does
    // (theirs or ours is stale), forward once rather than answer for a slot we do not hold.
    const owner = this.d.directory.ownerOf(req.uaid);
    const asOwner = owner === undefined || owner === this.d.self || req.fwd === 1;
    const r = asOwner
      ? await this.routeAsOwner(req.uaid, req.push)
      : await this.ask(owner, { op: "route", uaid: req.uaid, push: req.push, fwd: 1 });
    if (r !== "delivered")
      this.d.directory.missed(req.uaid, asOwner ? this.d.self : owner, r === "unreachable");
    const reply: PresenceReply = { d: r === "delivered" ? 1 : 0 };
    // Tell the endpoint who holds the socket, so its next PUT takes one hop.
    if (r === "delivered") {
      const h = this.d.directory.holderOf(req.uaid);
      if (h !== undefined) return { ...reply, h: h.node };
    }
    return reply;
  }

  /** As slot owner: hand the update to the holder we know. */
  private async routeAsOwner(uaid: string, push: Push): Promise<RouteResult> {
    const h = this.d.directory.holderOf(uaid);
    if (h === undefined) return "absent";
    if (h.node === this.d.self) {
      return this.d.local.deliver(uaid, push) === true ? "delivered" : "absent";
    }
    return this.ask(h.node, { op: "deliver", uaid, push });
  }

  private async ask(node: string, req: DeliveryRequest): Promise<RouteResult> {
    try {
      const r = await this.d.request(node, req);
      if (r.d !== 1) return "absent";
      if (req.op === "route" && r.h !== undefined) this.d.cache?.set(req.uaid, r.h);
      return "delivered";
    } catch {
      return "unreachable";
    }
  }
}
