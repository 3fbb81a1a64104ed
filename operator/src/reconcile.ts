/**
 * One level-triggered pass over one PushCluster: get → observe → decide (pure: failover,
 * desired, rollout, status) → apply → prune → act → status. Regions are handled side by side
 * and every region's failure is caught and reported on that region, so one unreachable
 * region never stalls the others. Safe to run again at any point: every action is derived
 * from what is observed, never from memory of a previous pass.
 */

import { adoptionPass, replicationOf } from "./adoption-pass.js";
import { readSpec } from "./cluster.js";
import { API_VERSION, KIND } from "./crd.js";
import { desiredObjects, nodeReplicas } from "./desired.js";
import type { EventRecorder } from "./events.js";
import {
  decideFailover,
  extraReplicas,
  publishedRecord,
  type RegionFailoverStatus,
  type RegionHealth,
} from "./failover.js";
import type { Kube, Ref } from "./kube.js";
import type { Logger } from "./log.js";
import type { KubeObject, PushCluster } from "./model.js";
import {
  ANNOTATION_FAILBACK,
  ANNOTATION_FAILOVER,
  FINALIZER,
  LABEL_REGION,
  selector,
} from "./names.js";
import { observeWorkloads, type Workloads } from "./observe.js";
import { prune } from "./prune.js";
import type { MemberRecord, RegionEtcd } from "./region-etcd.js";
import type { RegionRedis } from "./region-redis.js";
import { planRollout, type RolloutPlan } from "./rollout.js";
import { ensureSecrets } from "./secrets.js";
import { computeStatus, type RegionObservation } from "./status.js";

export interface ReconcileHooks {
  podDeleted?(region: string): void;
  regionState?(cluster: string, region: string, state: string): void;
  failoverTransition?(reason: string): void;
  /** Bytes a region's Redis has written that its replica in another region has not acknowledged. */
  replicationLag?(cluster: string, region: string, bytes: number | undefined): void;
}

export interface ReconcileDeps {
  readonly kube: Kube;
  readonly etcd: RegionEtcd;
  /** Each region's Redis, for adoption (docs/multi-region.md); absent: never promotes. */
  readonly redis?: RegionRedis;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now: () => Date;
  readonly random: (n: number) => Buffer;
  /** Requeue delay while something is in motion (rollout, failover timer, drain). */
  readonly activeResyncMs: number;
  /** Requeue delay when all is settled (refreshes connection counts from etcd). */
  readonly idleResyncMs: number;
  readonly hooks?: ReconcileHooks;
}

export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

const list = (v: string | undefined) =>
  new Set(
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function reconcile(
  deps: ReconcileDeps,
  namespace: string,
  name: string,
): Promise<ReconcileResult> {
  const { kube } = deps;
  const ref: Ref = { apiVersion: API_VERSION, kind: KIND, namespace, name };
  const cluster = (await kube.get(ref)) as PushCluster | undefined;
  if (!cluster) return {};
  const log = deps.log.child({
    cluster: `${namespace}/${name}`,
    generation: cluster.metadata.generation,
  });
  log.debug({ event: "reconcile" }, "reconciling");
  const { spec, problems } = readSpec(name, cluster.spec);

  if (cluster.metadata.deletionTimestamp) return finalize(deps, cluster, ref, spec.regions);
  if (!(cluster.metadata.finalizers ?? []).includes(FINALIZER)) {
    await kube.mergePatch(ref, {
      metadata: {
        finalizers: [...(cluster.metadata.finalizers ?? []), FINALIZER],
        resourceVersion: cluster.metadata.resourceVersion,
      },
    });
    return { requeueAfterMs: 0 };
  }
  const now = deps.now();
  const uid = cluster.metadata.uid ?? "";
  const generation = cluster.metadata.generation ?? 0;
  const prevRegions = new Map((cluster.status?.regions ?? []).map((r) => [r.name, r]));
  const statusBase = {
    generation,
    previous: cluster.status,
    now,
    selector: Object.entries(selector(name, "node", "x"))
      .filter(([k]) => k !== LABEL_REGION)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    specReplicas: spec.replicas,
  };

  if (problems.length > 0) {
    await deps.events.record(cluster, "Warning", "InvalidSpec", problems.join("; "));
    await writeStatus(
      kube,
      ref,
      computeStatus({
        ...statusBase,
        problems,
        paused: false,
        regions: [],
        recommendedFailover: [],
      }),
    );
    return {};
  }

  const before = await observeWorkloads(kube, namespace, name);
  const nodesOnHash = (hash: string) =>
    spec.regions.every((r) => {
      const pods = (before.pods.get(r.name) ?? []).filter((p) => !p.terminating);
      const want = (before.statefulSets.get(r.name) ?? []).reduce((n, s) => n + s.replicas, 0);
      return pods.length === want && pods.every((p) => p.ready && p.secretsHash === hash);
    });
  const secrets = await ensureSecrets(deps, cluster, spec, nodesOnHash);
  if (secrets.problems.length > 0) {
    await writeStatus(
      kube,
      ref,
      computeStatus({
        ...statusBase,
        problems: secrets.problems,
        paused: false,
        regions: [],
        recommendedFailover: [],
      }),
    );
    return { requeueAfterMs: deps.activeResyncMs };
  }

  // Members from every region's etcd, side by side, each bounded by the adapter's timeout.
  const members = new Map<string, MemberRecord[] | undefined>();
  const etcdErrors = new Map<string, string>();
  await Promise.all(
    spec.regions.map(async (r) => {
      try {
        members.set(r.name, await deps.etcd.members(r.etcd, r.name));
      } catch (e) {
        members.set(r.name, undefined);
        etcdErrors.set(r.name, `etcd: ${errText(e)}`);
      }
    }),
  );

  const health: RegionHealth[] = spec.regions.map((r) => ({
    name: r.name,
    desiredNodes: nodeReplicas(spec, r),
    readyNodes: (before.pods.get(r.name) ?? []).filter((p) => p.ready).length,
    reachable: members.get(r.name) !== undefined,
    capacity: nodeReplicas(spec, r) * r.nodes.maxConnections,
  }));
  // A region reported Ready has been healthy, even if this pass's pre-apply view lags.
  const previousFailover = Object.fromEntries(
    spec.regions.map((r) => {
      const prev = prevRegions.get(r.name);
      const f = prev?.failover;
      return [r.name, f && prev.phase === "Ready" ? { ...f, established: true } : f];
    }),
  );
  const failover = spec.paused
    ? { regions: fillFailover(previousFailover, now), events: [], recommended: [] }
    : decideFailover({
        policy: spec.failover,
        now,
        health,
        previous: previousFailover,
        failRequested: list(cluster.metadata.annotations?.[ANNOTATION_FAILOVER]),
        failbackRequested: list(cluster.metadata.annotations?.[ANNOTATION_FAILBACK]),
      });
  for (const e of failover.events) {
    log.info({ event: "failover", region: e.region, reason: e.reason }, e.message);
    deps.hooks?.failoverTransition?.(e.reason);
    await deps.events.record(cluster, e.type, e.reason, e.message);
  }
  const failoverStates = Object.fromEntries(
    Object.entries(failover.regions).map(([r, s]) => [r, publishedRecord(s)]),
  );
  // Adoption of failed regions by the region holding their replica: promote, hand back.
  const replication = replicationOf(spec);
  const previousAdoption = Object.fromEntries(
    spec.regions.map((r) => [r.name, prevRegions.get(r.name)?.adoption]),
  );
  const adoption =
    deps.redis === undefined || spec.paused || !replication.some((r) => r.replica)
      ? undefined
      : await adoptionPass(deps.redis, {
          regions: replication,
          failover: failoverStates,
          previous: previousAdoption,
          now,
        });
  for (const e of adoption?.events ?? []) {
    log.info({ event: "adoption", region: e.region, reason: e.reason }, e.message);
    deps.hooks?.failoverTransition?.(e.reason);
    await deps.events.record(cluster, e.type, e.reason, e.message);
  }
  for (const r of replication)
    if (r.replica) deps.hooks?.replicationLag?.(name, r.name, adoption?.lagBytes[r.name]);
  const regionStates = adoption?.records ?? failoverStates;
  for (const [r, s] of Object.entries(regionStates)) deps.hooks?.regionState?.(name, r, s.state);
  const extras = extraReplicas(spec, regionStates);

  const regionErrors = new Map<string, string>(etcdErrors);
  const plans = new Map<string, RolloutPlan>();
  let after: Workloads = before;
  if (!spec.paused) {
    const serviceMonitor = await kube.serves("monitoring.coreos.com/v1", "ServiceMonitor");
    const desired = desiredObjects({
      name,
      namespace,
      uid,
      spec,
      secrets: secrets.refs,
      regionStates,
      extraReplicas: extras,
      serviceMonitor,
    });
    await applyAll(deps, desired, regionErrors);
    for (const [r, n] of Object.entries(extras)) {
      const prev = prevRegions.get(r)?.replicas ?? 0;
      const target = nodeReplicas(spec, spec.regions.find((x) => x.name === r)!) + n;
      if (prev !== target)
        await deps.events.record(
          cluster,
          "Normal",
          "ScaledForFailover",
          `region ${r}: ${target} node(s) (+${n}) to take capacity of failed region(s)`,
        );
    }
    // The region state every node and balancer reads: the ConfigMap above (mounted in pods),
    // and each reachable region's etcd (watched, so nodes react in well under a second).
    await Promise.all(
      spec.regions.map(async (r) => {
        if (members.get(r.name) === undefined) return;
        try {
          await deps.etcd.publishRegionStates(r.etcd, regionStates);
        } catch (e) {
          regionErrors.set(r.name, `etcd: ${errText(e)}`);
        }
      }),
    );
    for (const o of await prune(kube, namespace, name, uid, desired)) {
      log.info(
        { event: "pruned", kind: o.kind, object: o.metadata.name },
        "deleted an object no longer desired",
      );
    }
    after = await observeWorkloads(kube, namespace, name);
    await Promise.all(
      spec.regions.map((r) =>
        rollRegion(
          deps,
          cluster,
          r.name,
          after,
          members.get(r.name),
          spec.rollout,
          now,
          plans,
          regionErrors,
        ),
      ),
    );
  }

  const observations: RegionObservation[] = spec.regions.map((r) => {
    const ms = members.get(r.name);
    const plan = plans.get(r.name);
    const pods = after.pods.get(r.name) ?? [];
    const err = regionErrors.get(r.name);
    return {
      name: r.name,
      replicas: nodeReplicas(spec, r) + (extras[r.name] ?? 0),
      readyNodes: pods.filter((p) => p.ready).length,
      updatedNodes: plan?.updated ?? 0,
      ...(ms
        ? { members: { connections: sum(ms, "connections"), capacity: sum(ms, "capacity") } }
        : {}),
      rolloutDone: plan?.done ?? false,
      ...(plan?.waiting ? { waiting: plan.waiting } : {}),
      ...(err ? { error: err } : {}),
      failover: failover.regions[r.name] ?? { state: "active", since: now.toISOString() },
      ...(adoption?.adoption[r.name] ? { adoption: adoption.adoption[r.name] } : {}),
    };
  });
  const status = computeStatus({
    ...statusBase,
    problems: [],
    paused: spec.paused,
    regions: observations,
    recommendedFailover: failover.recommended,
    ...(secrets.rotation !== undefined ? { tokenKeyRotation: secrets.rotation } : {}),
  });
  for (const r of status.regions ?? []) {
    const prev = prevRegions.get(r.name);
    if (r.phase === "Ready" && prev && prev.phase !== "Ready") {
      await deps.events.record(
        cluster,
        "Normal",
        "RegionReady",
        `region ${r.name}: ${r.readyNodes} node(s) ready and up to date`,
      );
    }
  }
  await writeStatus(kube, ref, status);
  const settled =
    (status.regions ?? []).every((r) => r.phase === "Ready") &&
    Object.values(failover.regions).every((f) => f.state === "active" && !f.unhealthySince) &&
    !secrets.promotePending;
  return { requeueAfterMs: settled ? deps.idleResyncMs : deps.activeResyncMs };
}

const sum = (ms: readonly MemberRecord[], k: "connections" | "capacity") =>
  ms.reduce((n, m) => n + m[k], 0);

function fillFailover(
  prev: Record<string, RegionFailoverStatus | undefined>,
  now: Date,
): Record<string, RegionFailoverStatus> {
  return Object.fromEntries(
    Object.entries(prev).map(([r, s]) => [r, s ?? { state: "active", since: now.toISOString() }]),
  );
}

async function applyAll(
  deps: ReconcileDeps,
  desired: readonly KubeObject[],
  errors: Map<string, string>,
): Promise<void> {
  const byRegion = new Map<string, KubeObject[]>();
  for (const o of desired) {
    const r = o.metadata.labels?.[LABEL_REGION] ?? "";
    byRegion.set(r, [...(byRegion.get(r) ?? []), o]);
  }
  await Promise.all(
    [...byRegion].map(async ([region, objs]) => {
      for (const o of objs) {
        try {
          await deps.kube.apply(o);
        } catch (e) {
          const msg = `apply ${o.kind} ${o.metadata.name}: ${errText(e)}`;
          deps.log.warn(
            { event: "apply_failed", region, kind: o.kind, object: o.metadata.name },
            msg,
          );
          if (region === "") throw e;
          errors.set(region, msg);
          return;
        }
      }
    }),
  );
}

async function rollRegion(
  deps: ReconcileDeps,
  cluster: PushCluster,
  region: string,
  w: Workloads,
  members: readonly MemberRecord[] | undefined,
  policy: { maxUnavailablePerZone: number; drainTimeoutSeconds: number },
  now: Date,
  plans: Map<string, RolloutPlan>,
  errors: Map<string, string>,
): Promise<void> {
  const sts = w.statefulSets.get(region) ?? [];
  const pods = w.pods.get(region) ?? [];
  const zones = sts.map((s) => ({ sts: s, pods: pods.filter((p) => p.zone === s.zone) }));
  const connections = new Map((members ?? []).map((m) => [m.nodeId, m.connections]));
  const plan = planRollout(zones, connections, policy, now);
  plans.set(region, plan);
  const ns = cluster.metadata.namespace ?? "default";
  for (const p of plan.overdue) {
    await deps.events.record(
      cluster,
      "Warning",
      "DrainTimeout",
      `pod ${p} still draining after ${policy.drainTimeoutSeconds}s`,
    );
  }
  for (const name of plan.delete) {
    const pod = pods.find((p) => p.name === name);
    try {
      // Deleting sends SIGTERM: the node drains, then exits; the StatefulSet recreates it
      // from the new revision. The uid precondition never deletes a newer pod of that name.
      const done = await deps.kube.delete(
        { apiVersion: "v1", kind: "Pod", namespace: ns, name },
        pod?.uid ? { uid: pod.uid } : {},
      );
      if (!done) continue;
      deps.hooks?.podDeleted?.(region);
      deps.log.info(
        { event: "drain_started", region, pod: name, connections: connections.get(name) ?? 0 },
        "replacing node pod",
      );
      await deps.events.record(
        cluster,
        "Normal",
        "DrainStarted",
        `region ${region}: replacing ${name} (${connections.get(name) ?? 0} connections to drain)`,
      );
    } catch (e) {
      errors.set(region, `delete pod ${name}: ${errText(e)}`);
    }
  }
}

async function finalize(
  deps: ReconcileDeps,
  cluster: PushCluster,
  ref: Ref,
  regions: PushCluster["spec"]["regions"],
): Promise<ReconcileResult> {
  const finalizers = cluster.metadata.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) return {};
  // Owner references remove every Kubernetes object; the region-state keys in each region's
  // etcd are what they cannot reach.
  const names = (regions ?? []).map((r) => r.name);
  const results = await Promise.allSettled(
    (regions ?? []).map((r) => deps.etcd.removeRegionStates(r.etcd, names)),
  );
  const failed = results.filter((r) => r.status === "rejected").length;
  const age = deps.now().getTime() - Date.parse(cluster.metadata.deletionTimestamp ?? "");
  // Give unreachable regions five minutes; never block a deletion forever.
  if (failed > 0 && age < 5 * 60_000) throw new Error(`cleanup: ${failed} region(s) unreachable`);
  if (failed > 0)
    await deps.events.record(
      cluster,
      "Warning",
      "CleanupIncomplete",
      `${failed} region(s) unreachable: region-state keys left in their etcd`,
    );
  else
    await deps.events.record(
      cluster,
      "Normal",
      "CleanedUp",
      "removed region state from every region's etcd",
    );
  await deps.kube.mergePatch(ref, {
    metadata: {
      finalizers: finalizers.filter((f) => f !== FINALIZER),
      resourceVersion: cluster.metadata.resourceVersion,
    },
  });
  return {};
}

async function writeStatus(kube: Kube, ref: Ref, status: unknown): Promise<void> {
  await kube.mergePatch(ref, { status }, "status");
}
