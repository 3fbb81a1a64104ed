/**
 * PushClusters and the objects the operator makes from them, against a real kube-apiserver
 * with the generated CRD installed (test/support/kube.ts), as a platform engineer meets them:
 *
 * - the chart's example manifests (examples/minimal.yaml, examples/multi-region.yaml) are
 *   accepted by `kubectl apply --server-side`, for real;
 * - malformed strings (urlTemplate, publicUrl, etcd endpoints, …) are refused at apply time
 *   with the CRD rule's message, and `kubectl explain` documents the fields;
 * - every object the operator would create for those examples is stored by the API server in
 *   a namespace enforcing Pod Security "restricted": StatefulSets, Deployments, Services,
 *   PodDisruptionBudgets, NetworkPolicies, and a Pod made from each pod template (created for
 *   real; nothing schedules it). A pod stripped of its security settings is refused there,
 *   so the acceptance means something.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { desiredObjects } from "../../operator/src/desired.js";
import type { KubeObject } from "../../operator/src/model.js";
import { input } from "../../operator/src/testdata/specs.js";
import { applyCrds, type Kube, kubeSkip, startKube } from "../support/kube.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const EXAMPLES = join(ROOT, "charts/edition/examples");
const CRD = join(ROOT, "charts/edition/crds/pushclusters.edition.dev.yaml");
const NS = "edition";
const skip = kubeSkip(["kube-apiserver", "etcd", "kubectl"]);

type Manifest = { metadata: { name: string; namespace: string; uid?: string }; spec: object };
const example = (file: string): { text: string; obj: Manifest } => {
  const text = readFileSync(join(EXAMPLES, file), "utf8");
  return { text, obj: parse(text) as Manifest };
};

describe("PushCluster manifests and operator objects on a real kube-apiserver", { skip }, () => {
  let kube: Kube;

  before(async () => {
    kube = await startKube();
    await kube.kubectl(["create", "namespace", NS]);
    await kube.kubectl([
      "label",
      "namespace",
      NS,
      "pod-security.kubernetes.io/enforce=restricted",
      "pod-security.kubernetes.io/warn=restricted",
    ]);
    await applyCrds(kube, CRD);
  });
  after(() => kube?.stop());

  const apply = (yaml: string, allowFailure = false) =>
    kube.kubectl(["apply", "--server-side", "--field-manager=pushcluster-test", "-f", "-"], {
      input: yaml,
      allowFailure,
    });

  async function stored(name: string): Promise<KubeObject & { spec: Record<string, unknown> }> {
    const r = await kube.kubectl(["get", "pushcluster", name, "-n", NS, "-o", "json"]);
    return JSON.parse(r.stdout);
  }

  for (const file of ["minimal.yaml", "multi-region.yaml"]) {
    test(`examples/${file} is accepted by kubectl apply --server-side and stored with defaults`, async () => {
      const { text, obj } = example(file);
      const r = await apply(text);
      assert.match(r.stdout, /pushcluster\.edition\.dev\/push serverside-applied/);
      assert.equal(r.stderr, "", "no warnings");
      const s = await stored(obj.metadata.name);
      // The API server filled the CRD's defaults: what the operator will read.
      assert.deepEqual((s.spec.rollout as object) ?? {}, {
        maxUnavailablePerZone: 1,
        drainTimeoutSeconds: 300,
      });
      assert.equal((s.spec.networkPolicy as { enabled: boolean }).enabled, true);
      const list = await kube.kubectl(["get", "pushclusters", "-n", NS]);
      assert.match(list.stdout, /^NAME\s+READY\s+REGIONS\s+CONNECTIONS\s+CAPACITY\s+AGE\n/);
      assert.match(list.stdout, /\npush\s+/);
      await kube.kubectl(["delete", "pushcluster", obj.metadata.name, "-n", NS]);
    });
  }

  test("malformed strings are refused at apply time with the rule's message", async () => {
    const { obj } = example("minimal.yaml");
    const region = (obj.spec as { regions: Record<string, unknown>[] }).regions[0]!;
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { nodeServices: { urlTemplate: "wss://push.example.com/" } },
        /nodeServices\.urlTemplate: Invalid value: .*must be ws:\/\/ or wss:\/\/, then a host containing \{node\}/,
      ],
      [
        { nodeServices: { urlTemplate: "wss://{node}.push.example.com/ws" } },
        /urlTemplate: Invalid value: .*no path/,
      ],
      [
        { nodeServices: { urlTemplate: "https://{node}.push.example.com" } },
        /urlTemplate: Invalid value: .*must be ws:\/\/ or wss:\/\//,
      ],
      [{ publicUrl: "push.example.com" }, /publicUrl: Invalid value: .*must be an http/],
      [
        { etcd: { endpoints: ["etcd-eu-west:2379"] } },
        /endpoints\[0\]: Invalid value: .*must be one http\(s\):\/\/host:port/,
      ],
      [
        { redis: { url: "redis-eu-west:6379" } },
        /redis\.url: Invalid value: .*must be a redis:\/\/ or rediss:\/\//,
      ],
      [
        { redis: { url: "redis://r", mode: "sentinel", sentinels: ["s-0"], sentinelName: "m" } },
        /sentinels\[0\]: Invalid value: .*must be host:port/,
      ],
      [
        { redis: { url: "redis://r", passwordSecretRef: { name: "Redis_EU" } } },
        /passwordSecretRef\.name: Invalid value: .*must be a Secret name/,
      ],
      [{ name: "EU-West" }, /regions\[0\]\.name: Invalid value: .*must be a DNS label/],
    ];
    for (const [patch, expected] of cases) {
      const bad = {
        apiVersion: "edition.dev/v1alpha1",
        kind: "PushCluster",
        metadata: { name: "bad", namespace: NS },
        spec: { ...obj.spec, regions: [{ ...region, ...patch }] },
      };
      const r = await apply(JSON.stringify(bad), true);
      assert.notEqual(r.code, 0, `${JSON.stringify(patch)} was accepted`);
      assert.match(r.stderr, expected);
    }
    const none = await kube.kubectl(["get", "pushclusters", "-n", NS, "-o", "name"]);
    assert.equal(none.stdout.trim(), "", "nothing refused was stored");
  });

  test("kubectl explain documents the fields", async () => {
    const r = await kube.kubectl(["explain", "pushcluster.spec.regions.nodeServices.urlTemplate"]);
    assert.match(r.stdout, /Public WebSocket URL of one node/);
    const all = await kube.kubectl(["explain", "pushcluster.spec", "--recursive"]);
    assert.match(all.stdout, /metricsFrom/);
  });

  for (const file of ["minimal.yaml", "multi-region.yaml"]) {
    test(`the operator's objects for examples/${file} pass the API server and Pod Security "restricted"`, async () => {
      const { text, obj } = example(file);
      await apply(text);
      const owner = await stored(obj.metadata.name);
      const uid = owner.metadata.uid!;
      const objects = desiredObjects({ ...input(owner.spec, {}, obj.metadata.name, NS), uid });
      const kinds = new Set(objects.map((o) => o.kind));
      for (const k of ["StatefulSet", "Deployment", "Service", "NetworkPolicy"])
        assert.ok(kinds.has(k), `${k} among the objects`);
      const r = await apply(objects.map((o) => JSON.stringify(o)).join("\n"));
      const applied = r.stdout.split("\n").filter((l) => l.includes("serverside-applied"));
      assert.equal(applied.length, objects.length, r.stdout);
      // The namespace warns on pod templates that would be refused.
      assert.doesNotMatch(r.stderr, /PodSecurity/, r.stderr);

      const templates = objects.filter((o) => o.kind === "StatefulSet" || o.kind === "Deployment");
      for (const w of templates) {
        const template = (w.spec as { template: { metadata: object; spec: object } }).template;
        const pod = (name: string, spec: object) =>
          JSON.stringify({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { ...template.metadata, name, namespace: NS },
            spec,
          });
        const name = `${w.metadata.name}-check`;
        const created = await kube.kubectl(["create", "-f", "-"], {
          input: pod(name, template.spec),
        });
        assert.match(created.stdout, /created/, `${w.kind} ${w.metadata.name}`);
        const got = JSON.parse(
          (await kube.kubectl(["get", "pod", name, "-n", NS, "-o", "json"])).stdout,
        );
        assert.equal(got.spec.automountServiceAccountToken, false, "no service-account token");
        await kube.kubectl(["delete", "pod", name, "-n", NS, "--grace-period=0", "--wait=false"]);
      }
      // Control: without its security settings the same pod is refused in this namespace.
      const template = (templates[0]!.spec as { template: { spec: Record<string, unknown> } })
        .template;
      const loose = structuredClone(template.spec) as {
        securityContext?: unknown;
        containers: { securityContext?: unknown }[];
      };
      delete loose.securityContext;
      for (const c of loose.containers) delete c.securityContext;
      const refused = await kube.kubectl(["create", "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: "loose", namespace: NS },
          spec: loose,
        }),
        allowFailure: true,
      });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /violates PodSecurity "restricted/);

      // Clean up for the next example (no garbage collector runs here).
      await kube.kubectl(["delete", "-f", "-", "--wait=false"], {
        input: objects.map((o) => JSON.stringify(o)).join("\n"),
      });
      await kube.kubectl(["delete", "pushcluster", obj.metadata.name, "-n", NS]);
    });
  }
});
