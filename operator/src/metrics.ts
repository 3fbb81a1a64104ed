/**
 * Every operator metric, declared once against an injected registry. Names follow
 * controller-runtime's where they mean the same thing, so its dashboards and alerts apply.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from "prom-client";
import type { QueueHooks } from "./queue.js";
import type { ReconcileHooks } from "./reconcile.js";

export const CONTROLLER = "pushcluster";

export function createMetrics(registry: Registry) {
  collectDefaultMetrics({ register: registry });
  const reconcileTotal = new Counter({
    name: "controller_runtime_reconcile_total",
    help: "Reconciliations by controller and result (success, error, requeue_after).",
    labelNames: ["controller", "result"] as const,
    registers: [registry],
  });
  const reconcileErrors = new Counter({
    name: "controller_runtime_reconcile_errors_total",
    help: "Reconciliations that returned an error.",
    labelNames: ["controller"] as const,
    registers: [registry],
  });
  const reconcileTime = new Histogram({
    name: "controller_runtime_reconcile_time_seconds",
    help: "Duration of one reconciliation.",
    labelNames: ["controller"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const activeWorkers = new Gauge({
    name: "controller_runtime_active_workers",
    help: "Workers currently reconciling.",
    labelNames: ["controller"] as const,
    registers: [registry],
  });
  const depth = new Gauge({
    name: "workqueue_depth",
    help: "Keys waiting in the work queue.",
    labelNames: ["name", "controller"] as const,
    registers: [registry],
  });
  const adds = new Counter({
    name: "workqueue_adds_total",
    help: "Adds handled by the work queue.",
    labelNames: ["name", "controller"] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: "workqueue_retries_total",
    help: "Rate-limited re-adds after a failure.",
    labelNames: ["name", "controller"] as const,
    registers: [registry],
  });
  const queueDuration = new Histogram({
    name: "workqueue_queue_duration_seconds",
    help: "Time a key waits in the queue before a worker takes it.",
    labelNames: ["name", "controller"] as const,
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60],
    registers: [registry],
  });
  const leader = new Gauge({
    name: "leader_election_master_status",
    help: "1 while this replica holds the leader Lease.",
    labelNames: ["name"] as const,
    registers: [registry],
  });
  const regionState = new Gauge({
    name: "edition_operator_region_state",
    help: "1 for the failover state each region is in (active, failed, recovering).",
    labelNames: ["cluster", "region", "state"] as const,
    registers: [registry],
  });
  const replicaConnected = new Gauge({
    name: "edition_operator_replica_connected",
    help: "1 while a region's Redis has its replica in another region connected (regions with redis.replica only).",
    labelNames: ["cluster", "region"] as const,
    registers: [registry],
  });
  const replicationLag = new Gauge({
    name: "edition_operator_replication_lag_bytes",
    help: "Bytes a region's Redis has written that its replica in another region has not acknowledged (only while connected).",
    labelNames: ["cluster", "region"] as const,
    registers: [registry],
  });
  const podDeletions = new Counter({
    name: "edition_operator_rollout_pod_replacements_total",
    help: "Node pods the operator deleted to roll them (each starts a drain).",
    labelNames: ["region"] as const,
    registers: [registry],
  });
  const failovers = new Counter({
    name: "edition_operator_failover_transitions_total",
    help: "Region failover transitions by reason (RegionFailed, RegionRecovering, RegionActive).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const informerRestarts = new Counter({
    name: "edition_operator_informer_restarts_total",
    help: "Watches restarted after an error (a 410 Gone relists without counting here).",
    labelNames: ["resource"] as const,
    registers: [registry],
  });

  const q = { name: CONTROLLER, controller: CONTROLLER };
  const queueHooks: QueueHooks = {
    depth: (n) => depth.set(q, n),
    added: () => adds.inc(q),
    retried: () => retries.inc(q),
    waited: (s) => queueDuration.observe(q, s),
  };
  const reconcileHooks: ReconcileHooks = {
    podDeleted: (region) => podDeletions.inc({ region }),
    failoverTransition: (reason) => failovers.inc({ reason }),
    replicationLag: (cluster, region, bytes) => {
      replicaConnected.set({ cluster, region }, bytes === undefined ? 0 : 1);
      if (bytes === undefined) replicationLag.remove({ cluster, region });
      else replicationLag.set({ cluster, region }, bytes);
    },
    regionState: (cluster, region, state) => {
      for (const s of ["active", "failed", "recovering"])
        regionState.set({ cluster, region, state: s }, s === state ? 1 : 0);
    },
  };
  return {
    queueHooks,
    reconcileHooks,
    reconciled(result: "success" | "error" | "requeue_after", seconds: number) {
      reconcileTotal.inc({ controller: CONTROLLER, result });
      if (result === "error") reconcileErrors.inc({ controller: CONTROLLER });
      reconcileTime.observe({ controller: CONTROLLER }, seconds);
    },
    workers: (n: number) => activeWorkers.set({ controller: CONTROLLER }, n),
    leader: (lease: string, on: boolean) => leader.set({ name: lease }, on ? 1 : 0),
    informerRestarted: (resource: string) => informerRestarts.inc({ resource }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
