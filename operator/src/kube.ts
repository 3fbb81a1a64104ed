/**
 * The Kube port: the few API operations the operator performs, in its own words. The
 * adapter (kube-http.ts) speaks REST to an API server; reconcile code sees only this.
 */
import type { KubeObject } from "./model.js";

export class KubeError extends Error {
  override readonly name = "KubeError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof KubeError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof KubeError && e.status === 409;

export interface Ref {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
}

export interface ListResult {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
}

export interface Kube {
  get(ref: Ref): Promise<KubeObject | undefined>;
  list(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    labelSelector?: string,
  ): Promise<ListResult>;
  /** Server-side apply with the operator's field manager, taking ownership of conflicts. */
  apply(obj: KubeObject): Promise<KubeObject>;
  /** Creates; resolves false when an object of that name already exists. */
  create(obj: KubeObject): Promise<boolean>;
  /** Optimistic-concurrency update (metadata.resourceVersion must match). */
  replace(obj: KubeObject): Promise<KubeObject>;
  /** JSON merge patch of the object or of a subresource ("status"). */
  mergePatch(ref: Ref, patch: unknown, subresource?: "status"): Promise<KubeObject>;
  /**
   * Deletes; `uid` makes it a precondition (never deletes a newer object of the same name).
   * Resolves false when it was already gone.
   */
  delete(ref: Ref, opts?: { uid?: string; gracePeriodSeconds?: number }): Promise<boolean>;
  /** Whether the API server serves this kind (e.g. monitoring.coreos.com/v1 ServiceMonitor). */
  serves(apiVersion: string, kind: string): Promise<boolean>;
}

interface Resource {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** The kinds the operator touches; no discovery needed for them. */
const RESOURCES: Readonly<Record<string, Resource>> = {
  "v1/ConfigMap": { plural: "configmaps", namespaced: true },
  "v1/Service": { plural: "services", namespaced: true },
  "v1/Secret": { plural: "secrets", namespaced: true },
  "v1/Pod": { plural: "pods", namespaced: true },
  "v1/Event": { plural: "events", namespaced: true },
  "v1/Namespace": { plural: "namespaces", namespaced: false },
  "apps/v1/StatefulSet": { plural: "statefulsets", namespaced: true },
  "apps/v1/Deployment": { plural: "deployments", namespaced: true },
  "apps/v1/ControllerRevision": { plural: "controllerrevisions", namespaced: true },
  "policy/v1/PodDisruptionBudget": { plural: "poddisruptionbudgets", namespaced: true },
  "networking.k8s.io/v1/NetworkPolicy": { plural: "networkpolicies", namespaced: true },
  "coordination.k8s.io/v1/Lease": { plural: "leases", namespaced: true },
  "monitoring.coreos.com/v1/ServiceMonitor": { plural: "servicemonitors", namespaced: true },
  "edition.dev/v1alpha1/PushCluster": { plural: "pushclusters", namespaced: true },
  "apiextensions.k8s.io/v1/CustomResourceDefinition": {
    plural: "customresourcedefinitions",
    namespaced: false,
  },
};

export function resourceOf(apiVersion: string, kind: string): Resource {
  const r = RESOURCES[`${apiVersion}/${kind}`];
  if (!r) throw new Error(`unknown kind ${apiVersion}/${kind}`);
  return r;
}

/** `/api/v1/namespaces/ns/pods[/name]` or `/apis/apps/v1/…`. */
export function resourcePath(
  apiVersion: string,
  kind: string,
  namespace?: string,
  name?: string,
): string {
  const r = resourceOf(apiVersion, kind);
  const base = apiVersion === "v1" ? "/api/v1" : `/apis/${apiVersion}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ""}`;
}

export const refOf = (o: KubeObject): Ref => ({
  apiVersion: o.apiVersion,
  kind: o.kind,
  name: o.metadata.name,
  ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
});
