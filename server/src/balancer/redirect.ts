/**
 * Where a first hello should go (docs/architecture.md "Balancing and redirects"): stay when this
 * node is under its threshold; otherwise redirect to a node with room, chosen at random
 * weighted by its free room; 429 when the whole region is full. Pure.
 */
import type { Member } from "../routing/members.js";

export type RedirectDecision =
  | { readonly kind: "stay" }
  | { readonly kind: "redirect"; readonly url: string }
  | { readonly kind: "full" };

const STAY: RedirectDecision = { kind: "stay" };
const FULL: RedirectDecision = { kind: "full" };

export interface SelfLoad {
  readonly nodeId: string;
  readonly connections: number;
  readonly capacity: number;
}

/**
 * @param self this node (undefined for a balancer, which never keeps a client)
 * @param thresholdPercent percent of capacity above which a node sends first hellos away
 * @param random uniform in [0, 1)
 */
export function chooseRedirect(
  self: SelfLoad | undefined,
  members: Iterable<Member>,
  thresholdPercent: number,
  random: () => number,
): RedirectDecision {
  const limit = (capacity: number) => Math.floor((capacity * thresholdPercent) / 100);
  if (self !== undefined && self.connections < limit(self.capacity)) return STAY;
  // Read twice below; callers pass `Map.values()`, an iterator that can be read only once
  // (the balancer's "least loaded" fallback used to see no member at all and answer 429).
  const all = [...members];
  let total = 0;
  const room: { url: string; free: number }[] = [];
  for (const m of all) {
    if (m.draining || m.nodeId === self?.nodeId) continue;
    const free = limit(m.capacity) - m.connections;
    if (free > 0) {
      room.push({ url: m.wsUrl, free });
      total += free;
    }
  }
  if (total > 0) {
    let x = random() * total;
    for (const r of room) {
      x -= r.free;
      if (x < 0) return { kind: "redirect", url: r.url };
    }
    return { kind: "redirect", url: room[room.length - 1]!.url };
  }
  // Nobody else is under the threshold: keep the client while this node has any room.
  if (self !== undefined && self.connections < self.capacity) return STAY;
  if (self === undefined) {
    // A balancer with every node above threshold: the least loaded node that has room.
    let best: Member | undefined;
    for (const m of all) {
      if (
        !m.draining &&
        m.connections < m.capacity &&
        (!best || m.capacity - m.connections > best.capacity - best.connections)
      ) {
        best = m;
      }
    }
    if (best) return { kind: "redirect", url: best.wsUrl };
  }
  return FULL;
}
