/**
 * The operator against a real kube-apiserver + etcd (no kubelet, no controller-manager).
 * What those would do is faked here, visibly and minimally: a StatefulSet "controller" that
 * sets status.updateRevision and creates missing pods from the template, a "kubelet" that
 * marks pods Ready, and fake push nodes that register in the region's (in-memory) etcd with
 * a connection count and, once deleted, drain only when the test opens their drain gate.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import type { OperatorConfig } from "../../operator/src/config.js";
import { HttpKube } from "../../operator/src/kube-http.js";
import { createLogger } from "../../operator/src/log.js";
import type { KubeObject } from "../../operator/src/model.js";
import { type RunningOperator, startOperator } from "../../operator/src/operator.js";
import { MemoryRegionEtcd, membersPrefix, regionStateKey } from "../../operator/src/region-etcd.js";
import { IoRedisRegionRedis } from "../../operator/src/region-redis.js";
import { endPod, setPodReady, syncStatefulSets } from "../support/fake-statefulsets.js";
import { applyCrds, type Kube, kubeSkip, startKube } from "../support/kube.js";
import { redisCommand, startRedis } from "../support/redis.js";
import { linked } from "../support/regions.js";

const skip = kubeSkip(["kube-apiserver", "etcd", "kubectl"]);
const log = createLogger(process.env.OPERATOR_TEST_LOG ?? "silent");

let kube: Kube;
let api: HttpKube;
let kc: KubeConfig;

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const more = explain ? await explain().catch(String) : "";
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${String(last)}` : ""}${more ? `\n${more}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const config = (over: Partial<OperatorConfig> = {}): OperatorConfig => ({
  watchNamespaces: [],
  leaderElection: true,
  leaseName: "edition-operator",
  leaseNamespace: "default",
  identity: "op-1",
  metricsPort: 0,
  workers: 2,
  activeResyncSeconds: 1,
  idleResyncSeconds: 2,
  etcdTimeoutMs: 500,
  logLevel: "silent",
  ...over,
});

async function namespace(name: string): Promise<string> {
  await api.create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  return name;
}

const get = (ns: string, apiVersion: string, kind: string, name: string) =>
  api.get({ apiVersion, kind, namespace: ns, name });
const replicasOf = async (ns: string, name: string) =>
  ((await get(ns, "apps/v1", "StatefulSet", name))?.spec as { replicas?: number } | undefined)
    ?.replicas;
const cluster = (ns: string, name = "push") => get(ns, "edition.dev/v1alpha1", "PushCluster", name);
interface Cond {
  type: string;
  status: string;
  reason: string;
  message?: string;
  observedGeneration: number;
}
interface RegionStatus {
  name: string;
  phase: string;
  readyNodes: number;
  connections: number;
  capacity: number;
  failover: { state: string };
  adoption?: { phase: string; adoptedBy?: string };
}
const statusOf = (o: KubeObject | undefined) =>
  (o?.status ?? {}) as {
    observedGeneration?: number;
    conditions?: Cond[];
    regions?: RegionStatus[];
    readyRegions?: string;
    connections?: number;
  };
const condition = (o: KubeObject | undefined, type: string) =>
  statusOf(o).conditions?.find((c) => c.type === type);

/** Fake StatefulSet controller + kubelet + push nodes for one namespace, polling. */
class FakeCluster {
  /** pod name → connections its fake node reports. */
  readonly connections = new Map<string, number>();
  drainGate = true;
  /** Every deletion seen (`pod@uid`), in order; the fake sees each since it ends them. */
  readonly deletions: string[] = [];
  /** Most pods terminating at the same time. */
  maxTerminating = 0;
  private running = true;
  private loop: Promise<void>;

  constructor(
    readonly ns: string,
    readonly etcd: MemoryRegionEtcd,
    readonly defaultConnections = 5,
  ) {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
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
    const { sets, pods } = await syncStatefulSets(api, this.ns, async (p) => {
      if (p.terminating || p.ready) return;
      await setPodReady(api, this.ns, p.name, true);
      this.register(p.region, p.name);
    });
    for (const s of sets) {
      const region = s.metadata.labels?.["edition.dev/region"] ?? "";
      this.maxTerminating = Math.max(
        this.maxTerminating,
        pods.filter((p) => p.metadata.deletionTimestamp).length,
      );
      for (const p of pods.filter(
        (p) => p.metadata.name.startsWith(`${s.metadata.name}-`) && p.metadata.deletionTimestamp,
      )) {
        if (!this.deletions.includes(`${p.metadata.name}@${p.metadata.uid}`))
          this.deletions.push(`${p.metadata.name}@${p.metadata.uid}`);
        if (this.drainGate) {
          // The node drained: its sockets are gone, its member key expires, the process exits.
          this.connections.set(p.metadata.name, 0);
          this.etcd.data.delete(this.memberKey(region, p.metadata.name));
          await endPod(api, this.ns, p.metadata.name);
        } else {
          this.register(region, p.metadata.name);
        }
      }
    }
  }

  private memberKey(region: string, pod: string): string {
    return `http://etcd-${region}:2379|${membersPrefix("/edition", region)}${pod}`;
  }

  private register(region: string, pod: string): void {
    if (!this.connections.has(pod) || this.connections.get(pod) === 0)
      this.connections.set(pod, this.defaultConnections);
    this.etcd.data.set(
      this.memberKey(region, pod),
      JSON.stringify({
        nodeId: pod,
        capacity: 100,
        connections: this.connections.get(pod),
        draining: false,
      }),
    );
  }
}

const region = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  etcd: { endpoints: [`http://etcd-${name}:2379`] },
  redis: { url: `redis://redis-${name}:6379` },
  nodes: { maxConnections: 100 },
  ...extra,
});

async function createCluster(ns: string, spec: Record<string, unknown>): Promise<void> {
  await api.create({
    apiVersion: "edition.dev/v1alpha1",
    kind: "PushCluster",
    metadata: { name: "push", namespace: ns },
    spec,
  } as KubeObject);
}

describe("operator on a real kube-apiserver", { skip, timeout: 600_000 }, () => {
  before(async () => {
    kube = await startKube();
    await applyCrds(kube, "charts/edition/crds");
    kc = new KubeConfig();
    kc.loadFromFile(kube.kubeconfigPath);
    api = new HttpKube(kc, { fieldManager: "test" });
  });
  after(async () => {
    await kube?.stop();
  });

  test("create: every object appears with its spec and owner reference; status becomes Ready", async (t) => {
    const ns = await namespace("create");
    const etcd = new MemoryRegionEtcd();
    const op = await startOperator(
      config({ leaseName: "create", watchNamespaces: [ns] }),
      kc,
      etcd,
      log,
    );
    const fake = new FakeCluster(ns, etcd);
    t.after(async () => {
      await op.stop();
      await fake.stop();
    });
    await createCluster(ns, {
      image: "edition:1",
      replicas: 4,
      regions: [region("eu", { zones: ["a", "b"] })],
    });
    const uid = (await waitFor("cluster", () => cluster(ns)))!.metadata.uid;
    const owned = (o: KubeObject | undefined) =>
      o?.metadata.ownerReferences?.some((r) => r.uid === uid && r.controller) ?? false;
    for (const [apiVersion, kind, name] of [
      ["apps/v1", "StatefulSet", "push-eu-a"],
      ["apps/v1", "StatefulSet", "push-eu-b"],
      ["apps/v1", "Deployment", "push-eu-balancer"],
      ["v1", "Service", "push-eu"],
      ["v1", "Service", "push-eu-router"],
      ["v1", "Service", "push-eu-endpoint"],
      ["v1", "Service", "push-eu-a-0"],
      ["v1", "Service", "push-eu-b-1"],
      ["v1", "ConfigMap", "push-regions"],
      ["v1", "Secret", "push-secrets"],
      ["policy/v1", "PodDisruptionBudget", "push-eu-nodes"],
      ["networking.k8s.io/v1", "NetworkPolicy", "push-eu-netpol"],
    ] as const) {
      const o = await waitFor(`${kind} ${name}`, () => get(ns, apiVersion, kind, name));
      assert.ok(owned(o), `${kind} ${name} is owned by the PushCluster`);
    }
    const sts = (await get(ns, "apps/v1", "StatefulSet", "push-eu-a"))!.spec as {
      replicas: number;
      updateStrategy: { type: string };
    };
    assert.equal(sts.replicas, 2, "4 replicas over 2 zones");
    assert.equal(sts.updateStrategy.type, "OnDelete");
    const router = (await get(ns, "v1", "Service", "push-eu-router"))!.spec as {
      clusterIP: string;
    };
    assert.equal(router.clusterIP, "None");
    const ready = await waitFor("Ready=True with every member counted", async () => {
      const c = await cluster(ns);
      return condition(c, "Ready")?.status === "True" && statusOf(c).connections === 20
        ? c
        : undefined;
    });
    const s = statusOf(ready);
    assert.equal(s.readyRegions, "1/1");
    assert.equal(s.connections, 20, "4 nodes × 5 connections, read from the region's etcd members");
    assert.equal(s.regions?.[0]?.capacity, 400);
    assert.equal(condition(ready, "Ready")?.observedGeneration, ready.metadata.generation);
    assert.equal(condition(ready, "Reconciling")?.status, "False");
    const fin = (await cluster(ns))!.metadata.finalizers ?? [];
    assert.ok(fin.includes("edition.dev/cleanup"));
    const { stdout } = await kube.kubectl(["get", "pushcluster", "-n", ns]);
    assert.match(stdout, /READY\s+REGIONS\s+CONNECTIONS\s+CAPACITY\s+AGE/);
    assert.match(stdout, /push\s+True\s+1\/1\s+20\s+400/);
  });

  test("rollout: one pod at a time, zone after zone, each waiting for its drain; a restarted operator does not repeat", async (t) => {
    const ns = await namespace("rollout");
    const etcd = new MemoryRegionEtcd();
    let op: RunningOperator = await startOperator(
      config({ leaseName: "rollout", watchNamespaces: [ns] }),
      kc,
      etcd,
      log,
    );
    const fake = new FakeCluster(ns, etcd);
    t.after(async () => {
      await op.stop();
      await fake.stop();
    });
    await createCluster(ns, {
      image: "edition:1",
      replicas: 4,
      regions: [region("eu", { zones: ["a", "b"] })],
    });
    await waitFor("Ready", async () => condition(await cluster(ns), "Ready")?.status === "True");

    // The fake ends every terminating pod itself, so its record of deletions is complete:
    // never more than one at a time (maxUnavailablePerZone=1, zones in turn), zone a first.
    const order = () => fake.deletions.map((d) => d.split("@")[0]!);
    fake.drainGate = false;
    const c = await cluster(ns);
    await api.mergePatch(
      { apiVersion: "edition.dev/v1alpha1", kind: "PushCluster", namespace: ns, name: "push" },
      { spec: { image: "edition:2" } },
    );
    const first = await waitFor("first drain", async () => order()[0]);
    assert.match(first, /^push-eu-a-/);
    // The drain is held: the node still reports connections, so nothing else is deleted.
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(order(), [first], "only the first pod drains while it holds connections");
    const waiting = statusOf(await cluster(ns)).regions?.[0] as { message?: string } | undefined;
    assert.match(waiting?.message ?? "", new RegExp(`draining ${first} \\(5 connections left\\)`));

    // Restart the operator mid-drain: the new one sees the same draining pod and waits too.
    await op.stop();
    op = await startOperator(
      config({ leaseName: "rollout", identity: "op-2", watchNamespaces: [ns] }),
      kc,
      etcd,
      log,
    );
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(order(), [first], "the restarted operator did not start a second drain");

    fake.drainGate = true;
    await waitFor(
      "rollout complete",
      async () => {
        const x = await cluster(ns);
        return (
          (x?.metadata.generation ?? 0) > (c?.metadata.generation ?? 0) &&
          statusOf(x).observedGeneration === x?.metadata.generation &&
          condition(x, "Ready")?.status === "True" &&
          (await api.list("v1", "Pod", ns)).items.every((p) =>
            JSON.stringify(p.spec).includes("edition:2"),
          )
        );
      },
      60_000,
    );
    assert.equal(fake.maxTerminating, 1);
    assert.equal(order().length, 4, `each pod replaced exactly once: ${order().join(",")}`);
    assert.deepEqual(
      order().map((n) => n.slice(0, "push-eu-a".length)),
      ["push-eu-a", "push-eu-a", "push-eu-b", "push-eu-b"],
    );
    assert.equal(new Set(fake.deletions).size, 4, "no pod was deleted twice");
  });

  test("failover: an unhealthy region is marked failed, capacity moves to survivors, then it recovers", async (t) => {
    const ns = await namespace("failover");
    const etcd = new MemoryRegionEtcd();
    const op = await startOperator(
      config({ leaseName: "failover", watchNamespaces: [ns] }),
      kc,
      etcd,
      log,
    );
    const fake = new FakeCluster(ns, etcd);
    t.after(async () => {
      await op.stop();
      await fake.stop();
    });
    await createCluster(ns, {
      image: "edition:1",
      replicas: 2,
      failover: { detectionDelaySeconds: 1, maxReHomeRate: 1000 },
      regions: [
        region("eu", { nodes: { maxConnections: 100, maxReplicas: 4 } }),
        region("us", { failoverPriority: 50 }),
      ],
    });
    await waitFor("Ready", async () => condition(await cluster(ns), "Ready")?.status === "True");

    etcd.unreachable.add("http://etcd-us:2379");
    const failed = await waitFor(
      "us failed",
      async () => {
        const c = await cluster(ns);
        return statusOf(c).regions?.find((r) => r.name === "us")?.failover.state === "failed"
          ? c
          : undefined;
      },
      30_000,
      async () => JSON.stringify((await cluster(ns))?.status),
    );
    assert.equal(condition(failed, "RegionFailover")?.status, "True");
    assert.equal(condition(failed, "Degraded")?.status, "True");
    await waitFor(
      "eu scaled by the lost capacity",
      async () => (await replicasOf(ns, "push-eu")) === 4,
    );
    const cm = await waitFor("ConfigMap says failed", async () => {
      const x = await get(ns, "v1", "ConfigMap", "push-regions");
      return (x?.data as Record<string, string>)?.us?.includes('"failed"') ? x : undefined;
    });
    assert.match((cm.data as Record<string, string>).eu!, /"active"/);
    const inEu = etcd.data.get(`http://etcd-eu:2379|${regionStateKey("/edition", "us")}`);
    assert.match(
      inEu ?? "",
      /"state":"failed"/,
      "the surviving region's etcd carries the failed state",
    );
    const { items: events } = await api.list("v1", "Event", ns);
    assert.ok(events.some((e) => e.reason === "RegionFailed"));

    etcd.unreachable.delete("http://etcd-us:2379");
    await waitFor(
      "us active again",
      async () =>
        statusOf(await cluster(ns)).regions?.find((r) => r.name === "us")?.failover.state ===
        "active",
      30_000,
    );
    await waitFor("eu back to 2", async () => (await replicasOf(ns, "push-eu")) === 2);
    const { items: later } = await api.list("v1", "Event", ns);
    assert.ok(later.some((e) => e.reason === "RegionRecovering"));
  });

  test("adoption: a failed region's replica (real Redis) is promoted and adopted, then handed back without loss", async (t) => {
    const ns = await namespace("adoption");
    const etcd = new MemoryRegionEtcd();
    // us's Redis and its replica, which lives in eu: real redis-server processes.
    const primary = await startRedis({ t });
    const replica = await startRedis({
      t,
      args: () => ["--replicaof", "127.0.0.1", String(primary.port)],
    });
    await linked(replica);
    const redis = new IoRedisRegionRedis({ commandTimeoutMs: 1000 });
    const op = await startOperator(
      config({ leaseName: "adoption", watchNamespaces: [ns] }),
      kc,
      etcd,
      log,
      undefined,
      redis,
    );
    const fake = new FakeCluster(ns, etcd);
    t.after(async () => {
      await op.stop();
      await fake.stop();
      await redis.close();
    });
    await createCluster(ns, {
      image: "edition:1",
      replicas: 2,
      durability: { mode: "global" },
      failover: { detectionDelaySeconds: 1, maxReHomeRate: 1000 },
      regions: [
        region("eu", { publicUrl: "https://push-eu.example" }),
        region("us", {
          publicUrl: "https://push-us.example",
          redis: { url: primary.url, replica: { url: replica.url, region: "eu" } },
        }),
      ],
    });
    await waitFor("Ready", async () => condition(await cluster(ns), "Ready")?.status === "True");
    const sts = (await get(ns, "apps/v1", "StatefulSet", "push-us"))!.spec as {
      template: { spec: { containers: { env: { name: string; value?: string }[] }[] } };
    };
    const env = sts.template.spec.containers[0]!.env;
    assert.equal(env.find((e) => e.name === "EDITION_DURABILITY")?.value, "global");
    const record = (where: string) =>
      JSON.parse(
        etcd.data.get(`http://etcd-${where}:2379|${regionStateKey("/edition", "us")}`) ?? "{}",
      );
    assert.equal(record("eu").replicaUrl, replica.url, "every region learns where us's replica is");
    assert.equal(record("eu").endpoint, "https://push-us.example");
    await waitFor("replication lag exported", async () =>
      /edition_operator_replica_connected\{cluster="push",region="us"\} 1/.test(
        await op.registry.metrics(),
      ),
    );

    // us is lost: failed, its replica promoted, eu adopts it.
    await redisCommand(primary.port, ["SET", "edition:before", "1"]);
    etcd.unreachable.add("http://etcd-us:2379");
    const adopted = await waitFor(
      "us adopted by eu",
      async () => {
        const c = await cluster(ns);
        return statusOf(c).regions?.find((r) => r.name === "us")?.adoption?.phase === "adopted"
          ? c
          : undefined;
      },
      30_000,
      async () => JSON.stringify((await cluster(ns))?.status),
    );
    assert.match(await redisCommand(replica.port, ["INFO", "replication"]), /role:master/);
    assert.equal(await redisCommand(replica.port, ["GET", "edition:before"]), "1");
    assert.equal(record("eu").adoptedBy, "eu");
    assert.equal(record("eu").state, "failed");
    assert.match(condition(adopted, "RegionFailover")?.message ?? "", /us's clients served by eu/);
    const { items: events } = await api.list("v1", "Event", ns);
    assert.ok(events.some((e) => e.reason === "RegionAdopted"));

    // Written while adopted (eu serving us's clients from the promoted replica).
    await redisCommand(replica.port, ["SET", "edition:adopted", "2"]);
    etcd.unreachable.delete("http://etcd-us:2379");
    await waitFor(
      "us handed back",
      async () =>
        statusOf(await cluster(ns)).regions?.find((r) => r.name === "us")?.adoption?.phase ===
        "home",
      30_000,
      async () => JSON.stringify((await cluster(ns))?.status),
    );
    assert.match(await redisCommand(primary.port, ["INFO", "replication"]), /role:master/);
    assert.equal(await redisCommand(primary.port, ["GET", "edition:adopted"]), "2", "nothing lost");
    await waitFor("the promoted replica is a replica again", async () =>
      /master_link_status:up/.test(await redisCommand(replica.port, ["INFO", "replication"])),
    );
    assert.equal(record("eu").adoptedBy, undefined);
    const { items: later } = await api.list("v1", "Event", ns);
    assert.ok(later.some((e) => e.reason === "RegionHandedBack"));
  });

  test("two replicas: one leader; the standby takes over when it stops", async () => {
    const etcd = new MemoryRegionEtcd();
    const a = await startOperator(
      config({ leaseName: "ha", identity: "a", watchNamespaces: ["ha"] }),
      kc,
      etcd,
      log,
    );
    const b = await startOperator(
      config({ leaseName: "ha", identity: "b", watchNamespaces: ["ha"] }),
      kc,
      etcd,
      log,
    );
    try {
      await waitFor("a leader", async () => a.isLeader() || b.isLeader());
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal([a, b].filter((x) => x.isLeader()).length, 1, "exactly one leader");
      const [leader, standby] = a.isLeader() ? [a, b] : [b, a];
      await leader.stop();
      await waitFor("standby leads", async () => standby.isLeader(), 15_000);
      const metrics = await standby.registry.metrics();
      assert.match(metrics, /leader_election_master_status\{name="ha"\} 1/);
      assert.match(metrics, /workqueue_depth/);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  test("watching a list of namespaces: PushClusters there are reconciled, one elsewhere is left alone", async (t) => {
    const [a, b, other] = [
      await namespace("list-a"),
      await namespace("list-b"),
      await namespace("list-c"),
    ];
    const etcd = new MemoryRegionEtcd();
    const op = await startOperator(
      config({ leaseName: "list", watchNamespaces: [a, b] }),
      kc,
      etcd,
      log,
    );
    t.after(() => op.stop());
    for (const ns of [other, a, b])
      await createCluster(ns, { image: "edition:1", replicas: 1, regions: [region("eu")] });
    for (const ns of [a, b])
      await waitFor(`StatefulSet in ${ns}`, async () => (await replicasOf(ns, "push-eu")) === 1);
    // Reconciled ones carry the finalizer; the other was never touched.
    for (const ns of [a, b])
      assert.ok((await cluster(ns))?.metadata.finalizers?.includes("edition.dev/cleanup"));
    assert.equal(await replicasOf(other, "push-eu"), undefined);
    assert.equal((await cluster(other))?.metadata.finalizers, undefined);
    assert.equal((await cluster(other))?.status, undefined);
  });

  test("deletion: the finalizer removes region state from every region's etcd, then lets go", async (t) => {
    const ns = await namespace("deletion");
    const etcd = new MemoryRegionEtcd();
    const op = await startOperator(
      config({ leaseName: "deletion", watchNamespaces: [ns] }),
      kc,
      etcd,
      log,
    );
    const fake = new FakeCluster(ns, etcd);
    t.after(async () => {
      await op.stop();
      await fake.stop();
    });
    await createCluster(ns, {
      image: "edition:1",
      replicas: 1,
      regions: [region("eu"), region("us")],
    });
    const key = `http://etcd-us:2379|${regionStateKey("/edition", "eu")}`;
    await waitFor("region state published", async () => etcd.data.has(key));
    await api.delete({
      apiVersion: "edition.dev/v1alpha1",
      kind: "PushCluster",
      namespace: ns,
      name: "push",
    });
    await waitFor(
      "PushCluster gone",
      async () => (await cluster(ns)) === undefined,
      30_000,
      async () => JSON.stringify((await cluster(ns))?.metadata),
    );
    assert.equal([...etcd.data.keys()].filter((k) => k.includes("/regions/")).length, 0);
  });

  test("main.ts: the composition root serves /healthz /readyz /metrics, reconciles, and releases its Lease on SIGTERM", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "operator/src/main.ts"], {
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: kube.kubeconfigPath,
        EDITION_OPERATOR_METRICS_PORT: "0",
        EDITION_OPERATOR_LEASE_NAME: "main",
        EDITION_OPERATOR_ETCD_TIMEOUT_MS: "300",
        POD_NAME: "main-1",
        POD_NAMESPACE: "default",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      // Port 0: the process picks a free one and logs it (no pre-picked port to race for).
      const port = await waitFor(
        "the started line",
        async () => {
          const line = out.split("\n").find((l) => l.includes('"event":"started"'));
          return line ? (JSON.parse(line) as { metricsPort: number }).metricsPort : undefined;
        },
        30_000,
        async () => `${out}\n${err}`,
      );
      const body = (path: string) =>
        fetch(`http://127.0.0.1:${port}${path}`).then(async (r) => (r.ok ? r.text() : undefined));
      await waitFor(
        "/healthz",
        () => body("/healthz"),
        30_000,
        async () => `${out}\n${err}`,
      );
      await waitFor("/readyz", () => body("/readyz"));
      const metrics = await waitFor("a reconcile counted", async () => {
        const m = await body("/metrics");
        return m?.includes('controller_runtime_reconcile_total{controller="pushcluster"')
          ? m
          : undefined;
      });
      assert.match(metrics, /controller_runtime_reconcile_time_seconds_bucket/);
      assert.match(metrics, /workqueue_depth\{name="pushcluster",controller="pushcluster"\}/);
      assert.match(metrics, /leader_election_master_status\{name="main"\} 1/);
      assert.match(out, /"event":"started"/);
      const line = out.split("\n").find((l) => l.includes('"event":"started"'))!;
      assert.doesNotThrow(() => JSON.parse(line), "logs are JSON lines");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0);
    const lease = await get("default", "coordination.k8s.io/v1", "Lease", "main");
    assert.equal(
      (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity,
      "",
      "released for a standby",
    );
  });
});
