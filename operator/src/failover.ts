/**
 * Region failover decisions, pure: (previous per-region failover status, observed health,
 * policy, now, manual annotations) → next status + events. The state machine per region:
 *
 *   active ──(healthy ratio < min for detectionDelay; Manual: only by annotation)──▶ failed
 *   failed ──(healthy again for detectionDelay; Manual: failback annotation)──▶ recovering
 *   recovering ──(ramp of capacity / maxReHomeRate seconds elapsed)──▶ active
 *   recovering ──(unhealthy for detectionDelay)──▶ failed
 *
 * Times are persisted in status, so a restarted operator resumes where it was.
 */
import type { PushClusterSpec } from "./crd.js";

export type RegionState = "active" | "failed" | "recovering";

/** What nodes and balancers read (etcd `<prefix>/regions/<region>` and the ConfigMap). */
export interface RegionStateRecord {
  readonly state: RegionState;
  readonly since: string;
  /** recovering only: when the ramp ends; balancers raise the region's weight linearly until then. */
  readonly until?: string;
  /** failed and adopted (`adoption.ts`): the region serving this region's clients now. */
  readonly adoptedBy?: string;
  /** Redis URL of this region's replica (in another region): docs/multi-region.md. */
  readonly replicaUrl?: string;
  /** Public base URL of the region: other regions forward PUTs for its tokens there. */
  readonly endpoint?: string;
}

export interface RegionFailoverStatus extends RegionStateRecord {
  /** Healthy at least once: a region still starting up is never failed over. */
  readonly established?: boolean;
  readonly unhealthySince?: string;
  readonly healthySince?: string;
}

export interface RegionHealth {
  readonly name: string;
  /** Node replicas the region should have without failover extras. */
  readonly desiredNodes: number;
  readonly readyNodes: number;
  /** Whether its etcd answered: a region that cannot route is not healthy. */
  readonly reachable: boolean;
  /** Total connections the region can hold (desired nodes × max connections). */
  readonly capacity: number;
}

export interface FailoverEvent {
  readonly region: string;
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export interface FailoverInput {
  readonly policy: PushClusterSpec["failover"];
  readonly now: Date;
  readonly health: readonly RegionHealth[];
  readonly previous: Readonly<Record<string, RegionFailoverStatus | undefined>>;
  /** Manual mode: regions named in the edition.dev/failover annotation. */
  readonly failRequested: ReadonlySet<string>;
  /** Manual mode: regions named in the edition.dev/failback annotation. */
  readonly failbackRequested: ReadonlySet<string>;
}

export interface FailoverResult {
  readonly regions: Record<string, RegionFailoverStatus>;
  readonly events: FailoverEvent[];
  /** Manual mode: regions that automatic mode would have failed. */
  readonly recommended: string[];
}

export const healthyRatio = (h: RegionHealth): number =>
  !h.reachable ? 0 : h.desiredNodes === 0 ? 1 : h.readyNodes / h.desiredNodes;

export function decideFailover(input: FailoverInput): FailoverResult {
  const { policy, now } = input;
  const iso = now.toISOString();
  const events: FailoverEvent[] = [];
  const recommended: string[] = [];
  const regions: Record<string, RegionFailoverStatus> = {};
  const delayMs = policy.detectionDelaySeconds * 1000;
  const elapsed = (since: string | undefined) =>
    since === undefined ? -1 : now.getTime() - Date.parse(since);
  const manual = policy.mode === "Manual";

  for (const h of input.health) {
    const prev = input.previous[h.name] ?? { state: "active", since: iso };
    const ratio = healthyRatio(h);
    const healthy = ratio >= policy.minHealthyRatio;
    const pct = `${Math.round(ratio * 100)}%`;
    const established = prev.established === true || healthy;
    const unhealthySince = healthy || !established ? undefined : (prev.unhealthySince ?? iso);
    const healthySince = healthy ? (prev.healthySince ?? iso) : undefined;
    const unhealthyLong = !healthy && elapsed(unhealthySince) >= delayMs;
    const healthyLong = healthy && elapsed(healthySince) >= delayMs;
    const ev = (type: FailoverEvent["type"], reason: string, message: string) =>
      events.push({ region: h.name, type, reason, message });
    let next: RegionFailoverStatus;
    switch (prev.state) {
      case "active":
      case "recovering": {
        const requested =
          manual && input.failRequested.has(h.name) && !input.failbackRequested.has(h.name);
        if (requested || (!manual && unhealthyLong)) {
          next = { state: "failed", since: iso, unhealthySince };
          ev(
            "Warning",
            "RegionFailed",
            requested
              ? `region ${h.name} failed over by annotation (healthy ${pct})`
              : `region ${h.name} healthy ${pct} < ${policy.minHealthyRatio * 100}% for ${policy.detectionDelaySeconds}s: failed over`,
          );
        } else if (
          prev.state === "recovering" &&
          prev.until &&
          now.getTime() >= Date.parse(prev.until)
        ) {
          next = { state: "active", since: iso, unhealthySince };
          ev("Normal", "RegionActive", `region ${h.name} is back in full service`);
        } else {
          if (manual && unhealthyLong && prev.state === "active") recommended.push(h.name);
          next = { ...strip(prev), unhealthySince };
        }
        break;
      }
      case "failed": {
        const requested = !manual || input.failbackRequested.has(h.name);
        if (requested && (manual ? healthy : healthyLong)) {
          const rampS = Math.ceil(h.capacity / policy.maxReHomeRate);
          const until = new Date(now.getTime() + rampS * 1000).toISOString();
          next = { state: "recovering", since: iso, until, healthySince };
          ev(
            "Normal",
            "RegionRecovering",
            `region ${h.name} healthy ${pct}: returning to service over ${rampS}s`,
          );
        } else {
          next = { ...strip(prev), healthySince };
        }
        break;
      }
    }
    regions[h.name] = dropUndefined({ ...next, established });
  }
  return { regions, events, recommended };
}

function strip(s: RegionFailoverStatus): RegionStateRecord {
  return s.until === undefined
    ? { state: s.state, since: s.since }
    : { state: s.state, since: s.since, until: s.until };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const publishedRecord = (s: RegionFailoverStatus): RegionStateRecord => strip(s);

/**
 * Extra node replicas for survivors while regions are failed or recovering: the lost
 * capacity is spread over active regions by failover priority (highest first, then name),
 * each within its `nodes.maxReplicas`. Returns region → extra replicas (absent = 0).
 */
export function extraReplicas(
  spec: PushClusterSpec,
  states: Readonly<Record<string, RegionStateRecord>>,
): Record<string, number> {
  const base = (r: PushClusterSpec["regions"][number]) => r.nodes.replicas ?? spec.replicas;
  let lost = 0;
  for (const r of spec.regions) {
    if (states[r.name]?.state !== undefined && states[r.name]?.state !== "active")
      lost += base(r) * r.nodes.maxConnections;
  }
  const out: Record<string, number> = {};
  if (lost === 0) return out;
  const survivors = spec.regions
    .filter((r) => (states[r.name]?.state ?? "active") === "active")
    .sort((a, b) => b.failoverPriority - a.failoverPriority || a.name.localeCompare(b.name));
  for (const r of survivors) {
    if (lost <= 0) break;
    const headroom = Math.max(0, (r.nodes.maxReplicas ?? base(r)) - base(r));
    const extra = Math.min(headroom, Math.ceil(lost / r.nodes.maxConnections));
    if (extra > 0) out[r.name] = extra;
    lost -= extra * r.nodes.maxConnections;
  }
  return out;
}
