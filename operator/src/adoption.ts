/**
 * Adoption of a failed region's clients by the region that holds its replica
 * (docs/multi-region.md), pure: (failover states, previous adoption, replication layout) →
 * the Redis steps to take and the region records to publish. Per region with a replica:
 *
 *   home ──(region failed, replica's region active)──▶ promote replica ──▶ adopted
 *   adopted ──(region no longer failed: healthy again, or failback annotation)──▶
 *       hand back (re-point the home Redis as a replica of the promoted one, sync, pause
 *       writes, swap roles) ──▶ home
 *
 * A step only counts once the shell (`region-redis.ts`) reports it done, so a failed
 * promotion or hand-back is simply decided again on the next pass. While adopted, the
 * region is published `failed` whatever the failover state says: its own nodes must not
 * serve (their Redis is stale) until the hand-back has made it current again.
 */
import type { RegionStateRecord } from "./failover.js";

export type AdoptionPhase = "home" | "adopted";

export interface AdoptionStatus {
  readonly phase: AdoptionPhase;
  readonly since: string;
  /** adopted: the region serving this region's clients (the replica's region). */
  readonly adoptedBy?: string;
}

/** One region's data placement, from the PushCluster spec. */
export interface RegionReplication {
  readonly name: string;
  /** The region's own Redis (`redis://host:port`), as the operator reaches it. */
  readonly primaryUrl: string;
  /** Its replica, in another region; absent: not replicated (never adopted). */
  readonly replica?: { readonly url: string; readonly region: string };
  /** Public base URL, published so other regions forward PUTs for its tokens. */
  readonly endpoint?: string;
}

export type RedisStep =
  | { readonly kind: "promote"; readonly region: string; readonly replicaUrl: string }
  | {
      readonly kind: "handBack";
      readonly region: string;
      readonly primaryUrl: string;
      readonly replicaUrl: string;
    };

export interface AdoptionPlanStep {
  readonly step: RedisStep;
  /** The status once `step` succeeded. */
  readonly next: AdoptionStatus;
  readonly reason: string;
  readonly message: string;
}

export interface AdoptionInput {
  readonly regions: readonly RegionReplication[];
  readonly failover: Readonly<Record<string, RegionStateRecord>>;
  readonly previous: Readonly<Record<string, AdoptionStatus | undefined>>;
  readonly now: Date;
}

/** The Redis steps this pass should take (at most one per region). */
export function planAdoption(input: AdoptionInput): AdoptionPlanStep[] {
  const iso = input.now.toISOString();
  const out: AdoptionPlanStep[] = [];
  for (const r of input.regions) {
    if (r.replica === undefined) continue;
    const prev = input.previous[r.name] ?? { phase: "home", since: iso };
    const state = input.failover[r.name]?.state ?? "active";
    const adopterState = input.failover[r.replica.region]?.state ?? "active";
    if (prev.phase === "home" && state === "failed" && adopterState === "active") {
      out.push({
        step: { kind: "promote", region: r.name, replicaUrl: r.replica.url },
        next: { phase: "adopted", since: iso, adoptedBy: r.replica.region },
        reason: "RegionAdopted",
        message: `region ${r.name}: replica promoted in ${r.replica.region}, which now serves its clients`,
      });
    } else if (prev.phase === "adopted" && state !== "failed") {
      out.push({
        step: {
          kind: "handBack",
          region: r.name,
          primaryUrl: r.primaryUrl,
          replicaUrl: r.replica.url,
        },
        next: { phase: "home", since: iso },
        reason: "RegionHandedBack",
        message: `region ${r.name}: data synced back from ${r.replica.region} and its Redis is primary again`,
      });
    }
  }
  return out;
}

/**
 * The record each region's nodes read (`<prefix>/regions/<name>`): the failover state,
 * forced to `failed` while adopted, plus the adopter, the replica and the endpoint.
 */
export function regionRecords(
  regions: readonly RegionReplication[],
  failover: Readonly<Record<string, RegionStateRecord>>,
  adoption: Readonly<Record<string, AdoptionStatus | undefined>>,
): Record<string, RegionStateRecord> {
  const out: Record<string, RegionStateRecord> = {};
  for (const r of regions) {
    const f = failover[r.name];
    if (f === undefined) continue;
    const a = adoption[r.name];
    const adopted = a?.phase === "adopted";
    out[r.name] = {
      ...(adopted && f.state !== "failed" ? { state: "failed", since: a.since } : f),
      ...(adopted ? { adoptedBy: a.adoptedBy } : {}),
      ...(r.replica ? { replicaUrl: r.replica.url } : {}),
      ...(r.endpoint ? { endpoint: r.endpoint } : {}),
    };
  }
  return out;
}
