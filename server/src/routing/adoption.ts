/**
 * This node's view of the other regions (docs/multi-region.md): their records in this
 * region's etcd (`<prefix>/regions/`, written by the operator), and a store client on each
 * one's replica. A region's replica is read to recognise its UAIDs; once the operator has
 * promoted it and marked the region `failed` and `adoptedBy` this region, it is the store
 * this node serves that region's UAIDs and endpoint tokens from.
 *
 * Watched, plus a periodic resync that repairs anything a watch missed and retries stores
 * that could not be opened.
 */
import { Etcd3, type Watcher } from "etcd3";
import type { Logger } from "../log.js";
import type { RedisStore } from "../storage/redis-store.js";
import { parseRegionRecord, type RegionRecord } from "./region-records.js";

export interface AdoptionOptions {
  /** This node's region. */
  readonly region: string;
  readonly etcdEndpoints: readonly string[];
  readonly etcdPrefix: string;
  readonly log: Logger;
  /** Opens the store client on a region's replica (same key prefix and durability as ours). */
  readonly openStore: (url: string) => Promise<RedisStore>;
  /** A region this node adopted is home again: its clients should go back, at a bounded rate. */
  readonly handedBack: (region: string) => void;
  readonly resyncMs?: number;
}

export class Adoption {
  private readonly records = new Map<string, RegionRecord>();
  /** This region's own record: while it is adopted elsewhere, its PUTs go there. */
  private own: RegionRecord | undefined;
  /** Open store clients by replica URL. */
  private readonly stores = new Map<string, RedisStore>();
  private readonly opening = new Set<string>();
  private readonly client: Etcd3;
  private readonly root: string;
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: AdoptionOptions) {
    this.client = new Etcd3({ hosts: [...o.etcdEndpoints], dialTimeout: 2_000 });
    this.root = `${o.etcdPrefix.replace(/\/+$/, "")}/regions/`;
  }

  /** Starts watching; never waits for etcd (the node starts whether etcd answers or not). */
  start(): void {
    this.timer = setInterval(() => void this.resync(), this.o.resyncMs ?? 2_000);
    this.timer.unref();
    void this.watch();
  }

  private async watch(): Promise<void> {
    try {
      const w = await this.client.watch().prefix(this.root).create();
      w.on("put", (kv) => this.apply(kv.key.toString(), kv.value.toString()));
      w.on("delete", (kv) => this.apply(kv.key.toString(), null));
      w.on("error", (err) =>
        this.o.log.warn({ event: "cluster_error", op: "watch_regions", err: String(err) }, "etcd"),
      );
      this.watcher = w;
    } catch (err) {
      this.o.log.warn({ event: "cluster_error", op: "watch_regions", err: String(err) }, "etcd");
    }
    if (this.closed) await this.watcher?.cancel().catch(() => {});
    else await this.resync();
  }

  /** Whether `region`'s UAIDs and tokens are served here now. */
  adopted(region: string): boolean {
    const r = this.records.get(region);
    return r?.state === "failed" && r.adoptedBy === this.o.region && r.replicaUrl !== undefined;
  }

  /** The promoted store of a region adopted here (undefined if not adopted or not open yet). */
  adoptedStore(region: string): RedisStore | undefined {
    if (!this.adopted(region)) return undefined;
    return this.stores.get(this.records.get(region)!.replicaUrl!);
  }

  /**
   * While this region is failed and adopted by another, its data is served there (ours is
   * stale until the hand-back): the adopter's public base URL ("" when unknown).
   */
  adoptedElsewhere(): string | undefined {
    const by = this.own?.state === "failed" ? this.own.adoptedBy : undefined;
    return by === undefined ? undefined : (this.records.get(by)?.endpoint ?? "");
  }

  /**
   * Where PUTs for `region`'s tokens go: its public base URL, or while it is failed and
   * adopted by a third region, that region's.
   */
  endpointOf(region: string): string | undefined {
    const r = this.records.get(region);
    const by = r?.state === "failed" ? r.adoptedBy : undefined;
    if (by !== undefined && by !== this.o.region) return this.records.get(by)?.endpoint;
    return r?.endpoint;
  }

  /**
   * The other region whose data holds `uaid`, read from each region's replica (in
   * parallel; an unreachable replica counts as not holding it).
   */
  async locate(uaid: string): Promise<string | undefined> {
    const candidates = [...this.records.entries()].filter(
      ([name, r]) => name !== this.o.region && r.replicaUrl !== undefined,
    );
    const found = await Promise.all(
      candidates.map(async ([name, r]) => {
        const s = this.stores.get(r.replicaUrl!);
        return s !== undefined && (await s.knows(uaid).catch(() => false)) ? name : undefined;
      }),
    );
    return found.find((x) => x !== undefined);
  }

  private apply(key: string, text: string | null): void {
    if (!key.startsWith(this.root)) return;
    const region = key.slice(this.root.length);
    if (region.includes("/")) return;
    if (region === this.o.region) {
      this.own = parseRegionRecord(text);
      return;
    }
    const wasAdopted = this.adopted(region);
    const rec = parseRegionRecord(text);
    if (rec === undefined) this.records.delete(region);
    else this.records.set(region, rec);
    const isAdopted = this.adopted(region);
    if (wasAdopted !== isAdopted)
      this.o.log.info(
        { event: isAdopted ? "region_adopted" : "region_handed_back", region },
        isAdopted ? "serving a failed region's clients" : "a region adopted here is home again",
      );
    if (wasAdopted && !isAdopted) this.o.handedBack(region);
    if (rec?.replicaUrl !== undefined) this.ensureStore(rec.replicaUrl);
  }

  private ensureStore(url: string): void {
    if (this.closed || this.stores.has(url) || this.opening.has(url)) return;
    this.opening.add(url);
    this.o.openStore(url).then(
      (s) => {
        this.opening.delete(url);
        if (this.closed) void s.close();
        else this.stores.set(url, s);
      },
      (err) => {
        this.opening.delete(url);
        this.o.log.warn(
          { event: "replica_unreachable", err: String(err) },
          "cannot open another region's replica (retried)",
        );
      },
    );
  }

  private async resync(): Promise<void> {
    if (this.closed) return;
    try {
      const all = await this.client.getAll().prefix(this.root).strings();
      const seen = new Set<string>();
      for (const [k, v] of Object.entries(all)) {
        seen.add(k.slice(this.root.length));
        this.apply(k, v);
      }
      for (const region of [...this.records.keys()])
        if (!seen.has(region)) this.apply(this.root + region, null);
      if (!seen.has(this.o.region)) this.own = undefined;
    } catch (err) {
      this.o.log.warn({ event: "cluster_error", op: "resync_regions", err: String(err) }, "etcd");
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.watcher?.cancel().catch(() => {});
    this.client.close();
    await Promise.all([...this.stores.values()].map((s) => s.close()));
    this.stores.clear();
  }
}

/**
 * Closes `sockets` matching `pick` at `perSecond` (the drain rate), so clients handed back
 * to their home region reconnect as a bounded stream, not a storm. Bounded in time: at
 * most `deadlineMs`, then whatever is left is closed at once.
 */
export async function closeAtRate<S>(
  sockets: () => Iterable<S>,
  pick: (s: S) => boolean,
  close: (s: S) => void,
  perSecond: number,
  deadlineMs: number,
): Promise<number> {
  const tickMs = 100;
  const started = Date.now();
  let closed = 0;
  // A socket stays listed until its close event: never closed twice.
  const done = new Set<S>();
  for (;;) {
    const budget = Math.ceil(((Date.now() - started + tickMs) * perSecond) / 1000) - closed;
    const batch: S[] = [];
    for (const s of sockets()) {
      if (batch.length >= budget) break;
      if (!done.has(s) && pick(s)) batch.push(s);
    }
    for (const s of batch) {
      done.add(s);
      close(s);
    }
    closed += batch.length;
    if (batch.length === 0 && budget > 0) return closed;
    if (Date.now() - started > deadlineMs) {
      const rest = [...sockets()].filter((s) => !done.has(s) && pick(s));
      for (const s of rest) close(s);
      return closed + rest.length;
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
}
