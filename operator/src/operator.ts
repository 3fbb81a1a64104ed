/**
 * Wires one operator replica: Kube adapter, region etcd adapter, events, metrics, the
 * controller, and — with leader election — a Lease campaign that starts the controller only
 * while this replica leads (and stops it the moment leadership is lost). Used by main.ts and
 * by the reconcile tests, which run two replicas in one process.
 */

import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import type { OperatorConfig } from "./config.js";
import { Controller } from "./controller.js";
import { KubeEventRecorder } from "./events.js";
import { HttpKube } from "./kube-http.js";
import { LeaderElector } from "./leader.js";
import type { Logger } from "./log.js";
import { createMetrics } from "./metrics.js";
import { FIELD_MANAGER } from "./names.js";
import type { RegionEtcd } from "./region-etcd.js";
import type { RegionRedis } from "./region-redis.js";
import { serveMetrics } from "./serve.js";

export interface RunningOperator {
  readonly registry: Registry;
  readonly metricsPort: number | undefined;
  isLeader(): boolean;
  /** Stops reconciling (letting running passes finish) and releases the Lease. */
  stop(): Promise<void>;
}

export async function startOperator(
  config: OperatorConfig,
  kc: KubeConfig,
  etcd: RegionEtcd,
  log: Logger,
  onLostLeadership?: () => void,
  /** Each region's Redis, for adoption of failed regions (docs/multi-region.md). */
  redis?: RegionRedis,
): Promise<RunningOperator> {
  log = log.child({ identity: config.identity });
  const kube = new HttpKube(kc, { fieldManager: FIELD_MANAGER });
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const deps = {
    kube,
    etcd,
    redis,
    events: new KubeEventRecorder(kube, FIELD_MANAGER, config.identity),
    log,
    now: () => new Date(),
    random: (n: number) => randomBytes(n),
    activeResyncMs: config.activeResyncSeconds * 1000,
    idleResyncMs: config.idleResyncSeconds * 1000,
    hooks: metrics.reconcileHooks,
  };
  let controller: Controller | undefined;
  let stopping: Promise<void> | undefined;
  let stopRequested = false;
  const startController = () => {
    // A renewal that lands while stop() runs must not start a controller nobody stops.
    if (stopRequested || controller) return;
    controller = new Controller({
      kc,
      kube,
      log,
      reconcileDeps: deps,
      metrics,
      workers: config.workers,
      namespaces: config.watchNamespaces,
    });
    controller.start();
  };
  const stopController = async () => {
    const c = controller;
    controller = undefined;
    await c?.stop();
  };
  let elector: LeaderElector | undefined;
  if (config.leaderElection) {
    elector = new LeaderElector({
      kube,
      log,
      namespace: config.leaseNamespace,
      name: config.leaseName,
      identity: config.identity,
      onChange: (leading) => {
        metrics.leader(config.leaseName, leading);
        if (leading) startController();
        else {
          void stopController();
          if (!stopRequested) onLostLeadership?.();
        }
      },
    });
    elector.start();
  } else {
    startController();
  }
  const http =
    config.metricsPort >= 0
      ? await serveMetrics(registry, config.metricsPort, () => true)
      : undefined;
  return {
    registry,
    metricsPort: http?.port,
    isLeader: () => controller !== undefined,
    stop() {
      stopRequested = true;
      stopping ??= (async () => {
        await stopController();
        await elector?.stop();
        await new Promise<void>((r) => (http ? http.server.close(() => r()) : r()));
      })();
      return stopping;
    },
  };
}
