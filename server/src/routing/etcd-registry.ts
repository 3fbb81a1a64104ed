/**
 * This node's view of its region in etcd: it registers its member record under a lease,
 * watches every member and the slot table, and (through `Coordinator`) campaigns to be the
 * region's coordinator.
 *
 * etcd being briefly unavailable never stops service: the last known members and table
 * stay in force; watches resume, a periodic resync repairs anything missed, and a lost
 * lease is re-granted and the record re-written when etcd returns.
 */
import { Etcd3, type Lease } from "etcd3";
import { type Member, parseMember, regionKeys } from "./members.js";
import { decodeOwners, type Owners } from "./slot-table.js";

export interface RegistryOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly region: string;
  readonly slots: number;
  readonly leaseTtlSeconds: number;
  /** How often the member record may be rewritten with a new connection count. */
  readonly refreshMs: number;
  readonly resyncMs: number;
}

export interface RegistryEvents {
  members(members: ReadonlyMap<string, Member>): void;
  owners(owners: Owners): void;
  error(op: string, err: unknown): void;
  /** The lease was (re-)granted: campaigns must restart under it. */
  lease(lease: Lease): void;
  /** The operator's state for this region changed (null: no state written). */
  regionState?(text: string | null): void;
}

export class EtcdRegistry {
  readonly client: Etcd3;
  readonly keys: ReturnType<typeof regionKeys>;
  private lease: Lease | undefined;
  /** This node's record; undefined for a balancer, which watches but never registers. */
  private record: Member | undefined;
  private written = "";
  private readonly memberMap = new Map<string, Member>();
  private owners: Owners = [];
  private timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(
    private readonly o: RegistryOptions,
    self: Member | undefined,
    private readonly on: RegistryEvents,
  ) {
    this.client = new Etcd3({ hosts: [...o.endpoints], dialTimeout: 2_000 });
    this.keys = regionKeys(o.prefix, o.region);
    this.record = self;
  }

  get members(): ReadonlyMap<string, Member> {
    return this.memberMap;
  }

  get currentOwners(): Owners {
    return this.owners;
  }

  get currentLease(): Lease | undefined {
    return this.lease;
  }

  async start(): Promise<void> {
    if (this.record !== undefined) await this.grant();
    await this.watch();
    await this.resync();
    this.timers.push(setInterval(() => void this.resync(), this.o.resyncMs));
    if (this.record !== undefined) {
      this.timers.push(setInterval(() => void this.writeRecord(), this.o.refreshMs));
    }
    for (const t of this.timers) t.unref();
  }

  /** Updates this node's record; written at most every `refreshMs` (draining at once). */
  update(patch: Partial<Pick<Member, "connections" | "draining">>): void {
    if (this.record === undefined) return;
    const urgent = patch.draining !== undefined && patch.draining !== this.record.draining;
    this.record = { ...this.record, ...patch };
    if (urgent) void this.writeRecord();
  }

  private async grant(): Promise<void> {
    const lease = this.client.lease(this.o.leaseTtlSeconds, { autoKeepAlive: true });
    lease.on("lost", (err) => {
      // Only the lease we hold. A grant that fails emits `lost` too; its caller retries it,
      // and retrying here as well made every failed attempt start two more, unpaced.
      if (this.closed || this.lease !== lease) return;
      this.on.error("lease_lost", err);
      this.lease = undefined;
      this.written = "";
      // Re-grant when etcd answers again; the retry is paced by a timer, never a tight loop.
      const retry = () => {
        if (this.closed) return;
        this.grant().catch((e) => {
          this.on.error("lease_grant", e);
          setTimeout(retry, 1_000).unref();
        });
      };
      retry();
    });
    await lease.grant();
    if (this.closed) {
      lease.release();
      return;
    }
    this.lease = lease;
    this.written = "";
    await this.writeRecord();
    this.on.lease(lease);
  }

  private async writeRecord(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || this.record === undefined || this.closed) return;
    const record = { ...this.record, updatedAt: Date.now() };
    const key = JSON.stringify({ ...record, updatedAt: 0 });
    if (key === this.written) return;
    try {
      await lease.put(this.keys.member(record.nodeId)).value(JSON.stringify(record));
      this.written = key;
    } catch (err) {
      this.on.error("member_put", err);
    }
  }

  private async watch(): Promise<void> {
    const w = await this.client.watch().prefix(this.keys.members).create();
    w.on("put", (kv) => {
      const m = parseMember(kv.value.toString());
      if (m) {
        this.memberMap.set(m.nodeId, m);
        this.on.members(this.memberMap);
      }
    });
    w.on("delete", (kv) => {
      const id = kv.key.toString().slice(this.keys.members.length);
      if (this.memberMap.delete(id)) this.on.members(this.memberMap);
    });
    w.on("error", (err) => this.on.error("watch_members", err));
    const r = await this.client.watch().key(this.keys.regionState).create();
    r.on("put", (kv) => this.on.regionState?.(kv.value.toString()));
    r.on("delete", () => this.on.regionState?.(null));
    r.on("error", (err) => this.on.error("watch_region_state", err));
    const s = await this.client.watch().key(this.keys.slots).create();
    s.on("put", (kv) => this.setOwners(kv.value.toString()));
    s.on("error", (err) => this.on.error("watch_slots", err));
  }

  private setOwners(text: string): void {
    const owners = decodeOwners(text, this.o.slots);
    if (owners === undefined) {
      this.on.error("slots_decode", new Error("malformed slot table in etcd"));
      return;
    }
    if (owners.length === this.owners.length && owners.every((o, i) => o === this.owners[i]))
      return;
    this.owners = owners;
    this.on.owners(owners);
  }

  /** Re-reads members and the table: repairs anything a watch missed while etcd was away. */
  private async resync(): Promise<void> {
    if (this.closed) return;
    try {
      const all = await this.client.getAll().prefix(this.keys.members).strings();
      const next = new Map<string, Member>();
      for (const v of Object.values(all)) {
        const m = parseMember(v);
        if (m) next.set(m.nodeId, m);
      }
      const changed =
        next.size !== this.memberMap.size ||
        [...next].some(([id, m]) => JSON.stringify(this.memberMap.get(id)) !== JSON.stringify(m));
      if (changed) {
        this.memberMap.clear();
        for (const [id, m] of next) this.memberMap.set(id, m);
        this.on.members(this.memberMap);
      }
      this.on.regionState?.(await this.client.get(this.keys.regionState).string());
      const slots = await this.client.get(this.keys.slots).string();
      if (slots !== null) this.setOwners(slots);
      if (this.lease === undefined || this.record === undefined) return;
      if (!next.has(this.record.nodeId)) {
        this.written = "";
        await this.writeRecord();
      }
    } catch (err) {
      this.on.error("resync", err);
    }
  }

  /** Removes this node's record at once (graceful exit) and closes the client. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    try {
      await this.lease?.revoke();
    } catch {
      // etcd unreachable: the lease expires by itself within its TTL.
    }
    this.client.close();
  }
}
