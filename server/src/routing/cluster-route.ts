/**
 * Cluster delivery: the directory answers *where* a UAID's socket is (here, on a node, or
 * nowhere) and this sends there. A PUT goes endpoint → slot owner → holder, at most two
 * internal hops, and one when the endpoint already knows the holder (`HolderCache`).
 *
 * A PUT that did not reach a socket is stored (202) and normally waits for the holder's
 * flush, which starts after the owner confirmed the claim (directory.ts). Two answers come
 * from a node that was not the owner the holder confirmed with — an owner whose slot table
 * was stale, or an owner that could not be reached (dead) — and may come after the holder's
 * flush read the store. So the node that got such an answer remembers the UAID with the
 * owner it asked (`misses`, bounded, by this node's own clock) and, once its table names
 * another owner (or that owner restarted), nudges the new owner, which has its holder read
 * the store again. Stamps keep that second read from sending anything twice.
 */
import type { ClusterDirectory } from "./cluster-directory.js";
import type { HolderCache } from "./holder-cache.js";
import type { LocalDelivery, Route, RouteResult } from "./route.js";
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
  /** This node's clock (ms), only to age its own `misses`. */
  readonly now?: () => number;
}

/** UAIDs a PUT may have missed, kept for the next routing change: bounded and aged. */
const MAX_MISSES = 10_000;
const MISS_MS = 60_000;

/** Applies a new slot table to the directory, then nudges for the misses it moved. */
export function applyOwners(
  directory: ClusterDirectory,
  route: ClusterRoute | undefined,
  owners: readonly (string | undefined)[],
): void {
  directory.setOwners(owners as string[]);
  route?.tableChanged();
}

export class ClusterRoute implements Route {
  private readonly misses = new Map<string, { owner: string | undefined; at: number }>();
  private readonly now: () => number;

  constructor(private readonly d: ClusterRouteDeps) {
    this.now = d.now ?? Date.now;
  }

  /** The slot table changed: nudge the new owner of each recent miss whose slot moved. */
  tableChanged(): void {
    const old = this.now() - MISS_MS;
    for (const [uaid, m] of this.misses) {
      if (m.at < old) this.misses.delete(uaid);
      else if (this.d.directory.ownerOf(uaid) !== m.owner) {
        this.misses.delete(uaid);
        this.d.directory.nudge(uaid);
      }
    }
  }

  /** `node` restarted: what it answered (or failed to) before may have missed a holder. */
  ownerRestarted(node: string): void {
    for (const [uaid, m] of this.misses) {
      if (m.owner !== node) continue;
      this.misses.delete(uaid);
      this.d.directory.nudge(uaid);
    }
  }

  private missed(uaid: string, owner: string | undefined): void {
    // The table already moved on since we asked: the current owner may know a holder.
    if (this.d.directory.ownerOf(uaid) !== owner) {
      this.d.directory.nudge(uaid);
      return;
    }
    this.misses.delete(uaid);
    this.misses.set(uaid, { owner, at: this.now() });
    if (this.misses.size > MAX_MISSES) this.misses.delete(this.misses.keys().next().value!);
  }

  shedding(): boolean {
    return this.d.overloaded();
  }

  async route(uaid: string, frame: string, stamp?: string): Promise<RouteResult> {
    const here = this.d.local.deliver(uaid, frame, stamp);
    if (here !== undefined) return here ? "delivered" : "absent";
    const cached = this.d.cache?.get(uaid);
    if (cached !== undefined && cached !== this.d.self) {
      // One hop: straight to the node that held the socket last time. Anything but a
      // delivery drops the entry and takes the owner's path (the owner is the authority).
      const r = await this.ask(cached, { op: "deliver", uaid, frame, stamp });
      if (r === "delivered") return r;
      this.d.cache?.delete(uaid, cached);
    }
    const owner = this.d.directory.ownerOf(uaid);
    const r =
      owner === undefined
        ? "unreachable"
        : owner === this.d.self
          ? await this.routeAsOwner(uaid, frame, stamp)
          : await this.ask(owner, { op: "route", uaid, frame, stamp });
    if (r !== "delivered") this.missed(uaid, owner);
    return r;
  }

  /** A route or deliver request from another node. */
  async handle(req: DeliveryRequest): Promise<PresenceReply> {
    if (req.op === "deliver") {
      return { d: this.d.local.deliver(req.uaid, req.frame, req.stamp) === true ? 1 : 0 };
    }
    // A route from a node that thinks we own the slot. If our table says another node does
    // (theirs or ours is stale), forward once rather than answer for a slot we do not hold.
    const owner = this.d.directory.ownerOf(req.uaid);
    const asOwner = owner === undefined || owner === this.d.self || req.fwd === 1;
    const r = asOwner
      ? await this.routeAsOwner(req.uaid, req.frame, req.stamp)
      : await this.ask(owner, { ...req, fwd: 1 });
    if (r !== "delivered") this.missed(req.uaid, asOwner ? this.d.self : owner);
    const reply: PresenceReply = { d: r === "delivered" ? 1 : 0 };
    // Tell the endpoint who holds the socket, so its next PUT takes one hop.
    if (r === "delivered") {
      const h = this.d.directory.holderOf(req.uaid);
      if (h !== undefined) return { ...reply, h: h.node };
    }
    return reply;
  }

  /** As slot owner: hand the frame to the holder we know. */
  private async routeAsOwner(uaid: string, frame: string, stamp?: string): Promise<RouteResult> {
    const h = this.d.directory.holderOf(uaid);
    if (h === undefined) return "absent";
    if (h.node === this.d.self) {
      return this.d.local.deliver(uaid, frame, stamp) === true ? "delivered" : "absent";
    }
    return this.ask(h.node, { op: "deliver", uaid, frame, stamp });
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
