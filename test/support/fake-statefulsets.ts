/**
 * The StatefulSet controller and kubelet, faked against a real kube-apiserver (which runs
 * neither): each StatefulSet gets its status (observed generation, update revision) and a
 * Pod per ordinal, bound to a fake node so deletion is graceful and waits for the "kubelet".
 * What the "kubelet" then does with each Pod (make it Ready, end it) is the caller's: the
 * operator tests and the region-loss test decide readiness differently.
 */
import { createHash } from "node:crypto";
import type { HttpKube } from "../../operator/src/kube-http.js";
import type { KubeObject } from "../../operator/src/model.js";

/** One existing Pod of a StatefulSet, for the caller's "kubelet". */
export interface FakePod {
  readonly set: KubeObject;
  readonly region: string;
  readonly name: string;
  readonly pod: KubeObject;
  readonly ready: boolean;
  readonly terminating: boolean;
}

interface SetSpec {
  replicas: number;
  template: {
    metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
    spec: Record<string, unknown>;
  };
}

/**
 * One pass over the namespace: statuses and missing Pods written, then `kubelet` called for
 * every Pod that already existed. Returns what was listed (before this pass's writes).
 */
export async function syncStatefulSets(
  api: HttpKube,
  ns: string,
  kubelet: (p: FakePod) => Promise<void>,
): Promise<{ sets: KubeObject[]; pods: KubeObject[] }> {
  const { items: sets } = await api.list("apps/v1", "StatefulSet", ns);
  const { items: pods } = await api.list("v1", "Pod", ns);
  for (const s of sets) {
    const spec = s.spec as SetSpec;
    const hash = createHash("sha256").update(JSON.stringify(spec.template)).digest("hex");
    const rev = `${s.metadata.name}-${hash.slice(0, 10)}`;
    const st = s.status as { observedGeneration?: number; updateRevision?: string } | undefined;
    if (st?.observedGeneration !== s.metadata.generation || st?.updateRevision !== rev) {
      await api.mergePatch(
        { apiVersion: "apps/v1", kind: "StatefulSet", namespace: ns, name: s.metadata.name },
        {
          status: {
            observedGeneration: s.metadata.generation,
            updateRevision: rev,
            replicas: spec.replicas,
          },
        },
        "status",
      );
    }
    const region = s.metadata.labels?.["edition.dev/region"] ?? "";
    for (let i = 0; i < spec.replicas; i++) {
      const name = `${s.metadata.name}-${i}`;
      const pod = pods.find((p) => p.metadata.name === name);
      if (pod === undefined) {
        await api.create({
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name,
            namespace: ns,
            labels: {
              ...spec.template.metadata.labels,
              "controller-revision-hash": rev,
              "statefulset.kubernetes.io/pod-name": name,
            },
            annotations: spec.template.metadata.annotations ?? {},
          },
          spec: { ...spec.template.spec, nodeName: "fake-node" },
        });
        continue;
      }
      const conditions =
        (pod.status as { conditions?: { type: string; status: string }[] } | undefined)
          ?.conditions ?? [];
      const ready = conditions.some((c) => c.type === "Ready" && c.status === "True");
      const terminating = Boolean(pod.metadata.deletionTimestamp);
      await kubelet({ set: s, region, name, pod, ready, terminating });
    }
  }
  return { sets, pods };
}

/** The "kubelet" reports a Pod Running, Ready or not. */
export function setPodReady(api: HttpKube, ns: string, name: string, ready: boolean) {
  return api.mergePatch(
    { apiVersion: "v1", kind: "Pod", namespace: ns, name },
    {
      status: {
        phase: "Running",
        conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
      },
    },
    "status",
  );
}

/** The "kubelet" has ended a Pod's containers: the Pod goes at once. */
export function endPod(api: HttpKube, ns: string, name: string) {
  return api.delete(
    { apiVersion: "v1", kind: "Pod", namespace: ns, name },
    { gracePeriodSeconds: 0 },
  );
}
