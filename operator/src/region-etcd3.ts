/** RegionEtcd over the etcd3 client: one client per endpoint list, every call time-bounded. */
import { Etcd3 } from "etcd3";
import type { RegionStateRecord } from "./failover.js";
import {
  type EtcdTarget,
  type MemberRecord,
  membersPrefix,
  parseMember,
  type RegionEtcd,
  regionStateKey,
} from "./region-etcd.js";

export class Etcd3RegionEtcd implements RegionEtcd {
  private readonly clients = new Map<string, Etcd3>();

  constructor(private readonly timeoutMs = 3000) {}

  private client(t: EtcdTarget): Etcd3 {
    const id = t.endpoints.join(",");
    let c = this.clients.get(id);
    if (!c) {
      c = new Etcd3({
        hosts: [...t.endpoints],
        dialTimeout: this.timeoutMs,
        defaultCallOptions: () => ({ deadline: Date.now() + this.timeoutMs }),
      });
      this.clients.set(id, c);
    }
    return c;
  }

  private bounded<T>(what: string, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`etcd ${what}: no answer in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  async members(t: EtcdTarget, region: string): Promise<MemberRecord[]> {
    const all = await this.bounded(
      "members",
      this.client(t).getAll().prefix(membersPrefix(t.prefix, region)).strings(),
    );
    return Object.values(all).flatMap((v) => parseMember(v) ?? []);
  }

  async publishRegionStates(
    t: EtcdTarget,
    states: Readonly<Record<string, RegionStateRecord>>,
  ): Promise<void> {
    const c = this.client(t);
    await this.bounded(
      "publish",
      Promise.all(
        Object.entries(states).map(([r, s]) =>
          c.put(regionStateKey(t.prefix, r)).value(JSON.stringify(s)).exec(),
        ),
      ),
    );
  }

  async removeRegionStates(t: EtcdTarget, names: readonly string[]): Promise<void> {
    const c = this.client(t);
    await this.bounded(
      "remove",
      Promise.all(names.map((r) => c.delete().key(regionStateKey(t.prefix, r)).exec())),
    );
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
