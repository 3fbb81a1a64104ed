/**
 * The port to each region's etcd: read the registered members (connections, capacity) and
 * publish the region failover states that nodes and balancers watch. Every call is bounded
 * by a timeout so one unreachable region never stalls the others.
 */
import type { RegionStateRecord } from "./failover.js";

/** `<prefix>/<region>/members/<nodeId>`, written by each node under its lease. */
export interface MemberRecord {
  readonly nodeId: string;
  readonly wsUrl?: string;
  readonly routerUrl?: string;
  readonly capacity: number;
  readonly connections: number;
  readonly draining: boolean;
  readonly updatedAt?: string;
}

export interface EtcdTarget {
  readonly endpoints: readonly string[];
  readonly prefix: string;
}

export interface RegionEtcd {
  members(target: EtcdTarget, region: string): Promise<MemberRecord[]>;
  /** Writes `<prefix>/regions/<name>` for every entry. */
  publishRegionStates(
    target: EtcdTarget,
    states: Readonly<Record<string, RegionStateRecord>>,
  ): Promise<void>;
  /** Deletes `<prefix>/regions/<name>` for every name (finalizer cleanup). */
  removeRegionStates(target: EtcdTarget, names: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export const membersPrefix = (prefix: string, region: string): string =>
  `${prefix.replace(/\/$/, "")}/${region}/members/`;
export const regionStateKey = (prefix: string, region: string): string =>
  `${prefix.replace(/\/$/, "")}/regions/${region}`;

/** Parses one member value; undefined for anything malformed (never trusted blindly). */
export function parseMember(value: string): MemberRecord | undefined {
  try {
    const m = JSON.parse(value) as Record<string, unknown>;
    if (typeof m.nodeId !== "string") return undefined;
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);
    return {
      nodeId: m.nodeId,
      ...(typeof m.wsUrl === "string" ? { wsUrl: m.wsUrl } : {}),
      ...(typeof m.routerUrl === "string" ? { routerUrl: m.routerUrl } : {}),
      capacity: num(m.capacity),
      connections: num(m.connections),
      draining: m.draining === true,
      ...(typeof m.updatedAt === "string" ? { updatedAt: m.updatedAt } : {}),
    };
  } catch {
    return undefined;
  }
}

/** An in-memory RegionEtcd: the default when no etcd is configured, and for unit tests. */
export class MemoryRegionEtcd implements RegionEtcd {
  readonly data = new Map<string, string>();
  /** Endpoint lists (joined by ",") that behave as unreachable. */
  readonly unreachable = new Set<string>();

  private check(t: EtcdTarget): string {
    const id = t.endpoints.join(",");
    if (this.unreachable.has(id)) throw new Error(`etcd ${id} unreachable`);
    return id;
  }

  async members(t: EtcdTarget, region: string): Promise<MemberRecord[]> {
    const id = this.check(t);
    const p = `${id}|${membersPrefix(t.prefix, region)}`;
    return [...this.data.entries()]
      .filter(([k]) => k.startsWith(p))
      .flatMap(([, v]) => parseMember(v) ?? []);
  }

  async publishRegionStates(
    t: EtcdTarget,
    states: Readonly<Record<string, RegionStateRecord>>,
  ): Promise<void> {
    const id = this.check(t);
    for (const [r, s] of Object.entries(states))
      this.data.set(`${id}|${regionStateKey(t.prefix, r)}`, JSON.stringify(s));
  }

  async removeRegionStates(t: EtcdTarget, names: readonly string[]): Promise<void> {
    const id = this.check(t);
    for (const r of names) this.data.delete(`${id}|${regionStateKey(t.prefix, r)}`);
  }

  async close(): Promise<void> {}
}
