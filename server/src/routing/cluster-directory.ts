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
 *
 * A node in the table may not be reachable yet (its router's DNS name is not served yet, a
 * connection is refused) or any more. A route that failed, and a nudge, forwarded nudge or
 * flush request that failed, is kept as a miss to *retry*: sent again on every `retry()`
 * tick until it goes through or the miss ages out. Otherwise a PUT stored while the owner
 * could not be reached stayed unread until the client reconnected, although its socket
 * was open all along.
 *
 * A node that gains slots knows no claim in them, and a holder re-announces only when its
 * own table moves the slot: one that applied the tables in another order, or skipped the
 * one in which the slot left this node for a while, never would. So a node that gains
 * slots asks every member to *reclaim*: announce again each claim its table says this
 * node owns (as when an owner restarted). A member it could not reach is asked again on
 * the next `retry()`.
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
  { op: "announce" | "withdraw" | "evict" | "nudge" | "flush" | "reclaim" }
>;

export interface ClusterDirectoryDeps {
  readonly self: string;
  readonly slots: number;
  /** Keys the slot hash (the cluster secret): clients cannot choose their slot. */
  readonly slotKey: string;
  /** Sends a request to a node; rejects when it is unreachable or overloaded. */
  readonly request: (node: string, req: RouterRequest) => Promise<PresenceReply>;
  readonly onError: (op: string, err: unknown) => void;
  /** The other members' ids now (asked to reclaim when this node gains slots). */
  readonly peers: () => Iterable<string>;
  /** This node's clock (ms), only to age its own `misses`. */
  readonly now?: () => number;
}

const MAX_RETRIES_PER_TICK = 5_000;
/** UAIDs a PUT may have missed, kept for the next routing change: bounded and aged. */
const MAX_MISSES = 10_000;
const MISS_MS = 60_000;

/** The first `n` entries of `m` (insertion order), without copying the rest. */
function* take<K, V>(m: Map<K, V>, n: number): Generator<[K, V]> {
  if (n <= 0) return;
  for (const e of m) {
    yield e;
    if (--n === 0) return;
  }
}

export class ClusterDirectory implements Directory {
  private readonly claims = new Map<string, number>();
  /** Local claims the current owner has not confirmed; an announcement may be in flight. */
  private readonly unannounced = new Set<string>();
  private readonly owned = new Map<string, Holder>();
  private owners: Owners = [];
  private events: DirectoryEvents | undefined;
  /** `retry`: the nudge failed to go through (or the route could not reach the owner). */
  private readonly misses = new Map<
    string,
    { owner: string | undefined; at: number; retry: boolean }
  >();
  private readonly now: () => number;
  /**
   * Evictions that did not reach the older holder, retried on every tick: until the older
   * socket is closed, PUTs that reach its node are delivered to it, not to the newer one.
   */
  private readonly evicts = new Map<string, Holder & { uaid: string; at: number }>();
  /** Members still to be asked to reclaim (the request failed): retried on every tick. */
  private readonly reclaimFrom = new Set<string>();

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

  /** Retries unconfirmed announcements and nudges that failed (bounded per call). */
  retry(): void {
    let n = 0;
    for (const uaid of [...this.unannounced]) {
      if (n++ >= MAX_RETRIES_PER_TICK) break;
      const since = this.claims.get(uaid);
      if (since === undefined) this.unannounced.delete(uaid);
      else this.send(uaid, since);
    }
    this.askReclaim();
    const old = this.now() - MISS_MS;
    if (this.evicts.size > 0) {
      const peers = new Set(this.d.peers());
      const due = [...take(this.evicts, MAX_RETRIES_PER_TICK)];
      for (const [key, e] of due) {
        this.evicts.delete(key);
        // A node that left the region took its sockets with it: nothing to close there.
        if (e.at >= old && peers.has(e.node)) this.sendEvict(e.uaid, e, e.at);
      }
    }
    const due: [string, number][] = [];
    for (const [uaid, m] of this.misses) {
      if (due.length >= MAX_RETRIES_PER_TICK) break;
      if (m.at < old) this.misses.delete(uaid);
      else if (m.retry) due.push([uaid, m.at]);
    }
    for (const [uaid, at] of due) {
      this.misses.delete(uaid);
      this.nudge(uaid, at);
    }
  }

  /** Asks each member in `reclaimFrom` to re-announce its claims in this node's slots. */
  private askReclaim(): void {
    const req: DirectoryRequest = { op: "reclaim", node: this.d.self };
    for (const node of [...this.reclaimFrom]) {
      this.reclaimFrom.delete(node);
      this.d.request(node, req).catch((err) => {
        this.d.onError("reclaim", err);
        // Still a member: ask again on the next tick (a member that left is not).
        if (this.isPeer(node)) this.reclaimFrom.add(node);
      });
    }
  }

  private isPeer(node: string): boolean {
    for (const p of this.d.peers()) if (p === node) return true;
    return false;
  }

  /** Misses kept for a retry or a routing change. */
  get missesSize(): number {
    return this.misses.size;
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
    if (next.some((o, slot) => o === self && prev[slot] !== self)) {
      for (const node of this.d.peers()) if (node !== self) this.reclaimFrom.add(node);
      this.askReclaim();
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
        this.nudge(uaid, m.at);
      }
    }
  }

  /**
   * A PUT for `uaid` did not reach a socket, as `owner` (in this node's table when asked)
   * answered (`unreachable` false) or failed to. If the table names another owner already,
   * nudge it now; else remember it until the table moves or that owner restarts, and, when
   * the owner could not be reached, retry the nudge on every tick meanwhile.
   */
  missed(uaid: string, owner: string | undefined, unreachable = false): void {
    if (this.ownerOf(uaid) !== owner) {
      this.nudge(uaid);
      return;
    }
    // A miss to retry stays one: a later "absent" for the same UAID does not cancel it.
    const retry = unreachable || this.misses.get(uaid)?.retry === true;
    setBounded(this.misses, uaid, { owner, at: this.now(), retry }, MAX_MISSES);
  }

  /**
   * A nudge or flush (first seen `at`) did not go through to `node`: keep it for the next
   * tick, unless aged. If `node` left the region, nothing is retried towards it: a flush
   * is dropped (the holder's sockets went with it; their clients' hellos flush), a nudge
   * waits for the table that moves the dead owner's slots.
   */
  private failed(op: string, uaid: string, at: number, node: string, err: unknown): void {
    this.d.onError(op, err);
    if (at < this.now() - MISS_MS) return;
    const retry = this.isPeer(node);
    if (!retry && op === "flush") return;
    setBounded(this.misses, uaid, { owner: this.ownerOf(uaid), at, retry }, MAX_MISSES);
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
      this.nudge(uaid, m.at);
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
        const at = this.now();
        if (h === undefined) {
          const owner = this.ownerOf(req.uaid);
          if (owner !== undefined && owner !== this.d.self && req.fwd !== 1) {
            this.d
              .request(owner, { op: "nudge", uaid: req.uaid, fwd: 1 })
              .catch((err) => this.failed("nudge", req.uaid, at, owner, err));
          } else {
            // Ours (or so we think) and no holder known: its announcement, if still to
            // come, flushes anyway; if our table is stale, the next one forwards this.
            this.missed(req.uaid, owner);
          }
          return {};
        }
        const flush: DirectoryRequest = { op: "flush", uaid: req.uaid, since: h.since };
        if (h.node === this.d.self) this.handle(flush);
        else
          this.d
            .request(h.node, flush)
            .catch((err) => this.failed("flush", req.uaid, at, h.node, err));
        return {};
      }
      case "flush": {
        if (this.claims.get(req.uaid) === req.since) this.events?.confirmed(req.uaid, req.since);
        return {};
      }
      case "reclaim":
        // `node` gained slots and knows no claim in them: as if it had restarted.
        this.ownerRestarted(req.node);
        return {};
    }
  }

  /**
   * Tells the owner of `uaid` that a PUT for it may have missed its socket (first seen `at`;
   * a nudge that fails is retried until it is older than MISS_MS).
   */
  nudge(uaid: string, at = this.now()): void {
    const owner = this.ownerOf(uaid);
    if (owner === undefined) {
      // No table yet: the first one nudges it (setOwners).
      setBounded(this.misses, uaid, { owner, at, retry: false }, MAX_MISSES);
      return;
    }
    const req: DirectoryRequest = { op: "nudge", uaid };
    if (owner === this.d.self) this.handle(req);
    else this.d.request(owner, req).catch((err) => this.failed("nudge", uaid, at, owner, err));
  }

  private sendEvict(uaid: string, h: Holder, at = this.now()): void {
    const req: DirectoryRequest = { op: "evict", uaid, since: h.since };
    if (h.node === this.d.self) {
      this.handle(req);
      return;
    }
    this.d.request(h.node, req).catch((err) => {
      this.d.onError("evict", err);
      const e = { uaid, node: h.node, since: h.since, at };
      setBounded(this.evicts, `${h.node} ${uaid}`, e, MAX_MISSES);
    });
  }
}
