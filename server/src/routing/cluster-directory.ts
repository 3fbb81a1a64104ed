/**
 * The cluster directory (see directory.ts for the contract): socket-free.
 *
 * - Holder side: `claims`, `uaid → since` for the sockets on this node, and which of them
 *   the current owner has not confirmed yet (`unannounced`, retried on a timer and on every
 *   slot table change).
 * - Owner side: for the UAIDs in slots this node owns, `uaid → (node, since)`: who holds the
 *   newest connection. Kept in memory only; rebuilt by re-announcement when slots move.
 *
 * The owner keeps the newest claim (largest `since`) and tells the holder of an older one to
 * close it. That comparison of two holders' `since` is the only place clocks of two nodes
 * meet, and a skew there only picks which of two near-simultaneous connections survives.
 * No-loss does not depend on clocks: the holder flushes once the owner has confirmed (the
 * owner answered every earlier route "absent" after its update was stored), and a socket
 * is never sent the same stored update twice (stamps, delivery/connections.ts).
 *
 * Answers from the wrong node: a route answered "absent" by a node whose slot table was
 * stale, one that failed at a dead owner, a PUT delivered to a socket that a newer one
 * elsewhere then replaced — each may come after the holder's flush read the store. The
 * node that saw it remembers the UAID with the owner it asked (`misses`, bounded, aged by
 * this node's own clock) and, once its table names another owner (or that owner
 * restarted), *nudges* the owner: the owner asks its holder to read the store again, or
 * forwards the nudge once to the owner its own table names, or — owning the slot and
 * knowing no holder — remembers it as a miss of its own for its next table change.
 */

import { setBounded } from "../bounded-map.js";
import type { Directory, DirectoryEvents } from "./directory.js";
import type { PresenceReply, RouterRequest } from "./router-messages.js";
import { type Owners, slotOf } from "./slot-table.js";

export interface Holder {
  readonly node: string;
  readonly since: number;
}

type DirectoryRequest = Extract<
  RouterRequest,
  { op: "announce" | "withdraw" | "evict" | "nudge" | "flush" }
>;

export interface ClusterDirectoryDeps {
  readonly self: string;
  readonly slots: number;
  /** Keys the slot hash (the cluster secret): clients cannot choose their slot. */
  readonly slotKey: string;
  /** Sends a request to a node; rejects when it is unreachable or overloaded. */
  readonly request: (node: string, req: RouterRequest) => Promise<PresenceReply>;
  readonly onError: (op: string, err: unknown) => void;
  /** This node's clock (ms), only to age its own `misses`. */
  readonly now?: () => number;
}

const MAX_RETRIES_PER_TICK = 5_000;
/** UAIDs a PUT may have missed, kept for the next routing change: bounded and aged. */
const MAX_MISSES = 10_000;
const MISS_MS = 60_000;

export class ClusterDirectory implements Directory {
  private readonly claims = new Map<string, number>();
  /** Local claims the current owner has not confirmed; an announcement may be in flight. */
  private readonly unannounced = new Set<string>();
  private readonly owned = new Map<string, Holder>();
  private owners: Owners = [];
  private events: DirectoryEvents | undefined;
  private readonly misses = new Map<string, { owner: string | undefined; at: number }>();
  private readonly now: () => number;

  constructor(private readonly d: ClusterDirectoryDeps) {
    this.now = d.now ?? Date.now;
  }

  listen(events: DirectoryEvents): void {
    this.events = events;
  }

  /** Entries this node keeps as slot owner. */
  get ownedSize(): number {
    return this.owned.size;
  }

  /** Local claims not yet confirmed by their owner. */
  get unconfirmedSize(): number {
    return this.unannounced.size;
  }

  ownerOf(uaid: string): string | undefined {
    return this.owners[slotOf(uaid, this.d.slots, this.d.slotKey)];
  }

  /** As slot owner: the newest holder of `uaid` this node knows. */
  holderOf(uaid: string): Holder | undefined {
    return this.owned.get(uaid);
  }

  announce(uaid: string, since: number): void {
    this.claims.set(uaid, since);
    this.send(uaid, since);
  }

  withdraw(uaid: string, since: number): void {
    if (this.claims.get(uaid) !== since) return;
    this.claims.delete(uaid);
    this.unannounced.delete(uaid);
    const owner = this.ownerOf(uaid);
    if (owner === undefined) return;
    const req: DirectoryRequest = { op: "withdraw", uaid, node: this.d.self, since };
    if (owner === this.d.self) this.handle(req);
    else this.d.request(owner, req).catch(() => {}); // the owner forgets it when its table moves anyway
  }

  /** Tells the current owner about the claim; `confirmed` follows its answer. */
  private send(uaid: string, since: number): void {
    this.unannounced.add(uaid);
    const owner = this.ownerOf(uaid);
    if (owner === undefined) return; // no table yet: `setOwners` announces it
    const req: DirectoryRequest = { op: "announce", uaid, node: this.d.self, since };
    if (owner === this.d.self) {
      this.handle(req);
      this.confirm(uaid, since, owner);
      return;
    }
    this.d.request(owner, req).then(
      () => this.confirm(uaid, since, owner),
      () => {}, // stays unannounced: retried
    );
  }

  /** `owner` recorded the claim: if it is still ours and still the owner, flush. */
  private confirm(uaid: string, since: number, owner: string): void {
    if (this.claims.get(uaid) !== since || this.ownerOf(uaid) !== owner) return;
    this.unannounced.delete(uaid);
    this.events?.confirmed(uaid, since);
  }

  /** Retries unconfirmed announcements (bounded per call). */
  retry(): void {
    let n = 0;
    for (const uaid of [...this.unannounced]) {
      if (n++ >= MAX_RETRIES_PER_TICK) break;
      const since = this.claims.get(uaid);
      if (since === undefined) this.unannounced.delete(uaid);
      else this.send(uaid, since);
    }
  }

  /**
   * A new slot table: forget owned entries of slots this node lost, and re-announce local
   * claims whose slot changed owner (and every unconfirmed one). Each is flushed once its
   * new owner confirms: while the slot was between owners, PUTs for it were answered 202
   * and stored, and the socket stays open, so no hello would ever flush them.
   */
  setOwners(next: Owners): void {
    const prev = this.owners;
    this.owners = next;
    const { self, slots, slotKey } = this.d;
    for (const uaid of this.owned.keys()) {
      if (next[slotOf(uaid, slots, slotKey)] !== self) this.owned.delete(uaid);
    }
    for (const [uaid, since] of this.claims) {
      const slot = slotOf(uaid, slots, slotKey);
      if (prev[slot] !== next[slot] || this.unannounced.has(uaid)) this.send(uaid, since);
    }
    const old = this.now() - MISS_MS;
    for (const [uaid, m] of this.misses) {
      if (m.at < old) this.misses.delete(uaid);
      else if (this.ownerOf(uaid) !== m.owner) {
        this.misses.delete(uaid);
        this.nudge(uaid);
      }
    }
  }

  /**
   * A PUT for `uaid` did not reach a socket, as `owner` (in this node's table when asked)
   * answered or failed to. If the table names another owner already, nudge it now; else
   * remember it until the table moves or that owner restarts.
   */
  missed(uaid: string, owner: string | undefined): void {
    if (this.ownerOf(uaid) !== owner) {
      this.nudge(uaid);
      return;
    }
    setBounded(this.misses, uaid, { owner, at: this.now() }, MAX_MISSES);
  }

  /**
   * `node` restarted under the same id: the presence it owned was in its memory and is
   * gone, and the slot table may not have changed at all. Re-announce each local claim it
   * owns (and flush it once confirmed).
   */
  ownerRestarted(node: string): void {
    if (node === this.d.self) return;
    for (const [uaid, since] of this.claims) {
      if (this.ownerOf(uaid) === node) this.send(uaid, since);
    }
    for (const [uaid, m] of this.misses) {
      if (m.owner !== node) continue;
      this.misses.delete(uaid);
      this.nudge(uaid);
    }
  }

  /** A directory request from another node (or from this one, for slots it owns). */
  handle(req: DirectoryRequest): PresenceReply {
    switch (req.op) {
      case "announce": {
        const cur = this.owned.get(req.uaid);
        if (cur === undefined || cur.since <= req.since) {
          this.owned.set(req.uaid, { node: req.node, since: req.since });
          if (cur !== undefined && (cur.node !== req.node || cur.since !== req.since))
            this.sendEvict(req.uaid, cur);
        } else {
          // The announcement is older than what we hold (a late re-announce): it loses.
          this.sendEvict(req.uaid, { node: req.node, since: req.since });
        }
        return {};
      }
      case "withdraw": {
        const cur = this.owned.get(req.uaid);
        if (cur !== undefined && cur.node === req.node && cur.since === req.since)
          this.owned.delete(req.uaid);
        return {};
      }
      case "evict": {
        const since = this.claims.get(req.uaid);
        if (since === undefined || since > req.since) return {};
        this.events?.evicted(req.uaid, since);
        // PUTs delivered here (local, or by a holder cache) after the newer socket read the
        // store went to the socket just closed: have the newer one read it again.
        this.nudge(req.uaid);
        return {};
      }
      case "nudge": {
        // A PUT for this UAID may have missed its socket: have the holder read the store again.
        const h = this.owned.get(req.uaid);
        if (h === undefined) {
          const owner = this.ownerOf(req.uaid);
          if (owner !== undefined && owner !== this.d.self && req.fwd !== 1) {
            this.d
              .request(owner, { op: "nudge", uaid: req.uaid, fwd: 1 })
              .catch((err) => this.d.onError("nudge", err));
          } else {
            // Ours (or so we think) and no holder known: its announcement, if still to
            // come, flushes anyway; if our table is stale, the next one forwards this.
            this.missed(req.uaid, owner);
          }
          return {};
        }
        const flush: DirectoryRequest = { op: "flush", uaid: req.uaid, since: h.since };
        if (h.node === this.d.self) this.handle(flush);
        else this.d.request(h.node, flush).catch((err) => this.d.onError("flush", err));
        return {};
      }
      case "flush": {
        if (this.claims.get(req.uaid) === req.since) this.events?.confirmed(req.uaid, req.since);
        return {};
      }
    }
  }

  /** Tells the owner of `uaid` that a PUT for it may have missed its socket. */
  nudge(uaid: string): void {
    const owner = this.ownerOf(uaid);
    if (owner === undefined) return;
    const req: DirectoryRequest = { op: "nudge", uaid };
    if (owner === this.d.self) this.handle(req);
    else this.d.request(owner, req).catch((err) => this.d.onError("nudge", err));
  }

  private sendEvict(uaid: string, h: Holder): void {
    const req: DirectoryRequest = { op: "evict", uaid, since: h.since };
    if (h.node === this.d.self) this.handle(req);
    else this.d.request(h.node, req).catch((err) => this.d.onError("evict", err));
  }
}
