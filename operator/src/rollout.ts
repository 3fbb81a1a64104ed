/**
 * Node rollouts without reconnect storms, planned purely. The StatefulSets use the OnDelete
 * strategy, so the operator replaces pods itself: zones one after another (spec order), in
 * the active zone at most `maxUnavailablePerZone` pods unavailable at a time. Deleting a pod
 * sends SIGTERM and the node drains (closes sockets at a bounded rate, then exits); the pod
 * stays "terminating" until then, so it counts as unavailable and the next pod waits for
 * its connections to leave. Everything is read from the pods each time (revision label,
 * deletionTimestamp), so a restarted operator never deletes a pod twice.
 */
import type { PodInfo, StatefulSetInfo } from "./model.js";

export interface ZoneObservation {
  readonly sts: StatefulSetInfo;
  readonly pods: readonly PodInfo[];
}

export interface RolloutPolicy {
  readonly maxUnavailablePerZone: number;
  readonly drainTimeoutSeconds: number;
}

export interface RolloutPlan {
  /** Pods to delete now (each starts a drain). */
  readonly delete: readonly string[];
  /** Pods not yet on the StatefulSet's update revision, all zones. */
  readonly outdated: number;
  /** Pods on the update revision and ready, all zones. */
  readonly updated: number;
  /** Why nothing (more) is deleted, when something is still to do. */
  readonly waiting?: string;
  /** Draining pods past their drain timeout (reported, never force-deleted). */
  readonly overdue: readonly string[];
  readonly done: boolean;
}

const ordinal = (pod: string): number => Number(pod.slice(pod.lastIndexOf("-") + 1));

/**
 * `connections` maps pod name → live connections from its etcd member entry (absent when
 * the node is not registered, e.g. already drained).
 */
export function planRollout(
  zones: readonly ZoneObservation[],
  connections: ReadonlyMap<string, number>,
  policy: RolloutPolicy,
  now: Date,
): RolloutPlan {
  let outdated = 0;
  let updated = 0;
  const overdue: string[] = [];
  let waiting: string | undefined;
  let active: { z: ZoneObservation; candidates: PodInfo[]; unavailable: number } | undefined;
  const draining: PodInfo[] = [];

  for (const z of zones) {
    const rev = z.sts.updateRevision;
    if (!z.sts.observed || rev === undefined) {
      waiting ??= `waiting for the StatefulSet controller to observe ${z.sts.name}`;
      continue;
    }
    const inRange = z.pods.filter((p) => ordinal(p.name) < z.sts.replicas);
    const live = inRange.filter((p) => !p.terminating);
    const stale = live.filter((p) => p.revision !== rev);
    outdated += stale.length;
    updated += live.filter((p) => p.revision === rev && p.ready).length;
    const zoneDraining = z.pods.filter((p) => p.terminating);
    draining.push(...zoneDraining);
    for (const p of zoneDraining) {
      const since = p.deletingSince ? Date.parse(p.deletingSince) : now.getTime();
      if (now.getTime() - since > policy.drainTimeoutSeconds * 1000) overdue.push(p.name);
    }
    const available = live.filter((p) => p.ready).length;
    const unavailable = z.sts.replicas - available;
    if (stale.length > 0 && active === undefined) active = { z, candidates: stale, unavailable };
  }

  if (active === undefined) {
    return {
      delete: [],
      outdated,
      updated,
      overdue,
      done: outdated === 0 && waiting === undefined,
      ...(waiting ? { waiting } : {}),
    };
  }
  // A drain still running in another zone (e.g. begun before an operator restart) finishes first.
  const elsewhere = draining.filter((p) => p.zone !== active.z.sts.zone);
  if (elsewhere.length > 0) {
    return {
      delete: [],
      outdated,
      updated,
      overdue,
      done: false,
      waiting: drainMessage(elsewhere, connections),
    };
  }
  // Outdated pods that are not ready serve no one: replacing them costs no availability.
  const broken = active.candidates.filter((p) => !p.ready).map((p) => p.name);
  const budget = policy.maxUnavailablePerZone - active.unavailable;
  if (budget <= 0 && broken.length === 0) {
    const here = draining.filter((p) => p.zone === active.z.sts.zone);
    const why =
      here.length > 0
        ? drainMessage(here, connections)
        : `zone ${active.z.sts.zone || "(default)"}: ${active.unavailable} pod(s) unavailable, waiting for them to be ready`;
    return { delete: [], outdated, updated, overdue, done: false, waiting: why };
  }
  // Then the fewest connections (the smallest reconnect wave), then the highest ordinal.
  const healthy = active.candidates
    .filter((p) => p.ready)
    .sort(
      (a, b) =>
        (connections.get(a.name) ?? 0) - (connections.get(b.name) ?? 0) ||
        ordinal(b.name) - ordinal(a.name),
    )
    .slice(0, Math.max(0, budget))
    .map((p) => p.name);
  return { delete: [...broken, ...healthy], outdated, updated, overdue, done: false };
}

function drainMessage(pods: readonly PodInfo[], connections: ReadonlyMap<string, number>): string {
  return `draining ${pods.map((p) => `${p.name} (${connections.get(p.name) ?? 0} connections left)`).join(", ")}`;
}
