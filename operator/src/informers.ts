/**
 * Watches that turn API changes into work-queue keys (`namespace/name` of the PushCluster).
 * They only trigger reconciles — reconcile reads fresh state itself — so a missed event is
 * healed by the periodic requeue. A watch that ends with 410 Gone relists (client-node does
 * that); any other error restarts the informer after a growing delay.
 */
import { type KubeConfig, type KubernetesObject, makeInformer } from "@kubernetes/client-node";
import { API_VERSION, KIND } from "./crd.js";
import type { Kube } from "./kube.js";
import { resourcePath } from "./kube.js";
import type { Logger } from "./log.js";
import type { KubeObject } from "./model.js";
import { LABEL_CLUSTER } from "./names.js";

export interface InformerOptions {
  readonly kc: KubeConfig;
  readonly kube: Kube;
  readonly log: Logger;
  /** One set of watches per namespace; empty: one set over all namespaces. */
  readonly namespaces: readonly string[];
  readonly enqueue: (key: string) => void;
  readonly restarted?: (resource: string) => void;
}

interface Watched {
  readonly apiVersion: string;
  readonly kind: string;
  readonly labelSelector?: string;
  readonly keyOf: (o: KubeObject) => string | undefined;
}

const clusterKey = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
const ownerKey = (o: KubeObject) => {
  const c = o.metadata.labels?.[LABEL_CLUSTER];
  return c ? `${o.metadata.namespace ?? ""}/${c}` : undefined;
};

/** A PushCluster update matters when its spec, annotations or lifecycle changed, not its status. */
export function clusterChanged(prev: KubeObject | undefined, next: KubeObject): boolean {
  if (!prev) return true;
  const a = prev.metadata;
  const b = next.metadata;
  return (
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(a.annotations ?? {}) !== JSON.stringify(b.annotations ?? {}) ||
    JSON.stringify(a.finalizers ?? []) !== JSON.stringify(b.finalizers ?? [])
  );
}

export function startInformers(o: InformerOptions): { stop(): Promise<void> } {
  const owned = `${LABEL_CLUSTER}`;
  const watched: Watched[] = [
    { apiVersion: API_VERSION, kind: KIND, keyOf: clusterKey },
    { apiVersion: "apps/v1", kind: "StatefulSet", labelSelector: owned, keyOf: ownerKey },
    { apiVersion: "apps/v1", kind: "Deployment", labelSelector: owned, keyOf: ownerKey },
    { apiVersion: "v1", kind: "Pod", labelSelector: owned, keyOf: ownerKey },
    { apiVersion: "v1", kind: "Service", labelSelector: owned, keyOf: ownerKey },
  ];
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const scopes = o.namespaces.length > 0 ? o.namespaces : [undefined];
  const informers = scopes.flatMap((namespace) => watched.map((w) => watch(w, namespace)));
  function watch(w: Watched, namespace: string | undefined) {
    const path = resourcePath(w.apiVersion, w.kind, namespace);
    const listFn = async () => {
      const r = await o.kube.list(w.apiVersion, w.kind, namespace, w.labelSelector);
      return {
        metadata: { resourceVersion: r.resourceVersion },
        items: r.items as unknown as KubernetesObject[],
      };
    };
    const inf = makeInformer<KubernetesObject>(o.kc, path, listFn, w.labelSelector);
    const seen = new Map<string, KubeObject>();
    const on = (obj: KubernetesObject, isDelete: boolean) => {
      const k = obj as unknown as KubeObject;
      const id = `${k.metadata.namespace}/${k.metadata.name}`;
      const prev = seen.get(id);
      if (isDelete) seen.delete(id);
      else seen.set(id, k);
      if (w.kind === KIND && !isDelete && !clusterChanged(prev, k)) return;
      const key = w.keyOf(k);
      if (key) o.enqueue(key);
    };
    inf.on("add", (x) => on(x, false));
    inf.on("update", (x) => on(x, false));
    inf.on("delete", (x) => on(x, true));
    let failures = 0;
    inf.on("connect", () => {
      failures = 0;
    });
    inf.on("error", (err: unknown) => {
      if (stopped) return;
      failures++;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(failures, 6));
      o.log.warn(
        { event: "watch_error", kind: w.kind, err: String(err), retryMs: delay },
        "watch failed; restarting",
      );
      o.restarted?.(w.kind);
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopped) inf.start().catch(() => undefined);
      }, delay);
      timers.add(t);
    });
    inf
      .start()
      .catch((err: unknown) =>
        o.log.warn(
          { event: "watch_start_failed", kind: w.kind, err: String(err) },
          "informer start failed",
        ),
      );
    return inf;
  }
  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await Promise.all(informers.map((i) => i.stop().catch(() => undefined)));
    },
  };
}
