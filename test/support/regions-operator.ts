/**
 * The real operator (`operator/src/operator.ts`: leader election, informers, queue,
 * reconcile) against a real kube-apiserver (`kube.ts`), driving the real regions of
 * `regions.ts`: their etcds (members, region records) and Redis servers (promotion,
 * hand-back). What Kubernetes would add is faked, visibly and minimally: a StatefulSet
 * "controller" that creates the pods, and a "kubelet" that reports a region's pods Ready
 * while that region's processes run (and not Ready once it is killed).
 */
import { KubeConfig } from "@kubernetes/client-node";
import type { FailoverInput } from "../../operator/src/failover.js";
import { HttpKube } from "../../operator/src/kube-http.js";
import { createLogger } from "../../operator/src/log.js";
import type { KubeObject } from "../../operator/src/model.js";
import { type RunningOperator, startOperator } from "../../operator/src/operator.js";
import { Etcd3RegionEtcd } from "../../operator/src/region-etcd3.js";
import { IoRedisRegionRedis } from "../../operator/src/region-redis.js";
import { endPod, setPodReady, syncStatefulSets } from "./fake-statefulsets.js";
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
    await syncStatefulSets(api, this.ns, async (p) => {
      // Rolled (a changed template): the "kubelet" ends it at once.
      if (p.terminating) return void (await endPod(api, this.ns, p.name));
      // Ready exactly while the region's processes run.
      const alive = this.regions.byName.get(p.region)?.alive ?? false;
      if (p.ready !== alive) await setPodReady(api, this.ns, p.name, alive);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.op?.stop();
    await this.etcd.close();
    await this.redis.close();
  }
}
