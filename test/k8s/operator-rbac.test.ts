/**
 * The operator running with exactly the rights the chart grants it: the chart's RBAC and
 * ServiceAccount applied to a real kube-apiserver, the operator authenticated with a token of
 * that ServiceAccount (TokenRequest). SubjectAccessReviews (chart.test.ts) check the rules one
 * by one; this checks they are enough for what the operator really does, and that the Secrets
 * scope shows up for a user as a clear status instead of failing passes.
 *
 * Default chart values (all namespaces): a PushCluster in the release namespace is reconciled
 * (workloads, Services, NetworkPolicy, its generated Secret); one in a namespace without the
 * Secrets grant is reported Stalled with the way out.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { HttpKube } from "../../operator/src/kube-http.js";
import { createLogger } from "../../operator/src/log.js";
import type { KubeObject } from "../../operator/src/model.js";
import { type RunningOperator, startOperator } from "../../operator/src/operator.js";
import { MemoryRegionEtcd } from "../../operator/src/region-etcd.js";
import { applyCrds, findTool, type Kube, kubeSkip, run, startKube } from "../support/kube.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const skip = kubeSkip(["kube-apiserver", "etcd", "kubectl", "helm"]);
const NS = "edition";
const OTHER = "team-a";
const SA = "edition-operator";

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
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
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const spec = {
  image: "edition:1",
  replicas: 1,
  regions: [
    {
      name: "eu",
      etcd: { endpoints: ["http://etcd-eu:2379"] },
      redis: { url: "redis://redis-eu:6379" },
    },
  ],
};

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}

describe("the operator with the chart's RBAC only", { skip, timeout: 300_000 }, () => {
  let kube: Kube;
  let admin: HttpKube;
  let op: RunningOperator | undefined;

  before(async () => {
    kube = await startKube();
    await applyCrds(kube, join(ROOT, "charts/edition/crds"));
    for (const ns of [NS, OTHER]) await kube.kubectl(["create", "namespace", ns]);
    const helm = findTool("helm")!;
    const { stdout } = await run(
      helm,
      ["template", "edition", join(ROOT, "charts/edition"), "-n", NS],
      {
        env: {
          ...process.env,
          HELM_CACHE_HOME: kube.dir,
          HELM_CONFIG_HOME: kube.dir,
          HELM_DATA_HOME: kube.dir,
        },
      },
    );
    // Only the identity and its rights: the operator itself runs in this process.
    const docs = stdout
      .split(/^---$/m)
      .filter((d) =>
        /^kind: (ServiceAccount|ClusterRole|ClusterRoleBinding|Role|RoleBinding)$/m.test(d),
      );
    await kube.kubectl(["apply", "--server-side", "-f", "-"], { input: docs.join("\n---\n") });
    const token = (await kube.kubectl(["create", "token", SA, "-n", NS])).stdout.trim();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: "t", server: kube.server, caData: Buffer.from(kube.caData).toString("base64") },
      ],
      users: [{ name: SA, token }],
      contexts: [{ name: "t", cluster: "t", user: SA }],
      currentContext: "t",
    });
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(kube.kubeconfigPath);
    admin = new HttpKube(adminKc, { fieldManager: "test" });
    op = await startOperator(
      {
        watchNamespaces: [],
        leaderElection: true,
        // The Lease the chart lets this ServiceAccount use, in the release namespace.
        leaseName: "edition-operator-leader",
        leaseNamespace: NS,
        identity: "rbac-test",
        metricsPort: -1,
        workers: 2,
        activeResyncSeconds: 1,
        idleResyncSeconds: 2,
        etcdTimeoutMs: 300,
        logLevel: "silent",
      },
      kc,
      new MemoryRegionEtcd(),
      createLogger(process.env.OPERATOR_TEST_LOG ?? "silent"),
    );
  });
  after(async () => {
    await op?.stop();
    await kube?.stop();
  });

  const create = (ns: string) =>
    admin.create({
      apiVersion: "edition.dev/v1alpha1",
      kind: "PushCluster",
      metadata: { name: "push", namespace: ns },
      spec,
    } as KubeObject);
  const get = (ns: string, apiVersion: string, kind: string, name: string) =>
    admin.get({ apiVersion, kind, namespace: ns, name });
  const conditions = async (ns: string) =>
    (
      ((await get(ns, "edition.dev/v1alpha1", "PushCluster", "push"))?.status ?? {}) as {
        conditions?: Cond[];
      }
    ).conditions ?? [];

  test("in the release namespace: every object is created as the operator's ServiceAccount", async () => {
    await create(NS);
    for (const [apiVersion, kind, name] of [
      ["v1", "Secret", "push-secrets"],
      ["apps/v1", "StatefulSet", "push-eu"],
      ["apps/v1", "Deployment", "push-eu-balancer"],
      ["v1", "Service", "push-eu-router"],
      ["v1", "ConfigMap", "push-regions"],
      ["policy/v1", "PodDisruptionBudget", "push-eu-nodes"],
      ["networking.k8s.io/v1", "NetworkPolicy", "push-eu-netpol"],
    ] as const) {
      const o = await waitFor(`${kind} ${name}`, () => get(NS, apiVersion, kind, name));
      assert.equal(o.metadata.namespace, NS);
    }
    const conds = await waitFor("status", async () => {
      const c = await conditions(NS);
      return c.length > 0 ? c : undefined;
    });
    assert.equal(conds.find((c) => c.type === "Stalled")?.status, "False", JSON.stringify(conds));
  });

  test("in a namespace without the Secrets grant: Stalled, saying how to grant it; nothing created", async () => {
    await create(OTHER);
    const stalled = await waitFor("Stalled", async () =>
      (await conditions(OTHER)).find((c) => c.type === "Stalled" && c.status === "True"),
    );
    assert.match(stalled.message, /the operator may not use Secrets in namespace team-a/);
    assert.match(stalled.message, /rbac\.secretNamespaces/);
    assert.equal(await get(OTHER, "apps/v1", "StatefulSet", "push-eu"), undefined);
  });
});
