/**
 * The embedded default store: everything in this process's memory. Mutations are applied
 * synchronously inside each call, so the order of calls is the order of effects (an ack
 * issued before a close is always applied before the close is handled).
 *
 * Memory matters here (one record per UAID, millions per node): a UAID with one channel
 * holds that channel as a plain string; a Set appears only from the second channel on.
 *
 * Inactivity expiry: `seen` maps each UAID to when it expires, in the order of last
 * activity (a touch deletes and re-inserts), so `sweep` finds every expired UAID at the
 * front and stops at the first live one.
 */
import type {
  AckUpdate,
  MessageStore,
  PendingUpdate,
  RegisterOutcome,
  SaveOutcome,
} from "./store.js";

interface Pending {
  channelID: string;
  version: bigint;
  stamp: string | undefined;
  expiresAt: number;
}

/** Registered channels of one UAID: none (""), one (its id) or several. */
type Channels = string | Set<string>;

export class MemoryStore implements MessageStore {
  private readonly users = new Map<string, Channels>();
  private readonly pendingByUser = new Map<string, Map<string, Pending>>();
  private readonly seen = new Map<string, number>();
  private readonly ttlMs: number;

  constructor(
    private readonly now: () => number = Date.now,
    options: { readonly uaidTtlSeconds?: number } = {},
  ) {
    this.ttlMs = (options.uaidTtlSeconds ?? 60 * 24 * 3600) * 1000;
  }

  /** UAID records held now. */
  get size(): number {
    return this.users.size;
  }

  private touch(uaid: string): void {
    this.seen.delete(uaid);
    this.seen.set(uaid, this.now() + this.ttlMs);
  }

  async hasUser(uaid: string): Promise<boolean> {
    if (!this.users.has(uaid)) return false;
    if (this.seen.get(uaid)! <= this.now()) {
      this.drop(uaid);
      return false;
    }
    this.touch(uaid);
    return true;
  }

  async addUser(uaid: string): Promise<void> {
    if (!this.users.has(uaid)) {
      this.users.set(uaid, "");
      this.pendingByUser.delete(uaid);
    }
    this.touch(uaid);
  }

  async dropUser(uaid: string): Promise<void> {
    this.drop(uaid);
  }

  private drop(uaid: string): void {
    this.users.delete(uaid);
    this.pendingByUser.delete(uaid);
    this.seen.delete(uaid);
  }

  async register(uaid: string, channel: string, maxChannels = Infinity): Promise<RegisterOutcome> {
    const c = this.users.get(uaid);
    if (c === undefined || c === "") this.users.set(uaid, channel);
    else if (typeof c === "string") {
      if (c !== channel) {
        if (maxChannels <= 1) return "full";
        this.users.set(uaid, new Set([c, channel]));
      }
    } else if (!c.has(channel)) {
      if (c.size >= maxChannels) return "full";
      c.add(channel);
    }
    this.touch(uaid);
    return "registered";
  }

  async unregister(uaid: string, channel: string): Promise<void> {
    const c = this.users.get(uaid);
    if (c === channel) this.users.set(uaid, "");
    else if (typeof c === "object") {
      c.delete(channel);
      if (c.size === 1) this.users.set(uaid, c.values().next().value!);
    }
    const p = this.pendingByUser.get(uaid);
    if (p?.delete(channel) && p.size === 0) this.pendingByUser.delete(uaid);
  }

  async channelCount(uaid: string): Promise<number> {
    const c = this.users.get(uaid);
    return c === undefined || c === "" ? 0 : typeof c === "string" ? 1 : c.size;
  }

  async savePending(
    uaid: string,
    channel: string,
    channelID: string,
    version: bigint,
    ttlSeconds: number,
    stamp?: string,
  ): Promise<SaveOutcome> {
    const c = this.users.get(uaid);
    if (c === undefined) return "gone";
    if (this.seen.get(uaid)! <= this.now()) {
      this.drop(uaid);
      return "gone";
    }
    if (!(c === channel || (typeof c === "object" && c.has(channel)))) return "unregistered";
    let p = this.pendingByUser.get(uaid);
    if (p === undefined) {
      p = new Map();
      this.pendingByUser.set(uaid, p);
    }
    p.set(channel, { channelID, version, stamp, expiresAt: this.now() + ttlSeconds * 1000 });
    return "stored";
  }

  async pending(uaid: string): Promise<PendingUpdate[]> {
    const p = this.pendingByUser.get(uaid);
    if (p === undefined) return [];
    const now = this.now();
    const out: PendingUpdate[] = [];
    for (const [channel, u] of p) {
      if (u.expiresAt <= now) p.delete(channel);
      else
        out.push(
          u.stamp === undefined
            ? { channelID: u.channelID, version: u.version }
            : { channelID: u.channelID, version: u.version, stamp: u.stamp },
        );
    }
    if (p.size === 0) this.pendingByUser.delete(uaid);
    return out;
  }

  async ack(uaid: string, updates: readonly AckUpdate[]): Promise<void> {
    const p = this.pendingByUser.get(uaid);
    if (p === undefined) return;
    for (const { channel, version } of updates) {
      const u = p.get(channel);
      if (u !== undefined && u.version <= version) p.delete(channel);
    }
    if (p.size === 0) this.pendingByUser.delete(uaid);
  }

  /**
   * Removes expired UAID records and expired pending updates, visiting at most `budget`
   * UAIDs of each per call so that a timer can call it without ever blocking the event
   * loop for long. Returns how many updates and records it removed.
   */
  sweep(budget: number): number {
    const now = this.now();
    let removed = 0;
    let visited = 0;
    for (const [uaid, expiresAt] of this.seen) {
      if (expiresAt > now || visited++ >= budget) break;
      this.drop(uaid);
      removed++;
    }
    // Maps iterate in insertion order; re-inserting a visited user moves it to the end, so
    // successive sweeps walk the whole map round-robin. The batch is taken up front so one
    // call never visits a UAID twice.
    const batch: [string, Map<string, Pending>][] = [];
    for (const entry of this.pendingByUser) {
      if (batch.length >= budget) break;
      batch.push(entry);
    }
    for (const [uaid, p] of batch) {
      for (const [channel, u] of p) {
        if (u.expiresAt <= now) {
          p.delete(channel);
          removed++;
        }
      }
      this.pendingByUser.delete(uaid);
      if (p.size > 0) this.pendingByUser.set(uaid, p);
    }
    return removed;
  }

  /** Registered (`stored`), UAID known but channel not (`unregistered`), or UAID unknown (`gone`). */
  registration(uaid: string, channel: string): "stored" | "unregistered" | "gone" {
    const c = this.users.get(uaid);
    if (c === undefined) return "gone";
    if (this.seen.get(uaid)! <= this.now()) {
      this.drop(uaid);
      return "gone";
    }
    return c === channel || (typeof c === "object" && c.has(channel)) ? "stored" : "unregistered";
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}
}
