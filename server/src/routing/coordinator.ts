/**
 * The region's coordinator: one node at a time, elected through etcd (a key created under
 * the candidate's lease, so it vanishes with its holder), rewrites the slot table when
 * members join, leave or drain. Every candidate computes the same deterministic table;
 * the write is a transaction on the table's revision, so a deposed leader cannot
 * overwrite a newer table.
 */
import type { Etcd3, Lease } from "etcd3";
import type { Member } from "./members.js";
import { decodeOwners, encodeOwners, moved, type Owners, rebalance } from "./slot-table.js";

export interface CoordinatorDeps {
  readonly client: Etcd3;
  readonly keys: { readonly slots: string; readonly coordinator: string };
  readonly self: string;
  readonly slots: number;
  readonly members: () => ReadonlyMap<string, Member>;
  readonly onElected: () => void;
  readonly onTableWritten: (moved: number) => void;
  readonly onError: (op: string, err: unknown) => void;
}

const DEBOUNCE_MS = 100;

export class Coordinator {
  private leader = false;
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private watching = false;
  private closed = false;

  constructor(private readonly d: CoordinatorDeps) {}

  get isLeader(): boolean {
    return this.leader;
  }

  /** (Re)starts campaigning under `lease` (called whenever the lease is granted anew). */
  async campaign(lease: Lease): Promise<void> {
    this.lease = lease;
    this.leader = false;
    if (!this.watching) {
      this.watching = true;
      const w = await this.d.client.watch().key(this.d.keys.coordinator).create();
      w.on("delete", () => void this.tryLead());
      w.on("error", (err) => this.d.onError("watch_coordinator", err));
    }
    await this.tryLead();
  }

  private async tryLead(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || this.closed) return;
    try {
      const r = await this.d.client
        .if(this.d.keys.coordinator, "Create", "==", 0)
        .then(lease.put(this.d.keys.coordinator).value(this.d.self))
        .else(this.d.client.get(this.d.keys.coordinator))
        .commit();
      // Leader only under the lease we campaign with: after etcd comes back, the key may
      // still name us under a lease we lost; it vanishes with that lease and another node
      // may win then, so believing it would make two coordinators.
      const kv = r.responses[0]?.response_range?.kvs[0];
      const mine =
        r.succeeded || (kv?.value.toString() === this.d.self && kv.lease === (await lease.grant()));
      const was = this.leader;
      this.leader = mine && this.lease === lease;
      if (this.leader && !was) {
        this.d.onElected();
        this.schedule();
      }
    } catch (err) {
      this.d.onError("campaign", err);
    }
  }

  /** Members or table changed: if leader, recompute the table soon (debounced). */
  schedule(): void {
    if (!this.leader || this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.rebalanceNow();
    }, DEBOUNCE_MS);
  }

  private async rebalanceNow(): Promise<void> {
    const { client, keys } = this.d;
    try {
      const cur = await client.get(keys.slots).exec();
      const kv = cur.kvs[0];
      const prev: Owners | undefined = kv
        ? decodeOwners(kv.value.toString(), this.d.slots)
        : undefined;
      const members = [...this.d.members().values()].map((m) => ({
        id: m.nodeId,
        capacity: m.capacity,
        draining: m.draining,
      }));
      if (members.length === 0) return;
      const next = rebalance(prev, members, this.d.slots);
      const n = moved(prev, next);
      if (n === 0 && prev?.length === this.d.slots) return;
      const r = await client
        .if(keys.slots, "Mod", "==", kv ? kv.mod_revision : 0)
        .then(client.put(keys.slots).value(encodeOwners(next)))
        .commit();
      if (r.succeeded) this.d.onTableWritten(n);
      else this.schedule(); // someone wrote in between: recompute from theirs
    } catch (err) {
      this.d.onError("rebalance", err);
      // Try again later; etcd may be briefly away.
      if (!this.closed) setTimeout(() => this.schedule(), 1_000).unref();
    }
  }

  /** Our lease was lost: whatever we held is gone with it. */
  demote(): void {
    this.leader = false;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
