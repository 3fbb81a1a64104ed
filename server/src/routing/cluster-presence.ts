/**
 * Presence and routing for a node in a cluster.
 *
 * - Local: `uaid → socket` for the sockets on this node.
 * - Owned: for the UAIDs in slots this node owns, `uaid → (node, since)`: who holds the
 *   newest connection. Kept in memory only; rebuilt by re-announcement when slots move.
 *
 * Hello announces to the slot owner; close withdraws. The owner keeps the newest
 * connection (largest `since`) and tells the holder of an older one to close it, so the
 * newest connection wins cluster-wide. A PUT is routed endpoint → owner → holder.
 *
 * An announcement that cannot reach its owner (dead or unreachable) leaves the UAID
 * "unconfirmed": it is retried when the slot table changes or on the retry timer, and once
 * confirmed the holder flushes that UAID's pending updates, because PUTs in between were
 * answered 202 and stored (docs/architecture.md: "delivered at next hello or when presence
 * reappears").
 */
import type { Presence } from "./presence.js";
import type { Route, RouteResult } from "./route.js";
import { type Owners, slotOf } from "./slot-table.js";

export interface Holder {
  readonly node: string;
  readonly since: number;
}

/** Requests between nodes (carried by transport/router.ts). */
export type PresenceRequest =
  | { op: "announce"; uaid: string; node: string; since: number }
  | { op: "withdraw"; uaid: string; node: string; since: number }
  | { op: "evict"; uaid: string; since: number }
  /** `fwd`: already forwarded once by a node whose table said it was not the owner. */
  | { op: "route"; uaid: string; frame: string; fwd?: 1 }
  | { op: "deliver"; uaid: string; frame: string };

export interface ClusterPresenceDeps<S> {
  readonly self: string;
  readonly slots: number;
  /** Keys the slot hash (the cluster secret): clients cannot choose their slot. */
  readonly slotKey: string;
  /** Sends a request to a node; rejects when it is unreachable or overloaded. */
  readonly request: (node: string, req: PresenceRequest) => Promise<Record<string, unknown>>;
  /** Whether outbound queues are full. */
  readonly overloaded: () => boolean;
  /** When the socket claimed its UAID (unique per node). */
  readonly since: (socket: S) => number;
  /** Sends a frame on a local socket: true when it took it. */
  readonly send: (socket: S, frame: string) => boolean;
  /** Closes a local socket replaced by a newer connection elsewhere. */
  readonly evict: (socket: S) => void;
  /** An unconfirmed UAID's presence is now known to its owner: flush its pending updates. */
  readonly confirmed: (uaid: string, socket: S) => void;
  readonly onError: (op: string, err: unknown) => void;
}

const MAX_RETRIES_PER_TICK = 5_000;
/** How long, and for how many UAIDs, an owner remembers answering "absent". */
const RECENT_ABSENT_MS = 10_000;
const RECENT_ABSENT_MAX = 100_000;

export class ClusterPresence<S> implements Presence<S>, Route {
  private readonly local = new Map<string, S>();
  private readonly owned = new Map<string, Holder>();
  private readonly unconfirmed = new Set<string>();
  /**
   * Owner side: UAIDs for which a route was answered "absent" recently, with when (ms). An
   * announcement of a claim made before that answer tells its node to flush again: the PUT
   * was stored after the node's hello flush read the store but reached us before the
   * announcement, so the socket would otherwise never see it. Bounded in size and age.
   */
  private readonly recentAbsent = new Map<string, number>();
  private owners: Owners = [];

  constructor(private readonly d: ClusterPresenceDeps<S>) {}

  get size(): number {
    return this.local.size;
  }

  sockets(): IterableIterator<S> {
    return this.local.values();
  }

  find(uaid: string): S | undefined {
    return this.local.get(uaid);
  }

  /** Entries this node keeps as slot owner. */
  get ownedSize(): number {
    return this.owned.size;
  }

  ownerOf(uaid: string): string | undefined {
    return this.owners[slotOf(uaid, this.d.slots, this.d.slotKey)];
  }

  claim(uaid: string, socket: S): S | undefined {
    const old = this.local.get(uaid);
    this.local.set(uaid, socket);
    this.announce(uaid, socket);
    return old === socket ? undefined : old;
  }

  release(uaid: string, socket: S): void {
    if (this.local.get(uaid) !== socket) return;
    this.local.delete(uaid);
    this.unconfirmed.delete(uaid);
    const owner = this.ownerOf(uaid);
    if (owner === undefined) return;
    const req: PresenceRequest = {
      op: "withdraw",
      uaid,
      node: this.d.self,
      since: this.d.since(socket),
    };
    if (owner === this.d.self) this.handle(req);
    else this.d.request(owner, req).catch(() => {}); // the owner forgets it when its table moves anyway
  }

  private announce(uaid: string, socket: S): void {
    const owner = this.ownerOf(uaid);
    const req: PresenceRequest = {
      op: "announce",
      uaid,
      node: this.d.self,
      since: this.d.since(socket),
    };
    if (owner === undefined) {
      this.unconfirmed.add(uaid);
      return;
    }
    if (owner === this.d.self) {
      const r = this.handle(req) as Record<string, unknown>;
      this.confirm(uaid, socket, r.flush === 1);
      return;
    }
    this.d.request(owner, req).then(
      (r) => this.confirm(uaid, socket, r.flush === 1),
      () => {
        this.unconfirmed.add(uaid);
      },
    );
  }

  /** The owner knows `socket` holds `uaid`; flush when PUTs may have missed it meanwhile. */
  private confirm(uaid: string, socket: S, missed: boolean): void {
    if ((this.unconfirmed.delete(uaid) || missed) && this.local.get(uaid) === socket) {
      this.d.confirmed(uaid, socket);
    }
  }

  /** Retries unconfirmed announcements (bounded per call). */
  retryUnconfirmed(): void {
    let n = 0;
    for (const uaid of [...this.unconfirmed]) {
      if (n++ >= MAX_RETRIES_PER_TICK) break;
      const s = this.local.get(uaid);
      if (s === undefined) this.unconfirmed.delete(uaid);
      else this.announce(uaid, s);
    }
  }

  /**
   * A new slot table: forget owned entries of slots this node lost, and re-announce local
   * UAIDs whose slot changed owner (and every unconfirmed one). A moved UAID is flushed
   * once its new owner confirms: while the slot was between owners (the old one dead, or
   * the new one not yet told), PUTs for it were answered 202 and stored, and the socket
   * stays open, so no hello would ever flush them.
   */
  setOwners(next: Owners): void {
    const prev = this.owners;
    this.owners = next;
    const self = this.d.self;
    for (const uaid of this.owned.keys()) {
      if (next[slotOf(uaid, this.d.slots, this.d.slotKey)] !== self) this.owned.delete(uaid);
    }
    for (const [uaid, socket] of this.local) {
      const slot = slotOf(uaid, this.d.slots, this.d.slotKey);
      if (prev[slot] !== next[slot] && prev[slot] !== undefined) this.unconfirmed.add(uaid);
      if (prev[slot] !== next[slot] || this.unconfirmed.has(uaid)) this.announce(uaid, socket);
    }
  }

  /**
   * `node` restarted under the same id (a new incarnation in its member record): the
   * presence it owned was in its memory and is gone, and the slot table may not have
   * changed at all (a pod replaced under the same name registers again before its old
   * lease runs out). Nothing else would tell the holders, and every PUT for their UAIDs
   * would be stored unrouted while the sockets stay open. Re-announce each local UAID it
   * owns and flush it once confirmed.
   */
  ownerRestarted(node: string): void {
    if (node === this.d.self) return;
    for (const [uaid, socket] of this.local) {
      if (this.ownerOf(uaid) !== node) continue;
      this.unconfirmed.add(uaid);
      this.announce(uaid, socket);
    }
  }

  /** Handles a request from another node (or from this one, for slots it owns). */
  handle(req: PresenceRequest): Record<string, unknown> | Promise<Record<string, unknown>> {
    switch (req.op) {
      case "announce": {
        const missed = this.takeRecentAbsent(req.uaid, req.since);
        const cur = this.owned.get(req.uaid);
        if (cur === undefined || cur.since <= req.since) {
          this.owned.set(req.uaid, { node: req.node, since: req.since });
          if (cur !== undefined && (cur.node !== req.node || cur.since !== req.since))
            this.sendEvict(req.uaid, cur);
        } else {
          // The announcement is older than what we hold (a late re-announce): it loses.
          this.sendEvict(req.uaid, { node: req.node, since: req.since });
        }
        return missed ? { flush: 1 } : {};
      }
      case "withdraw": {
        const cur = this.owned.get(req.uaid);
        if (cur !== undefined && cur.node === req.node && cur.since === req.since)
          this.owned.delete(req.uaid);
        return {};
      }
      case "evict": {
        const s = this.local.get(req.uaid);
        if (s !== undefined && this.d.since(s) <= req.since) this.d.evict(s);
        return {};
      }
      case "deliver": {
        const s = this.local.get(req.uaid);
        return { d: s !== undefined && this.d.send(s, req.frame) ? 1 : 0 };
      }
      case "route":
        return this.routeRequest(req).then((r) => ({ d: r === "delivered" ? 1 : 0 }));
    }
  }

  private noteAbsent(uaid: string): void {
    this.recentAbsent.delete(uaid);
    this.recentAbsent.set(uaid, Date.now());
    if (this.recentAbsent.size > RECENT_ABSENT_MAX) {
      this.recentAbsent.delete(this.recentAbsent.keys().next().value!);
    }
  }

  /**
   * Whether a route for `uaid` was answered "absent" at or after the claim being announced
   * (`since` is the claim time in µs-scale units of the holder's clock). An "absent" from
   * before the claim was for an offline client, whose hello flush already read that update.
   * Node clocks are assumed to agree to well under the hello → announce time.
   */
  private takeRecentAbsent(uaid: string, since: number): boolean {
    const at = this.recentAbsent.get(uaid);
    if (at === undefined) return false;
    this.recentAbsent.delete(uaid);
    return at >= Math.floor(since / 1000) && Date.now() - at <= RECENT_ABSENT_MS;
  }

  private sendEvict(uaid: string, h: Holder): void {
    const req: PresenceRequest = { op: "evict", uaid, since: h.since };
    if (h.node === this.d.self) this.handle(req);
    else this.d.request(h.node, req).catch((err) => this.d.onError("evict", err));
  }

  shedding(): boolean {
    return this.d.overloaded();
  }

  async route(uaid: string, frame: string): Promise<RouteResult> {
    const s = this.local.get(uaid);
    if (s !== undefined) return this.d.send(s, frame) ? "delivered" : "absent";
    const owner = this.ownerOf(uaid);
    if (owner === undefined) return "unreachable";
    if (owner === this.d.self) return this.routeAsOwner(uaid, frame);
    try {
      const r = await this.d.request(owner, { op: "route", uaid, frame });
      return r.d === 1 ? "delivered" : "absent";
    } catch {
      return "unreachable";
    }
  }

  /**
   * A route request from a node that thinks we own the slot. If our table says another node
   * does (theirs or ours is stale), forward once to that node rather than answering
   * "absent" for a slot we no longer hold.
   */
  private async routeRequest(req: Extract<PresenceRequest, { op: "route" }>): Promise<RouteResult> {
    const owner = this.ownerOf(req.uaid);
    if (owner === undefined || owner === this.d.self || req.fwd === 1) {
      return this.routeAsOwner(req.uaid, req.frame);
    }
    try {
      const r = await this.d.request(owner, { ...req, fwd: 1 });
      return r.d === 1 ? "delivered" : "absent";
    } catch {
      return "unreachable";
    }
  }

  /**
   * As slot owner: hand the frame to the holder we know. Every outcome but "delivered" is
   * remembered (`noteAbsent`): a new connection for this UAID may be announcing itself right
   * now (its old holder dead or gone), and it must flush what we could not deliver.
   */
  private async routeAsOwner(uaid: string, frame: string): Promise<RouteResult> {
    const r = await this.deliverAsOwner(uaid, frame);
    if (r !== "delivered") this.noteAbsent(uaid);
    return r;
  }

  private async deliverAsOwner(uaid: string, frame: string): Promise<RouteResult> {
    const h = this.owned.get(uaid);
    if (h === undefined) return "absent";
    if (h.node === this.d.self) {
      const s = this.local.get(uaid);
      return s !== undefined && this.d.send(s, frame) ? "delivered" : "absent";
    }
    try {
      const r = await this.d.request(h.node, { op: "deliver", uaid, frame });
      return r.d === 1 ? "delivered" : "absent";
    } catch {
      return "unreachable";
    }
  }
}
