/** The Kubernetes object shapes the operator reads and writes, kept to the fields it uses. */
import type { PushClusterSpec } from "./crd.js";
import type { PushClusterStatus } from "./status.js";

export interface OwnerReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  readonly controller?: boolean;
  readonly blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly generation?: number;
  readonly resourceVersion?: string;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly finalizers?: readonly string[];
  readonly ownerReferences?: readonly OwnerReference[];
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

export interface PushCluster extends KubeObject {
  readonly spec: PushClusterSpec;
  readonly status?: PushClusterStatus;
}

/** What the reconciler needs to know about one node pod. */
export interface PodInfo {
  readonly name: string;
  readonly zone: string;
  /** `controller-revision-hash` label: the StatefulSet revision the pod was made from. */
  readonly revision: string;
  readonly ready: boolean;
  readonly terminating: boolean;
  /** When deletion was requested (deletionTimestamp), for drain timeouts. */
  readonly deletingSince?: string;
  readonly uid?: string;
  /** The pod template's secrets hash (edition.dev/secrets-hash). */
  readonly secretsHash?: string;
}

/** What the reconciler needs to know about one zone's node StatefulSet. */
export interface StatefulSetInfo {
  readonly name: string;
  readonly zone: string;
  readonly replicas: number;
  readonly updateRevision?: string;
  /** False while the StatefulSet controller has not yet seen the latest spec. */
  readonly observed: boolean;
}

export const objectKey = (o: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): string =>
  `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
