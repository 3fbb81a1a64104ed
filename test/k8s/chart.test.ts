/**
 * The Helm chart (charts/edition) and the two Dockerfiles, checked the way an installer
 * would meet them:
 *
 * - `helm lint --strict` and the values schema (a typo in values is an error, not a no-op);
 * - every rendered object, for the defaults, the multi-region example and namespaced mode,
 *   applied with server-side dry-run to a real kube-apiserver (test/support/kube.ts), with the
 *   PushCluster CRD created for real first: the API server validates each object, the CRD
 *   validates the example PushCluster, Pod Security admission ("restricted") the operator pod;
 * - the operator's RBAC applied for real and probed with SubjectAccessReviews: every
 *   permission the operator needs is granted, nothing beyond its scope is;
 * - the Dockerfiles' EXPOSE/ENTRYPOINT/USER against the chart and the node's config defaults.
 *
 * Needs helm, kubectl, kube-apiserver (scripts/install-kube-tools.sh) and etcd; skips with the
 * reason when they are missing on a developer machine, never under CI.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { applyCrds, findTool, type Kube, kubeSkip, run, startKube } from "../support/kube.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CHART = join(ROOT, "charts/edition");
const MULTI_REGION = join(CHART, "examples/values-multi-region.yaml");
const CRD = join(CHART, "crds/pushclusters.edition.dev.yaml");
const RELEASE = "edition";
const NS = "edition";

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};
// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked by path in assertions
type Any = any;

const helmSkip = kubeSkip(["helm"]);
// The CRD is generated from operator/src/crd.ts by the operator's build; until it exists only
// the tests that need it are skipped.
const crdSkip = existsSync(CRD) ? false : `${CRD} not generated yet (from operator/src/crd.ts)`;
const clusterSkip = kubeSkip(["helm", "kubectl", "kube-apiserver", "etcd"]);

let helmHome: string | undefined;
async function helm(args: readonly string[], allowFailure = false) {
  helmHome ??= await mkdtemp(join(tmpdir(), "edition-helm-"));
  const bin = findTool("helm");
  if (bin === undefined) throw new Error("helm not found: run scripts/install-kube-tools.sh");
  // Own cache/config dirs: nothing read from or written to the user's Helm setup.
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(helmHome, "cache"),
    HELM_CONFIG_HOME: join(helmHome, "config"),
    HELM_DATA_HOME: join(helmHome, "data"),
  };
  return run(bin, args, { env, allowFailure });
}
after(() => (helmHome ? rm(helmHome, { recursive: true, force: true }) : undefined));

/** `helm template` of the chart with extra args, parsed into objects. */
async function render(...args: string[]): Promise<{ yaml: string; objects: Obj[] }> {
  const { stdout } = await helm(["template", RELEASE, CHART, "--namespace", NS, ...args]);
  const objects = parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
  return { yaml: stdout, objects };
}

function one(objects: readonly Obj[], kind: string, name?: string): Any {
  const found = objects.filter(
    (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
  );
  assert.equal(found.length, 1, `exactly one ${kind}${name ? ` ${name}` : ""} in the render`);
  return found[0];
}

const envOf = (container: Any): Record<string, string | undefined> =>
  Object.fromEntries((container.env ?? []).map((e: Any) => [e.name, e.value]));

describe("helm lint and values schema", { skip: helmSkip }, () => {
  test("the chart lints clean under --strict: defaults, multi-region example, namespaced", async () => {
    for (const extra of [[], ["-f", MULTI_REGION], ["--set", "operator.watchNamespace=team-a"]]) {
      const r = await helm(["lint", "--strict", CHART, "--namespace", NS, ...extra]);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, r.stdout);
    }
  });

  test("values the chart does not know, or an enabled PushCluster without regions, are refused", async () => {
    const cases: [string[], RegExp][] = [
      [["--set", "operator.replica=3"], /additional properties 'replica' not allowed/],
      [["--set", "pushCluster.enabled=true"], /missing property 'regions'/],
      [["--set", "operator.watchNamespace=Not_A_Namespace"], /watchNamespace/],
      [
        ["--set", "operator.leaderElection.enabled=false"],
        /requires operator.leaderElection.enabled/,
      ],
      [["-f", MULTI_REGION, "--set", "operator.watchNamespace=elsewhere"], /does not watch/],
    ];
    for (const [args, expected] of cases) {
      const r = await helm(["template", RELEASE, CHART, "--namespace", NS, ...args], true);
      assert.notEqual(r.code, 0, `helm template ${args.join(" ")} should fail`);
      assert.match(r.stderr, expected);
    }
  });
});

describe("rendered operator", { skip: helmSkip }, () => {
  test("two leader-elected replicas with the downward API, probes and restricted security", async () => {
    const { objects } = await render();
    const dep = one(objects, "Deployment");
    assert.equal(dep.spec.replicas, 2);
    const pod = dep.spec.template.spec;
    const [c] = pod.containers;
    const env = envOf(c);
    assert.equal(env.EDITION_OPERATOR_LEADER_ELECTION, "true");
    assert.equal(env.EDITION_OPERATOR_WATCH_NAMESPACE, "");
    assert.equal(env.EDITION_OPERATOR_LEASE_NAME, "edition-operator-leader");
    assert.equal(env.EDITION_OPERATOR_METRICS_PORT, "9465");
    const fieldRef = (n: string) =>
      c.env.find((e: Any) => e.name === n)?.valueFrom?.fieldRef?.fieldPath;
    assert.equal(fieldRef("POD_NAME"), "metadata.name");
    assert.equal(fieldRef("POD_NAMESPACE"), "metadata.namespace");
    assert.equal(c.readinessProbe.httpGet.path, "/readyz");
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
      assert.ok(
        c.ports.some((port: Any) => port.name === p.httpGet.port && port.containerPort === 9465),
      );
    }
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault");
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    assert.ok(c.resources.requests.cpu && c.resources.limits.memory, "requests and a memory limit");
    assert.equal(pod.enableServiceLinks, false, "no <SERVICE>_PORT variables leak into EDITION_*");
    assert.equal(one(objects, "ServiceAccount").metadata.name, pod.serviceAccountName);
    assert.equal(one(objects, "PodDisruptionBudget").spec.maxUnavailable, 1);
  });

  test("watching one namespace installs Roles there and grants the operator nothing cluster-wide", async () => {
    const { objects } = await render("--set", "operator.watchNamespace=team-a");
    assert.equal(
      envOf(one(objects, "Deployment").spec.template.spec.containers[0])
        .EDITION_OPERATOR_WATCH_NAMESPACE,
      "team-a",
    );
    assert.equal(objects.filter((o) => o.kind === "ClusterRoleBinding").length, 0);
    // The only ClusterRoles left are the aggregated user roles, which bind nobody by themselves.
    for (const cr of objects.filter((o) => o.kind === "ClusterRole")) {
      assert.ok(
        Object.keys(cr.metadata.labels ?? {}).some((l) =>
          l.startsWith("rbac.authorization.k8s.io/aggregate-to-"),
        ),
        `${cr.metadata.name} is an aggregated role`,
      );
    }
    const roles = objects
      .filter((o) => o.kind === "Role")
      .map((o) => `${o.metadata.namespace}/${o.metadata.name}`);
    assert.deepEqual(roles.sort(), [
      "edition/edition-operator-leader-election",
      "team-a/edition-operator",
    ]);
  });

  test("the example PushCluster is off by default and takes the push node image when on", async () => {
    const defaults = await render();
    assert.equal(defaults.objects.filter((o) => o.kind === "PushCluster").length, 0);
    const example = await render("-f", MULTI_REGION);
    const pc = one(example.objects, "PushCluster");
    assert.equal(pc.apiVersion, "edition.dev/v1alpha1");
    assert.equal(pc.spec.image, "edition/push-node:0.1.0");
    assert.deepEqual(
      pc.spec.regions.map((r: Any) => r.name),
      ["eu-west", "us-east"],
    );
  });
});

const CRUD = ["get", "list", "watch", "create", "update", "patch", "delete"] as const;

/** What the operator must be able to do (the interface agreed with operator/). */
const NEEDED: readonly {
  group: string;
  resource: string;
  verbs: readonly string[];
  sub?: string;
}[] = [
  {
    group: "edition.dev",
    resource: "pushclusters",
    verbs: ["get", "list", "watch", "update", "patch"],
  },
  {
    group: "edition.dev",
    resource: "pushclusters",
    sub: "status",
    verbs: ["get", "update", "patch"],
  },
  { group: "edition.dev", resource: "pushclusters", sub: "finalizers", verbs: ["update"] },
  ...["statefulsets", "deployments"].map((resource) => ({ group: "apps", resource, verbs: CRUD })),
  ...["services", "configmaps"].map((resource) => ({ group: "", resource, verbs: CRUD })),
  { group: "", resource: "pods", verbs: ["get", "list", "watch", "delete"] },
  { group: "policy", resource: "poddisruptionbudgets", verbs: CRUD },
  { group: "networking.k8s.io", resource: "networkpolicies", verbs: CRUD },
  { group: "", resource: "events", verbs: ["create", "patch"] },
  { group: "monitoring.coreos.com", resource: "servicemonitors", verbs: CRUD },
];

interface Access {
  ns: string;
  group: string;
  resource: string;
  verb: string;
  sub?: string;
  name?: string;
}

describe("against a real kube-apiserver", { skip: clusterSkip }, () => {
  let kube: Kube;
  let crdApplied: Promise<Error | undefined> = Promise.resolve(undefined);
  const sa = `system:serviceaccount:${NS}:edition-operator`;

  before(async () => {
    kube = await startKube();
    // Pod Security "restricted", enforced and warned: the operator pod must pass it.
    for (const ns of [NS, "team-a", "team-b"]) {
      await kube.kubectl(["create", "namespace", ns]);
      await kube.kubectl([
        "label",
        "namespace",
        ns,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
      ]);
    }
    if (existsSync(CRD)) {
      // Kept, not thrown: tests that do not need the CRD still run when it is refused.
      crdApplied = applyCrds(kube, CRD).then(
        () => undefined,
        (err: Error) => err,
      );
    }
  });
  after(() => kube?.stop());

  /** Rejects when the CRD was refused: the tests that need it fail with the server's reason. */
  async function needCrd(): Promise<void> {
    const err = await crdApplied;
    if (err) throw err;
  }

  test("the generated PushCluster CRD is accepted (structural schema, CEL rules) and Established", {
    skip: crdSkip,
  }, async () => {
    await needCrd();
    const r = await kube.kubectl(["get", "crd", "pushclusters.edition.dev", "-o", "json"]);
    const crd = JSON.parse(r.stdout) as Any;
    const established = crd.status.conditions.find((c: Any) => c.type === "Established");
    assert.equal(established?.status, "True");
  });

  /** Server-side dry-run apply; returns kubectl's result with one line per accepted object. */
  const dryRun = (yaml: string, allowFailure = false) =>
    kube.kubectl(
      ["apply", "--server-side", "--dry-run=server", "--field-manager=chart-test", "-f", "-"],
      { input: yaml, allowFailure },
    );

  async function assertAccepted(args: string[]) {
    const { yaml, objects } = await render(...args);
    const r = await dryRun(yaml);
    const accepted = r.stdout.split("\n").filter((l) => l.includes("(server dry run)"));
    assert.equal(
      accepted.length,
      objects.length,
      `every object accepted:\n${r.stdout}\n${r.stderr}`,
    );
    assert.doesNotMatch(r.stderr, /would violate PodSecurity/, r.stderr);
    assert.doesNotMatch(r.stderr, /unknown field/i, r.stderr);
    return objects;
  }

  test("the default render is accepted by the API server", async () => {
    const objects = await assertAccepted([]);
    assert.ok(objects.some((o) => o.kind === "Deployment"));
  });

  test("namespaced mode is accepted by the API server", async () => {
    await assertAccepted(["--set", "operator.watchNamespace=team-a"]);
  });

  test("the multi-region example, PushCluster included, is accepted by the API server and its CRD", {
    skip: crdSkip,
  }, async () => {
    await needCrd();
    const objects = await assertAccepted(["-f", MULTI_REGION]);
    assert.ok(objects.some((o) => o.kind === "PushCluster"));
  });

  test("a PushCluster the CRD forbids is refused, so the acceptance above means something", {
    skip: crdSkip,
  }, async () => {
    await needCrd();
    const redis = { url: "redis://redis:6379" };
    const etcd = { endpoints: ["http://etcd:2379"] };
    const cases: [unknown, RegExp][] = [
      // A region without its etcd.
      [{ regions: [{ name: "eu-west", redis }] }, /etcd: Required value/],
      // A field the schema does not have (a typo in an example would look like this).
      [
        { regions: [{ name: "eu-west", redis, etcd, colour: "blue" }] },
        /colour: field not declared in schema/,
      ],
    ];
    for (const [spec, expected] of cases) {
      const { yaml } = await render(
        "--set",
        "pushCluster.enabled=true",
        "--set-json",
        `pushCluster.spec=${JSON.stringify(spec)}`,
      );
      const r = await dryRun(yaml, true);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, expected);
    }
  });

  test("the operator pod passes Pod Security 'restricted' admission (and a root pod does not)", async () => {
    const { objects } = await render();
    const template = one(objects, "Deployment").spec.template;
    const pod = (spec: Any) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "operator-pod-check", namespace: NS, labels: template.metadata.labels },
        spec,
      });
    const ok = await kube.kubectl(["create", "--dry-run=server", "-f", "-"], {
      input: pod(template.spec),
    });
    assert.match(ok.stdout, /created \(server dry run\)/);

    // Control: the same pod without its security contexts is rejected by this server.
    const loose = structuredClone(template.spec);
    delete loose.securityContext;
    for (const c of loose.containers) delete c.securityContext;
    const refused = await kube.kubectl(["create", "--dry-run=server", "-f", "-"], {
      input: pod(loose),
      allowFailure: true,
    });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /violates PodSecurity "restricted/);
  });

  /** Asks the API server, in one request, whether the operator's ServiceAccount may do each. */
  async function allowed(checks: readonly Access[]): Promise<boolean[]> {
    const list = {
      apiVersion: "v1",
      kind: "List",
      items: checks.map((c) => ({
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: sa,
          groups: [
            "system:serviceaccounts",
            `system:serviceaccounts:${NS}`,
            "system:authenticated",
          ],
          resourceAttributes: {
            namespace: c.ns,
            group: c.group,
            resource: c.resource,
            subresource: c.sub ?? "",
            verb: c.verb,
            name: c.name ?? "",
          },
        },
      })),
    };
    // One answer per review, in order ("true"/"false"; `allowed` is always set).
    const r = await kube.kubectl(["create", "-o", "jsonpath={.status.allowed} ", "-f", "-"], {
      input: JSON.stringify(list),
    });
    const answers = r.stdout.trim().split(/\s+/);
    assert.equal(answers.length, checks.length, `one answer per review: ${r.stdout}`);
    return answers.map((a) => a === "true");
  }

  const describeAccess = (a: Access) =>
    `${a.verb} ${a.group || "core"}/${a.resource}${a.sub ? `/${a.sub}` : ""}${a.name ? ` ${a.name}` : ""} in ${a.ns || "all namespaces"}`;

  async function expectAccess(grants: readonly Access[], denials: readonly Access[]) {
    const results = await allowed([...grants, ...denials]);
    const wrong = [
      ...grants.filter((_, i) => !results[i]).map((a) => `denied: ${describeAccess(a)}`),
      ...denials
        .filter((_, i) => results[grants.length + i])
        .map((a) => `allowed: ${describeAccess(a)}`),
    ];
    assert.deepEqual(wrong, [], "RBAC differs from what the operator needs");
  }

  const needs = (ns: string): Access[] =>
    NEEDED.flatMap((n) =>
      n.verbs.map((verb) => ({
        ns,
        group: n.group,
        resource: n.resource,
        verb,
        ...(n.sub ? { sub: n.sub } : {}),
      })),
    );

  /**
   * Secrets: by name only (the ones a PushCluster names, the one the operator generates),
   * and only in `ns`. Listing or watching would hand it every Secret of the namespace.
   */
  const secretChecks = (ns: string): { grants: Access[]; denials: Access[] } => {
    const secret = { ns, group: "", resource: "secrets" };
    return {
      grants: [
        { ...secret, verb: "get", name: "push-secrets" },
        { ...secret, verb: "get", name: "redis-eu" },
        { ...secret, verb: "create" },
        { ...secret, verb: "update", name: "push-secrets" },
      ],
      denials: ["list", "watch", "delete", "patch", "deletecollection"].map((verb) => ({
        ...secret,
        verb,
      })),
    };
  };
  /** No Secret of `ns` may be read or written at all. */
  const noSecrets = (ns: string): Access[] =>
    ["get", "list", "watch", "create", "update", "delete"].map((verb) => ({
      ns,
      group: "",
      resource: "secrets",
      verb,
      ...(verb === "get" || verb === "update" ? { name: "unrelated" } : {}),
    }));

  const leaseChecks = (leaseNs: string): { grants: Access[]; denials: Access[] } => {
    const lease = { group: "coordination.k8s.io", resource: "leases" };
    return {
      grants: [
        { ns: leaseNs, ...lease, verb: "create" },
        ...["get", "update", "patch"].map((verb) => ({
          ns: leaseNs,
          ...lease,
          verb,
          name: "edition-operator-leader",
        })),
      ],
      denials: [
        { ns: leaseNs, ...lease, verb: "update", name: "kube-scheduler" },
        { ns: leaseNs, ...lease, verb: "delete", name: "edition-operator-leader" },
        { ns: "kube-system", ...lease, verb: "get", name: "edition-operator-leader" },
      ],
    };
  };

  // Never needed, in any mode: creating or deleting PushClusters, creating pods directly,
  // touching RBAC (which would allow privilege escalation) or nodes.
  const neverNeeded = (ns: string): Access[] => [
    { ns, group: "edition.dev", resource: "pushclusters", verb: "create" },
    { ns, group: "edition.dev", resource: "pushclusters", verb: "delete" },
    { ns, group: "", resource: "pods", verb: "create" },
    { ns, group: "", resource: "pods", sub: "exec", verb: "create" },
    { ns, group: "rbac.authorization.k8s.io", resource: "roles", verb: "create" },
    { ns, group: "rbac.authorization.k8s.io", resource: "rolebindings", verb: "create" },
    { ns: "", group: "", resource: "nodes", verb: "list" },
    { ns: "", group: "", resource: "namespaces", verb: "delete" },
  ];

  /** Applies the RBAC objects of a render, runs `check`, and removes them again. */
  async function withRbac(args: string[], check: () => Promise<void>) {
    const { objects } = await render(...args);
    const rbac = objects
      .filter((o) => /Role|ServiceAccount/.test(o.kind))
      .map((o) => JSON.stringify(o))
      .join("\n");
    await kube.kubectl(["apply", "--server-side", "-f", "-"], { input: rbac });
    try {
      await check();
    } finally {
      await kube.kubectl(["delete", "-f", "-", "--wait=false"], { input: rbac });
    }
  }

  test("watching all namespaces: the operator may do what it needs everywhere, Secrets only in the release namespace", async () => {
    await withRbac([], async () => {
      const lease = leaseChecks(NS);
      const secrets = secretChecks(NS);
      await expectAccess(
        [...needs("team-a"), ...needs(""), ...lease.grants, ...secrets.grants],
        [
          ...neverNeeded("team-a"),
          ...lease.denials,
          ...secrets.denials,
          // An unrelated Secret elsewhere cannot be read, listed or changed.
          ...noSecrets("team-a"),
          ...noSecrets("kube-system"),
          ...noSecrets(""),
        ],
      );
    });
  });

  test("watching all namespaces with rbac.secretNamespaces: Secrets there too, nowhere else", async () => {
    await withRbac(["--set", "rbac.secretNamespaces={team-a}"], async () => {
      const a = secretChecks("team-a");
      await expectAccess(
        [...a.grants, ...secretChecks(NS).grants],
        [...a.denials, ...noSecrets("team-b"), ...noSecrets("")],
      );
    });
  });

  test("watching two namespaces: a Role in each, Secrets by name there, nothing elsewhere", async () => {
    await withRbac(
      ["--set", "operator.watchNamespace=team-a\\,team-b", "--set", "rbac.serviceMonitors=false"],
      async () => {
        const needed = (ns: string) => [
          ...needs(ns).filter((a) => a.resource !== "servicemonitors"),
          ...secretChecks(ns).grants,
        ];
        await expectAccess(
          [...needed("team-a"), ...needed("team-b")],
          [
            ...needs("").filter((a) => a.verb === "list" || a.verb === "watch"),
            ...needs(NS).filter((a) => a.resource === "statefulsets"),
            ...secretChecks("team-a").denials,
            ...noSecrets(NS),
            ...noSecrets(""),
          ],
        );
      },
    );
  });

  test("watching one namespace: granted there only, nothing in other namespaces or cluster-wide", async () => {
    await withRbac(
      ["--set", "operator.watchNamespace=team-a", "--set", "rbac.serviceMonitors=false"],
      async () => {
        const lease = leaseChecks(NS);
        const secrets = secretChecks("team-a");
        const withoutMonitors = needs("team-a").filter((a) => a.resource !== "servicemonitors");
        await expectAccess(
          [...withoutMonitors, ...lease.grants, ...secrets.grants],
          [
            ...needs("team-b"),
            ...needs("").filter((a) => a.verb === "list" || a.verb === "watch"),
            {
              ns: "team-a",
              group: "monitoring.coreos.com",
              resource: "servicemonitors",
              verb: "create",
            },
            ...neverNeeded("team-a"),
            ...lease.denials,
            ...secrets.denials,
            ...noSecrets("team-b"),
            ...noSecrets(NS),
          ],
        );
      },
    );
  });
});

// ---------------------------------------------------------------------------------------
// Dockerfiles

interface Stage {
  from: string;
  name: string | undefined;
  instructions: { op: string; args: string }[];
}

/** Enough of the Dockerfile grammar for these files: continuations, comments, ARG defaults. */
function parseDockerfile(path: string): Stage[] {
  const lines = readFileSync(path, "utf8").split("\n");
  const logical: string[] = [];
  let cur = "";
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (cur === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) continue;
    if (line.trimStart().startsWith("#")) continue; // comment inside a continuation
    if (line.endsWith("\\")) {
      cur += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((cur + line).trim());
    cur = "";
  }
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\S+)\s+(.*)$/.exec(l);
    assert.ok(m, `${path}: cannot parse "${l}"`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (op === "FROM") {
      const [image, as, name] = args
        .replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? "")
        .split(/\s+/);
      stages.push({
        from: image!,
        name: as?.toUpperCase() === "AS" ? name : undefined,
        instructions: [],
      });
    } else if (stages.length === 0) {
      assert.equal(op, "ARG", `${path}: only ARG may precede FROM`);
      const [k, v] = args.split("=");
      globalArgs[k!] = v ?? "";
    } else {
      stages.at(-1)!.instructions.push({ op, args });
    }
  }
  return stages;
}

function finalStage(path: string): { stages: Stage[]; last: Stage; get(op: string): string[] } {
  const stages = parseDockerfile(path);
  const last = stages.at(-1)!;
  return {
    stages,
    last,
    get: (op) => last.instructions.filter((i) => i.op === op).map((i) => i.args),
  };
}

function exposed(ports: string[]): number[] {
  return ports
    .flatMap((p) => p.split(/\s+/))
    .map((p) => Number(p.replace(/\/tcp$/, "")))
    .sort((a, b) => a - b);
}

function execForm(path: string, op: string, args: string[]): string[] {
  assert.equal(args.length, 1, `${path}: one ${op}`);
  let v: unknown;
  assert.doesNotThrow(() => {
    v = JSON.parse(args[0]!);
  }, `${path}: ${op} must be the exec (JSON) form, so SIGTERM reaches node`);
  return v as string[];
}

/** Default of an integer setting in server/src/config.ts, e.g. EDITION_PORT → 8080. */
function configDefault(name: string): number | undefined {
  const src = readFileSync(join(ROOT, "server/src/config.ts"), "utf8");
  const m = new RegExp(`int\\(\\s*"${name}",\\s*([0-9_]+)`).exec(src);
  return m ? Number(m[1]!.replace(/_/g, "")) : undefined;
}

/** The file a workspace's package.json names as `main`, relative to the repository root. */
function workspaceMain(ws: string): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, ws, "package.json"), "utf8")) as { main: string };
  return `${ws}/${pkg.main.replace(/^\.\//, "")}`;
}

function checkCommon(path: string, workspace: string): { uid: number; gid: number } {
  const f = finalStage(path);
  assert.ok(f.stages.length >= 2, `${path}: multi-stage (build tools stay out of the image)`);
  // One Node for all stages: native modules installed in one stage must load in the last.
  assert.deepEqual(new Set(f.stages.map((s) => s.from)).size, 1, `${path}: all stages on one base`);
  assert.match(
    f.last.from,
    /^node:20-bookworm-slim(@sha256:[a-f0-9]{64})?$/,
    `${path}: Node 20 on Debian 12`,
  );
  const [user] = f.get("USER");
  const m = /^(\d+):(\d+)$/.exec(user ?? "");
  assert.ok(m, `${path}: USER uid:gid, numeric so the kubelet can verify runAsNonRoot`);
  const [uid, gid] = [Number(m[1]), Number(m[2])];
  assert.notEqual(uid, 0, `${path}: not root`);
  const entry = execForm(path, "ENTRYPOINT", f.get("ENTRYPOINT"));
  assert.deepEqual(
    entry,
    ["node", workspaceMain(workspace)],
    `${path}: starts the workspace's main`,
  );
  const [workdir] = f.get("WORKDIR");
  const copied = f.get("COPY").map((c) => c.split(/\s+/).at(-1)!);
  assert.ok(
    copied.some((dest) => entry[1]!.startsWith(`${dest.replace(/\/$/, "")}/`)),
    `${path}: ${entry[1]} is copied into the image (WORKDIR ${workdir})`,
  );
  assert.deepEqual(f.get("CMD"), [], `${path}: no CMD to be overridden by accident`);
  return { uid, gid };
}

describe("Dockerfiles", () => {
  test("push node image: Node 20, non-root, exec-form node server/dist/main.js, ports as configured", () => {
    const path = join(ROOT, "Dockerfile");
    checkCommon(path, "server");
    const ports = exposed(finalStage(path).get("EXPOSE"));
    // The contract (ARCHITECTURE): public 8080, internal router 8081, metrics 9464.
    assert.deepEqual(ports, [8080, 8081, 9464]);
    // The node's own defaults must be what the image exposes.
    for (const name of ["EDITION_PORT", "EDITION_METRICS_PORT", "EDITION_ROUTER_PORT"]) {
      const d = configDefault(name);
      if (name !== "EDITION_ROUTER_PORT")
        assert.ok(d !== undefined, `${name} has a default in config.ts`);
      if (d !== undefined) assert.ok(ports.includes(d), `${name} default ${d} is EXPOSEd`);
    }
  });

  test("operator image matches the chart: entrypoint, metrics port, uid", {
    skip: helmSkip,
  }, async () => {
    const path = join(ROOT, "Dockerfile.operator");
    const { uid, gid } = checkCommon(path, "operator");
    const ports = exposed(finalStage(path).get("EXPOSE"));
    const { objects } = await render();
    const pod = one(objects, "Deployment").spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(
      ports,
      c.ports.map((p: Any) => p.containerPort),
    );
    assert.equal(envOf(c).EDITION_OPERATOR_METRICS_PORT, String(ports[0]));
    // The chart relies on the image's ENTRYPOINT; overriding it would fork the contract.
    assert.equal(c.command, undefined);
    assert.equal(c.args, undefined);
    assert.equal(pod.securityContext.runAsUser, uid);
    assert.equal(pod.securityContext.runAsGroup, gid);
    // Both images run as the same user, so one pod security setting fits both.
    assert.equal(checkCommon(join(ROOT, "Dockerfile"), "server").uid, uid);
  });
});
