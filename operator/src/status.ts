/**
 * PushCluster status, computed purely and kstatus-compatible: `observedGeneration`, and the
 * conditions Ready (normal-true), Reconciling / Stalled (abnormal-true), Degraded and
 * RegionFailover, each carrying the generation it describes. A condition's
 * lastTransitionTime changes only when its status does.
 */
import type { AdoptionStatus } from "./adoption.js";
import type { RegionFailoverStatus } from "./failover.js";

export type ConditionType = "Ready" | "Reconciling" | "Stalled" | "Degraded" | "RegionFailover";

export interface Condition {
  readonly type: ConditionType;
  readonly status: "True" | "False" | "Unknown";
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message: string;
}

export type RegionPhase =
  | "Progressing"
  | "Ready"
  | "Degraded"
  | "Unreachable"
  | "Failed"
  | "Recovering";

export interface RegionStatus {
  readonly name: string;
  readonly phase: RegionPhase;
  readonly replicas: number;
  readonly readyNodes: number;
  readonly updatedNodes: number;
  readonly connections: number;
  readonly capacity: number;
  /** Last time this region's etcd answered. */
  readonly lastSeen?: string;
  readonly failover: RegionFailoverStatus;
  /** Replicated regions: whether another region serves this region's clients now. */
  readonly adoption?: AdoptionStatus;
  readonly message?: string;
}

export interface PushClusterStatus {
  readonly observedGeneration?: number;
  readonly replicas?: number;
  readonly readyReplicas?: number;
  readonly selector?: string;
  readonly readyRegions?: string;
  readonly connections?: number;
  readonly capacity?: number;
  readonly conditions?: readonly Condition[];
  readonly regions?: readonly RegionStatus[];
  /** Last value of the rotate-token-keys annotation acted on. */
  readonly tokenKeyRotation?: string;
}

/** One region as observed by the reconciler this pass. */
export interface RegionObservation {
  readonly name: string;
  readonly replicas: number;
  readonly readyNodes: number;
  readonly updatedNodes: number;
  /** Etcd members (undefined when the region's etcd did not answer). */
  readonly members?: { readonly connections: number; readonly capacity: number };
  readonly rolloutDone: boolean;
  readonly waiting?: string;
  /** An error while applying or observing this region. */
  readonly error?: string;
  readonly failover: RegionFailoverStatus;
  readonly adoption?: AdoptionStatus;
}

export interface StatusInput {
  readonly generation: number;
  readonly previous: PushClusterStatus | undefined;
  readonly now: Date;
  readonly selector: string;
  /** Per-region replicas of spec.replicas (for the scale subresource). */
  readonly specReplicas: number;
  readonly problems: readonly string[];
  readonly paused: boolean;
  readonly regions: readonly RegionObservation[];
  readonly recommendedFailover: readonly string[];
  readonly tokenKeyRotation?: string;
}

export function regionPhase(o: RegionObservation): RegionPhase {
  if (o.failover.state === "failed") return "Failed";
  if (o.failover.state === "recovering") return "Recovering";
  if (o.members === undefined) return "Unreachable";
  if (o.error !== undefined) return "Degraded";
  if (o.readyNodes >= o.replicas && o.rolloutDone) return "Ready";
  return "Progressing";
}

export function computeStatus(i: StatusInput): PushClusterStatus {
  const iso = i.now.toISOString();
  const prevRegions = new Map((i.previous?.regions ?? []).map((r) => [r.name, r]));
  const regions: RegionStatus[] = i.regions.map((o) => {
    const prev = prevRegions.get(o.name);
    const message = o.error ?? o.waiting;
    return {
      name: o.name,
      phase: regionPhase(o),
      replicas: o.replicas,
      readyNodes: o.readyNodes,
      updatedNodes: o.updatedNodes,
      // An unreachable region keeps its last known figures, dated by lastSeen.
      connections: o.members?.connections ?? prev?.connections ?? 0,
      capacity: o.members?.capacity ?? prev?.capacity ?? 0,
      ...(o.members ? { lastSeen: iso } : prev?.lastSeen ? { lastSeen: prev.lastSeen } : {}),
      failover: o.failover,
      ...(o.adoption ? { adoption: o.adoption } : {}),
      ...(message ? { message } : {}),
    };
  });
  const ready = regions.filter((r) => r.phase === "Ready");
  const notReady = regions.filter((r) => r.phase !== "Ready");
  const inFailover = regions.filter((r) => r.phase === "Failed" || r.phase === "Recovering");
  const stalled = i.problems.length > 0;
  const progressing = regions.filter((r) => r.phase === "Progressing");
  const g = i.generation;
  const c = (type: ConditionType, on: boolean, reason: string, message: string): Condition => ({
    type,
    status: on ? "True" : "False",
    observedGeneration: g,
    lastTransitionTime: iso,
    reason,
    message,
  });
  const describe = (rs: readonly RegionStatus[]) =>
    rs.map((r) => `${r.name}: ${r.phase}${r.message ? ` (${r.message})` : ""}`).join("; ");

  const conditions = [
    stalled
      ? c("Ready", false, "InvalidSpec", i.problems.join("; "))
      : i.paused
        ? c("Ready", false, "Paused", "spec.paused is true")
        : notReady.length === 0
          ? c("Ready", true, "AllRegionsReady", `${ready.length} region(s) ready`)
          : c("Ready", false, "RegionsNotReady", describe(notReady)),
    c(
      "Reconciling",
      !stalled && !i.paused && progressing.length > 0,
      progressing.length > 0 ? "Progressing" : "Reconciled",
      describe(progressing),
    ),
    c("Stalled", stalled, stalled ? "InvalidSpec" : "None", i.problems.join("; ")),
    c(
      "Degraded",
      regions.some(
        (r) => r.phase === "Degraded" || r.phase === "Unreachable" || r.phase === "Failed",
      ),
      regions.some((r) => r.phase !== "Ready" && r.phase !== "Progressing")
        ? "RegionsDegraded"
        : "None",
      describe(
        regions.filter(
          (r) => r.phase === "Degraded" || r.phase === "Unreachable" || r.phase === "Failed",
        ),
      ),
    ),
    inFailover.length > 0
      ? c(
          "RegionFailover",
          true,
          "RegionsFailedOver",
          [
            describe(inFailover),
            ...inFailover.flatMap((r) =>
              r.adoption?.phase === "adopted"
                ? [`${r.name}'s clients served by ${r.adoption.adoptedBy}`]
                : [],
            ),
          ].join("; "),
        )
      : i.recommendedFailover.length > 0
        ? c(
            "RegionFailover",
            false,
            "FailoverRecommended",
            `manual mode: set annotation edition.dev/failover=${i.recommendedFailover.join(",")} to fail over`,
          )
        : c("RegionFailover", false, "AllRegionsActive", ""),
  ].map((cond) => keepTransitionTime(cond, i.previous?.conditions));

  return {
    observedGeneration: g,
    replicas: i.specReplicas,
    readyReplicas: regions.reduce((n, r) => n + r.readyNodes, 0),
    selector: i.selector,
    readyRegions: `${ready.length}/${regions.length}`,
    connections: regions.reduce((n, r) => n + r.connections, 0),
    capacity: regions.reduce((n, r) => n + r.capacity, 0),
    conditions,
    regions,
    ...(i.tokenKeyRotation !== undefined ? { tokenKeyRotation: i.tokenKeyRotation } : {}),
  };
}

function keepTransitionTime(c: Condition, previous: readonly Condition[] | undefined): Condition {
  const p = previous?.find((x) => x.type === c.type);
  return p && p.status === c.status ? { ...c, lastTransitionTime: p.lastTransitionTime } : c;
}
