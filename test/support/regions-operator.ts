/**
 * The real operator (`operator/src/operator.ts`: leader election, informers, queue,
 * reconcile) against a real kube-apiserver (`kube.ts`), driving the real regions of
 * `regions.ts`: their etcds (members, region records) and Redis servers (promotion,
 * hand-back). What Kubernetes would add is faked, visibly and minimally: a StatefulSet
 * "controller" that creates the pods, and a "kubelet" that reports a region's pods Ready
 * while that region's processes run (and not Ready once it is killed).
 */
import { createHash } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import type { FailoverInput } from "../../operator/src/failover.js";
import { HttpKube } from "../../operator/src/kube-http.js";
import { createLogger } from "../../operator/src/log.js";
import type { KubeObject } from "../../operator/src/model.js";
import { type RunningOperator, startOperator } from "../../operator/src/operator.js";
import { Etcd3RegionEtcd } from "../../operator/src/region-etcd3.js";
import { IoRedisRegionRedis } from "../../operator/src/region-redis.js";
import { applyCrds, type Kube, startKube } from "./kube.js";
import type { Regions } from "./regions.js";

export interface ControllerEvent {
  readonly reason: string;
  readonly message: string;
  /** When the test saw it (epoch ms). */
  readonly at: number;
}

/** One kube-apiserver for a test file; `cluster()` runs one operator + PushCluster on it. */
export class KubeForRegions {
  private constructor(
    readonly kube: Kube,
    readonly kc: KubeConfig,
    readonly api: HttpKube,
  ) {}

  static async start(t: { after(fn: () => unknown): void }): Promise<KubeForRegions> {
    const kube = await startKube({ t });
    await applyCrds(kube, "charts/edition/crds");
    const kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    return new KubeForRegions(kube, kc, new HttpKube(kc, { fieldManager: "test" }));
  }
}

export class OperatorController {
  readonly events: ControllerEvent[] = [];
  private readonly seen = new Set<string>();
  private running = true;
  private loop: Promise<void> | undefined;
  private op: RunningOperator | undefined;
  private readonly etcd = new Etcd3RegionEtcd(2500);
  private readonly redis = new IoRedisRegionRedis({
    commandTimeoutMs: 1000,
    syncTimeoutMs: 20_000,
  });
  private status: { regions?: { name: string; adoption?: { phase: string } }[] } = {};

  constructor(
    private readonly k: KubeForRegions,
    private readonly regions: Regions,
    private readonly ns: string,
    private readonly policy: Partial<FailoverInput["policy"]>,
    private readonly durability: "region" | "global",
  ) {}

  async start(): Promise<void> {
    const { api, kc } = this.k;
    await api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: this.ns } });
    this.op = await startOperator(
      {
        watchNamespaces: [this.ns],
        leaderElection: true,
        leaseName: `op-${this.ns}`,
        leaseNamespace: "default",
        identity: "op-1",
        metricsPort: 0,
        workers: 2,
        activeResyncSeconds: 1,
        idleResyncSeconds: 1,
        etcdTimeoutMs: 2500,
        logLevel: "silent",
      },
      kc,
      this.etcd,
      createLogger(process.env.OPERATOR_TEST_LOG ?? "silent"),
      undefined,
      this.redis,
    );
    await api.create({
      apiVersion: "edition.dev/v1alpha1",
      kind: "PushCluster",
      metadata: { name: "push", namespace: this.ns },
      spec: {
        image: "edition:test",
        replicas: 3,
        durability: { mode: this.durability },
        failover: this.policy,
        regions: this.regionSpecs(),
      },
    } as KubeObject);
    this.loop = this.run();
  }

  private regionSpecs() {
    return this.regions.replication().map((r) => ({
      name: r.name,
      etcd: {
        endpoints: [this.regions.get(r.name).etcd.endpoint],
        prefix: this.regions.env.EDITION_ETCD_PREFIX,
      },
      redis: { url: r.primaryUrl, ...(r.replica ? { replica: r.replica } : {}) },
      ...(r.endpoint ? { publicUrl: r.endpoint } : {}),
      balancer: { replicas: 0 },
      nodes: { maxConnections: 1000 },
    }));
  }

  /** A restarted region's nodes have new addresses: its publicUrl follows (as DNS would). */
  async regionsMoved(): Promise<void> {
    await this.k.api.mergePatch(
      { apiVersion: "edition.dev/v1alpha1", kind: "PushCluster", namespace: this.ns, name: "push" },
      { spec: { regions: this.regionSpecs() } },
    );
  }

  phase(region: string): { phase: string } | undefined {
    return this.status.regions?.find((r) => r.name === region)?.adoption;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.tick();
      } catch {
        // the next tick sees fresh state
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async tick(): Promise<void> {
    const { api } = this.k;
    const pc = await api.get({
      apiVersion: "edition.dev/v1alpha1",
      kind: "PushCluster",
      namespace: this.ns,
      name: "push",
    });
    this.status = (pc?.status ?? {}) as typeof this.status;
    const { items: events } = await api.list("v1", "Event", this.ns);
    for (const e of events) {
      const id = e.metadata.uid ?? e.metadata.name;
      if (this.seen.has(id)) continue;
      this.seen.add(id);
      const ev = e as KubeObject & { reason?: string; message?: string };
      this.events.push({ reason: ev.reason ?? "", message: ev.message ?? "", at: Date.now() });
    }
    const { items: sets } = await api.list("apps/v1", "StatefulSet", this.ns);
    const { items: pods } = await api.list("v1", "Pod", this.ns);
    for (const s of sets) {
      const spec = s.spec as {
        replicas: number;
        template: {
          metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
          spec: Record<string, unknown>;
        };
      };
      const rev = `${s.metadata.name}-${createHash("sha256").update(JSON.stringify(spec.template)).digest("hex").slice(0, 10)}`;
      const st = s.status as { observedGeneration?: number; updateRevision?: string } | undefined;
      if (st?.observedGeneration !== s.metadata.generation || st?.updateRevision !== rev)
        await api.mergePatch(
          { apiVersion: "apps/v1", kind: "StatefulSet", namespace: this.ns, name: s.metadata.name },
          {
            status: {
              observedGeneration: s.metadata.generation,
              updateRevision: rev,
              replicas: spec.replicas,
            },
          },
          "status",
        );
      const region = s.metadata.labels?.["edition.dev/region"] ?? "";
      const alive = this.regions.byName.get(region)?.alive ?? false;
      for (let i = 0; i < spec.replicas; i++) {
        const name = `${s.metadata.name}-${i}`;
        const pod = pods.find((p) => p.metadata.name === name);
        if (!pod) {
          await api.create({
            apiVersion: "v1",
            kind: "Pod",
            metadata: {
              name,
              namespace: this.ns,
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
        const ready = (
          (pod.status as { conditions?: { type: string; status: string }[] })?.conditions ?? []
        ).some((c) => c.type === "Ready" && c.status === "True");
        if (pod.metadata.deletionTimestamp) {
          // Rolled (a changed template): the "kubelet" ends it at once.
          await api.delete(
            { apiVersion: "v1", kind: "Pod", namespace: this.ns, name },
            { gracePeriodSeconds: 0 },
          );
        } else if (ready !== alive) {
          await api.mergePatch(
            { apiVersion: "v1", kind: "Pod", namespace: this.ns, name },
            {
              status: {
                phase: "Running",
                conditions: [{ type: "Ready", status: alive ? "True" : "False" }],
              },
            },
            "status",
          );
        }
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.op?.stop();
    await this.etcd.close();
    await this.redis.close();
  }
}
