/**
 * Deletes objects this operator made for a PushCluster that are no longer desired (a removed
 * region or zone, a node address after scale-in). Only objects labelled with the cluster AND
 * controlled by its uid are candidates, so nothing of another owner is ever touched.
 * Generated Secrets are never pruned: they live as long as the PushCluster.
 */
import type { Kube } from "./kube.js";
import { type KubeObject, objectKey } from "./model.js";
import { LABEL_CLUSTER } from "./names.js";

export const PRUNABLE = [
  ["apps/v1", "StatefulSet"],
  ["apps/v1", "Deployment"],
  ["v1", "Service"],
  ["v1", "ConfigMap"],
  ["policy/v1", "PodDisruptionBudget"],
  ["networking.k8s.io/v1", "NetworkPolicy"],
  ["monitoring.coreos.com/v1", "ServiceMonitor"],
] as const;

/** Pure: which of `existing` to delete. */
export function pruneCandidates(
  existing: readonly KubeObject[],
  desired: readonly KubeObject[],
  ownerUid: string,
): KubeObject[] {
  const keep = new Set(desired.map(objectKey));
  return existing.filter(
    (o) =>
      !keep.has(objectKey(o)) &&
      (o.metadata.ownerReferences ?? []).some((r) => r.controller && r.uid === ownerUid),
  );
}

export async function prune(
  kube: Kube,
  namespace: string,
  cluster: string,
  ownerUid: string,
  desired: readonly KubeObject[],
): Promise<KubeObject[]> {
  const deleted: KubeObject[] = [];
  for (const [apiVersion, kind] of PRUNABLE) {
    if (!(await kube.serves(apiVersion, kind))) continue;
    const { items } = await kube.list(apiVersion, kind, namespace, `${LABEL_CLUSTER}=${cluster}`);
    for (const o of pruneCandidates(items, desired, ownerUid)) {
      const ref = { apiVersion, kind, namespace, name: o.metadata.name };
      if (await kube.delete(ref, o.metadata.uid ? { uid: o.metadata.uid } : {})) deleted.push(o);
    }
  }
  return deleted;
}
