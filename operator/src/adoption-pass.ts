/**
 * One adoption pass, as reconcile runs it after the failover decision (`failover.ts`):
 * plan (`adoption.ts`) → take the Redis steps (`region-redis.ts`) → the region records to
 * publish into every region's etcd. A step that fails leaves its region's status as it was
 * (decided again next pass) and is reported as a Warning event.
 */
import {
  type AdoptionStatus,
  planAdoption,
  type RegionReplication,
  regionRecords,
} from "./adoption.js";
import type { PushClusterSpec } from "./crd.js";
import type { FailoverEvent, RegionStateRecord } from "./failover.js";
import type { RegionRedis } from "./region-redis.js";

export interface AdoptionPassInput {
  readonly regions: readonly RegionReplication[];
  /** Published failover states (`publishedRecord` of `decideFailover`'s result). */
  readonly failover: Readonly<Record<string, RegionStateRecord>>;
  readonly previous: Readonly<Record<string, AdoptionStatus | undefined>>;
  readonly now: Date;
}

export interface AdoptionPassResult {
  readonly adoption: Record<string, AdoptionStatus>;
  readonly records: Record<string, RegionStateRecord>;
  readonly events: FailoverEvent[];
  /** Replication lag per region with a connected replica (bytes). */
  readonly lagBytes: Record<string, number>;
}

export async function adoptionPass(
  redis: RegionRedis,
  input: AdoptionPassInput,
): Promise<AdoptionPassResult> {
  const adoption: Record<string, AdoptionStatus> = {};
  for (const r of input.regions) {
    const p = input.previous[r.name];
    if (p !== undefined) adoption[r.name] = p;
  }
  const events: FailoverEvent[] = [];
  const steps = planAdoption(input);
  await Promise.all(
    steps.map(async (s) => {
      try {
        await redis.run(s.step);
        adoption[s.step.region] = s.next;
        events.push({
          region: s.step.region,
          type: "Normal",
          reason: s.reason,
          message: s.message,
        });
      } catch (err) {
        events.push({
          region: s.step.region,
          type: "Warning",
          reason: s.step.kind === "promote" ? "PromotionFailed" : "HandBackFailed",
          message: `region ${s.step.region}: ${s.step.kind} failed (retried): ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }),
  );
  const lagBytes: Record<string, number> = {};
  await Promise.all(
    input.regions.map(async (r) => {
      if (r.replica === undefined || adoption[r.name]?.phase === "adopted") return;
      const lag = await redis.lagBytes(r.primaryUrl);
      if (lag !== undefined) lagBytes[r.name] = lag;
    }),
  );
  return {
    adoption,
    records: regionRecords(input.regions, input.failover, adoption),
    events,
    lagBytes,
  };
}

/** The replication layout of a spec: each region's Redis, its replica, its public URL. */
export function replicationOf(spec: PushClusterSpec): RegionReplication[] {
  return spec.regions.map((r) => ({
    name: r.name,
    primaryUrl: r.redis.url,
    ...(r.redis.replica
      ? { replica: { url: r.redis.replica.url, region: r.redis.replica.region } }
      : {}),
    ...(r.publicUrl ? { endpoint: r.publicUrl } : {}),
  }));
}
