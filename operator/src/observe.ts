/** Reads the node StatefulSets and pods of one PushCluster into the shapes rollout.ts plans on. */
import type { Kube } from "./kube.js";
import type { KubeObject, PodInfo, StatefulSetInfo } from "./model.js";
import {
  ANNOTATION_SECRETS_HASH,
  LABEL_CLUSTER,
  LABEL_COMPONENT,
  LABEL_REGION,
  LABEL_ZONE,
  REVISION_LABEL,
} from "./names.js";

export interface Workloads {
  readonly statefulSets: ReadonlyMap<string, StatefulSetInfo[]>;
  readonly pods: ReadonlyMap<string, PodInfo[]>;
}

interface PodShape {
  status?: { conditions?: { type: string; status: string }[] };
}
interface StsShape {
  spec?: { replicas?: number };
  status?: { observedGeneration?: number; updateRevision?: string };
}

export function podInfo(p: KubeObject): PodInfo {
  const m = p.metadata;
  const ready = ((p as PodShape).status?.conditions ?? []).some(
    (c) => c.type === "Ready" && c.status === "True",
  );
  return {
    name: m.name,
    zone: m.labels?.[LABEL_ZONE] ?? "",
    revision: m.labels?.[REVISION_LABEL] ?? "",
    ready: ready && !m.deletionTimestamp,
    terminating: m.deletionTimestamp !== undefined,
    ...(m.deletionTimestamp ? { deletingSince: m.deletionTimestamp } : {}),
    ...(m.uid ? { uid: m.uid } : {}),
    ...(m.annotations?.[ANNOTATION_SECRETS_HASH]
      ? { secretsHash: m.annotations[ANNOTATION_SECRETS_HASH] }
      : {}),
  };
}

export function statefulSetInfo(s: KubeObject): StatefulSetInfo {
  const x = s as StsShape;
  const rev = x.status?.updateRevision;
  return {
    name: s.metadata.name,
    zone: s.metadata.labels?.[LABEL_ZONE] ?? "",
    replicas: x.spec?.replicas ?? 0,
    ...(rev ? { updateRevision: rev } : {}),
    observed: (x.status?.observedGeneration ?? 0) >= (s.metadata.generation ?? 0),
  };
}

function group<T>(items: KubeObject[], f: (o: KubeObject) => T): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const o of items) {
    const r = o.metadata.labels?.[LABEL_REGION] ?? "";
    m.set(r, [...(m.get(r) ?? []), f(o)]);
  }
  return m;
}

export async function observeWorkloads(
  kube: Kube,
  namespace: string,
  cluster: string,
): Promise<Workloads> {
  const sel = `${LABEL_CLUSTER}=${cluster},${LABEL_COMPONENT}=node`;
  const [sts, pods] = await Promise.all([
    kube.list("apps/v1", "StatefulSet", namespace, sel),
    kube.list("v1", "Pod", namespace, sel),
  ]);
  return { statefulSets: group(sts.items, statefulSetInfo), pods: group(pods.items, podInfo) };
}
