/**
 * The slot table: the UAID space cut into a fixed number of slots, each owned by one node
 * of the region. Pure functions only; the coordinator writes the table to etcd and every
 * node watches it.
 */
import { createHmac } from "node:crypto";

export const DEFAULT_SLOTS = 4096;

/**
 * The slot of a UAID: a keyed hash (HMAC-SHA-256 under a key derived from the cluster
 * secret), so clients cannot choose their slot. A hello may keep a client-supplied UAID
 * (docs/protocol.md), and the slot used to be its first 8 hex digits: anyone could pile UAIDs
 * onto one slot, hence one owner node. Every node of a region shares the secret, so every
 * node computes the same slot. `key` is the cluster secret.
 */
export function slotOf(uaid: string, slots: number, key: string): number {
  return createHmac("sha256", slotKey(key)).update(uaid).digest().readUInt32BE(0) % slots;
}

let cachedSecret: string | undefined;
let cachedKey: Buffer | undefined;
/** The slot key, derived from the cluster secret (so the secret itself never keys a public-ish hash). */
function slotKey(secret: string): Buffer {
  if (secret !== cachedSecret) {
    cachedKey = createHmac("sha256", secret).update("edition slot key v1").digest();
    cachedSecret = secret;
  }
  return cachedKey!;
}

export interface SlotMember {
  readonly id: string;
  /** Relative weight: how many connections the node is configured to hold. */
  readonly capacity: number;
  /** A draining node keeps no slots (unless every member drains). */
  readonly draining: boolean;
}

/** owners[slot] = node id. */
export type Owners = readonly string[];

/**
 * A new assignment of `slots` slots to `members`, moving as few slots as possible from
 * `prev`: a slot moves only when its owner left, drains, or holds more than its
 * capacity-weighted quota. Deterministic for the same inputs (every coordinator computes
 * the same table).
 */
export function rebalance(
  prev: Owners | undefined,
  members: readonly SlotMember[],
  slots: number,
): string[] {
  let eligible = members.filter((m) => !m.draining && m.capacity > 0);
  if (eligible.length === 0) eligible = members.filter((m) => m.capacity > 0);
  if (eligible.length === 0) return prev ? [...prev] : [];
  eligible = [...eligible].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  const quota = quotas(eligible, slots);
  const owners: string[] = new Array(slots);
  const held = new Map<string, number>(eligible.map((m) => [m.id, 0]));
  const free: number[] = [];
  for (let s = 0; s < slots; s++) {
    const o = prev?.[s];
    const n = o === undefined ? undefined : held.get(o);
    if (o !== undefined && n !== undefined && n < quota.get(o)!) {
      owners[s] = o;
      held.set(o, n + 1);
    } else {
      free.push(s);
    }
  }
  let i = 0;
  for (const m of eligible) {
    let n = held.get(m.id)!;
    const q = quota.get(m.id)!;
    while (n < q && i < free.length) {
      owners[free[i++]!] = m.id;
      n++;
    }
    held.set(m.id, n);
  }
  return owners;
}

/** Capacity-proportional slot counts summing to `slots` (largest remainder, ties by id). */
function quotas(members: readonly SlotMember[], slots: number): Map<string, number> {
  const total = members.reduce((t, m) => t + m.capacity, 0);
  const exact = members.map((m) => ({ id: m.id, x: (slots * m.capacity) / total }));
  const q = new Map(exact.map((e) => [e.id, Math.floor(e.x)]));
  let left = slots - [...q.values()].reduce((a, b) => a + b, 0);
  const byRemainder = [...exact].sort(
    (a, b) => b.x - Math.floor(b.x) - (a.x - Math.floor(a.x)) || (a.id < b.id ? -1 : 1),
  );
  for (const e of byRemainder) {
    if (left-- <= 0) break;
    q.set(e.id, q.get(e.id)! + 1);
  }
  return q;
}

/** Number of slots whose owner differs between two tables. */
export function moved(a: Owners | undefined, b: Owners): number {
  let n = 0;
  for (let s = 0; s < b.length; s++) if (a?.[s] !== b[s]) n++;
  return n;
}

/** Compact wire form for etcd: node ids once, then one index per slot. */
export interface EncodedTable {
  readonly nodes: string[];
  readonly owners: number[];
}

export function encodeOwners(owners: Owners): string {
  const nodes: string[] = [];
  const index = new Map<string, number>();
  const out: number[] = new Array(owners.length);
  for (let s = 0; s < owners.length; s++) {
    const o = owners[s]!;
    let i = index.get(o);
    if (i === undefined) {
      i = nodes.push(o) - 1;
      index.set(o, i);
    }
    out[s] = i;
  }
  return JSON.stringify({ nodes, owners: out } satisfies EncodedTable);
}

/** Decodes `encodeOwners` output; `undefined` when malformed. */
export function decodeOwners(text: string, slots: number): string[] | undefined {
  try {
    const t = JSON.parse(text) as EncodedTable;
    if (!Array.isArray(t.nodes) || !Array.isArray(t.owners) || t.owners.length !== slots)
      return undefined;
    const owners = t.owners.map((i) => t.nodes[i]);
    return owners.every((o) => typeof o === "string") ? (owners as string[]) : undefined;
  } catch {
    return undefined;
  }
}
