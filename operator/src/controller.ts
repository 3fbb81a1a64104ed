/**
 * The PushCluster controller: informers feed a keyed work queue; `workers` loops take keys
 * and run `reconcile`. Success forgets the key's failures and requeues after the delay the
 * pass asked for; an error requeues with backoff. One key is never reconciled twice at once.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { startInformers } from "./informers.js";
import type { Kube } from "./kube.js";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import { WorkQueue } from "./queue.js";
import { type ReconcileDeps, reconcile } from "./reconcile.js";

export interface ControllerOptions {
  readonly kc: KubeConfig;
  readonly kube: Kube;
  readonly log: Logger;
  readonly reconcileDeps: ReconcileDeps;
  readonly metrics?: Metrics;
  /** Empty or absent: all namespaces. */
  readonly namespaces?: readonly string[];
  readonly workers?: number;
}

export class Controller {
  readonly queue: WorkQueue;
  private informers: { stop(): Promise<void> } | undefined;
  private loops: Promise<void>[] = [];
  private active = 0;

  constructor(private readonly o: ControllerOptions) {
    this.queue = new WorkQueue(o.metrics ? { hooks: o.metrics.queueHooks } : {});
  }

  start(): void {
    this.informers = startInformers({
      kc: this.o.kc,
      kube: this.o.kube,
      log: this.o.log,
      namespaces: this.o.namespaces ?? [],
      enqueue: (k) => this.queue.add(k),
      ...(this.o.metrics ? { restarted: this.o.metrics.informerRestarted } : {}),
    });
    for (let i = 0; i < (this.o.workers ?? 2); i++) this.loops.push(this.worker());
  }

  /** Stops watching, lets running reconciles finish, and resolves when the workers are idle. */
  async stop(): Promise<void> {
    await this.informers?.stop();
    this.queue.shutDown();
    await Promise.all(this.loops);
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const [namespace = "", name = ""] = key.split("/");
      const started = performance.now();
      this.o.metrics?.workers(++this.active);
      try {
        const r = await reconcile(this.o.reconcileDeps, namespace, name);
        this.queue.forget(key);
        if (r.requeueAfterMs !== undefined) this.queue.addAfter(key, r.requeueAfterMs);
        this.o.metrics?.reconciled(
          r.requeueAfterMs !== undefined ? "requeue_after" : "success",
          (performance.now() - started) / 1000,
        );
      } catch (err) {
        this.o.metrics?.reconciled("error", (performance.now() - started) / 1000);
        this.o.log.warn(
          {
            event: "reconcile_failed",
            key,
            failures: this.queue.failuresOf(key) + 1,
            err: err instanceof Error ? err.message : String(err),
          },
          "reconcile failed; retrying with backoff",
        );
        this.queue.addRateLimited(key);
      } finally {
        this.o.metrics?.workers(--this.active);
        this.queue.done(key);
      }
    }
  }
}
