/**
 * The chart's monitoring objects (templates/monitoring-*.yaml), rendered with `helm template`
 * as an installer would: PodMonitors and the PrometheusRule only when the cluster serves their
 * APIs (or when forced), the dashboards ConfigMap for Grafana's sidecar, the installer's
 * labels on each; the rule files and dashboards carried unchanged; relabelings that produce
 * the scrape contract from the labels the operator really puts on its pods.
 *
 * Then the render with monitoring on goes through the same server-side dry-run as the rest of
 * the chart (test/k8s/chart.test.ts), on a real kube-apiserver that serves the
 * monitoring.coreos.com kinds (test-only CRDs in ./crds: the Prometheus Operator's own are not
 * available here), so the API server validates every field.
 *
 * Needs helm (and kube-apiserver, etcd, kubectl for the dry-run): scripts/install-kube-tools.sh;
 * skips when they are missing on a developer machine, never under CI.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { parse, parseAllDocuments } from "yaml";
import {
  LABEL_CLUSTER,
  LABEL_COMPONENT,
  LABEL_REGION,
  LABEL_ZONE,
  labels as operatorLabels,
} from "../../operator/src/names.js";
import { applyCrds, findTool, type Kube, kubeSkip, run, startKube } from "../support/kube.js";
import { CHART, DASHBOARDS_DIR, ruleFiles } from "./sources.js";

const TEST_CRDS = fileURLToPath(new URL("./crds/monitoring.coreos.com.yaml", import.meta.url));
const RELEASE = "edition";
const NS = "edition";
const MONITORING_APIS = [
  "--api-versions",
  "monitoring.coreos.com/v1/PodMonitor",
  "--api-versions",
  "monitoring.coreos.com/v1/PrometheusRule",
];

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked by path
  spec?: any;
  data?: Record<string, string>;
};

const helmSkip = kubeSkip(["helm"]);
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

async function render(...args: string[]): Promise<{ yaml: string; objects: Obj[] }> {
  const { stdout } = await helm(["template", RELEASE, CHART, "--namespace", NS, ...args]);
  const objects = parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
  return { yaml: stdout, objects };
}

const kinds = (objects: Obj[], kind: string) => objects.filter((o) => o.kind === kind);
const dashboardsConfigMap = (objects: Obj[]) =>
  objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === `${RELEASE}-dashboards`);

/** Whether a label selector (matchLabels + matchExpressions) selects `labels`. */
function selects(
  sel: {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
  },
  labels: Record<string, string>,
): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const v = labels[e.key];
    if (e.operator === "In" && !(v !== undefined && e.values?.includes(v))) return false;
    if (e.operator === "NotIn" && v !== undefined && e.values?.includes(v)) return false;
    if (e.operator === "Exists" && v === undefined) return false;
    if (e.operator === "DoesNotExist" && v !== undefined) return false;
  }
  return true;
}

/** The target labels a relabeling config gives a pod with `podLabels` and `podName`. */
function relabel(
  relabelings: {
    action?: string;
    sourceLabels?: string[];
    targetLabel: string;
    replacement?: string;
  }[],
  podName: string,
  podLabels: Record<string, string>,
): Record<string, string> {
  const meta: Record<string, string> = { __meta_kubernetes_pod_name: podName };
  for (const [k, v] of Object.entries(podLabels))
    meta[`__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
  const out: Record<string, string> = {};
  for (const r of relabelings) {
    assert.equal(r.action ?? "replace", "replace", "only replace relabelings are modelled here");
    const value =
      r.sourceLabels === undefined
        ? (r.replacement ?? "")
        : r.sourceLabels.map((l) => meta[l] ?? "").join(";");
    if (value !== "") out[r.targetLabel] = value;
  }
  return out;
}

describe("rendered monitoring objects", { skip: helmSkip }, () => {
  test("auto: no PodMonitor or PrometheusRule where the API is not served; the dashboards ConfigMap is", async () => {
    const { objects } = await render();
    assert.equal(kinds(objects, "PodMonitor").length, 0);
    assert.equal(kinds(objects, "PrometheusRule").length, 0);
    assert.ok(dashboardsConfigMap(objects), "dashboards ConfigMap");
  });

  test("auto: both appear where the cluster serves monitoring.coreos.com/v1; false turns each off", async () => {
    const on = await render(...MONITORING_APIS);
    assert.deepEqual(
      kinds(on.objects, "PodMonitor")
        .map((o) => o.metadata.name)
        .sort(),
      [`${RELEASE}-nodes`, `${RELEASE}-operator`],
    );
    assert.equal(kinds(on.objects, "PrometheusRule").length, 1);
    const off = await render(
      ...MONITORING_APIS,
      "--set",
      "monitoring.podMonitor.enabled=false",
      "--set",
      "monitoring.prometheusRule.enabled=false",
      "--set",
      "monitoring.dashboards.enabled=false",
    );
    for (const kind of ["PodMonitor", "PrometheusRule"])
      assert.equal(kinds(off.objects, kind).length, 0, kind);
    assert.equal(dashboardsConfigMap(off.objects), undefined);
  });

  test("true: rendered even where the API is not (yet) served", async () => {
    const { objects } = await render(
      "--set",
      "monitoring.podMonitor.enabled=true",
      "--set",
      "monitoring.prometheusRule.enabled=true",
    );
    assert.equal(kinds(objects, "PodMonitor").length, 2);
    assert.equal(kinds(objects, "PrometheusRule").length, 1);
  });

  test("a value the schema does not know, or a bad enabled, is refused", async () => {
    for (const args of [
      ["--set", "monitoring.podMonitor.enable=true"],
      ["--set", "monitoring.prometheusRule.enabled=maybe"],
      ["--set", "monitoring.podMonitor.interval=30 seconds"],
    ]) {
      const r = await helm(["template", RELEASE, CHART, "--namespace", NS, ...args], true);
      assert.notEqual(r.code, 0, args.join(" "));
    }
  });

  test("the installer's labels go on each object; alert labels and the runbook base on each alert", async () => {
    const { objects } = await render(
      ...MONITORING_APIS,
      "--set",
      "monitoring.podMonitor.labels.release=kps",
      "--set",
      "monitoring.prometheusRule.labels.release=kps",
      "--set",
      "monitoring.prometheusRule.alertLabels.team=push",
      "--set",
      "monitoring.prometheusRule.alertLabels.severity=ignored",
      "--set",
      "monitoring.prometheusRule.runbookBaseUrl=https://docs.example.com/edition/observability",
      "--set",
      "monitoring.dashboards.annotations.grafana_folder=Edition",
    );
    for (const o of [...kinds(objects, "PodMonitor"), ...kinds(objects, "PrometheusRule")])
      assert.equal(o.metadata.labels?.release, "kps", `${o.kind} ${o.metadata.name}`);
    const rule = kinds(objects, "PrometheusRule")[0]!;
    const alerts = rule.spec.groups.flatMap((g: { rules: { alert?: string }[] }) =>
      g.rules.filter((r) => r.alert),
    );
    assert.ok(alerts.length > 10);
    for (const a of alerts) {
      assert.equal(a.labels.team, "push", a.alert);
      assert.match(a.labels.severity, /^(critical|warning)$/, `${a.alert}: its own severity wins`);
      assert.equal(
        a.annotations.runbook_url,
        `https://docs.example.com/edition/observability#${a.alert.toLowerCase()}`,
      );
    }
    assert.equal(dashboardsConfigMap(objects)?.metadata.annotations?.grafana_folder, "Edition");
  });

  test("the PrometheusRule carries the rule files' groups unchanged", async () => {
    const { objects } = await render(...MONITORING_APIS);
    const groups = kinds(objects, "PrometheusRule")[0]!.spec.groups;
    const files = ruleFiles().flatMap((f) => parse(readFileSync(f, "utf8")).groups);
    assert.deepEqual(groups, files);
  });

  test("the dashboards ConfigMap carries every dashboard JSON byte for byte, with the sidecar label", async () => {
    const { objects } = await render();
    const cm = dashboardsConfigMap(objects)!;
    assert.equal(cm.metadata.labels?.grafana_dashboard, "1");
    const files = ["edition-node.json", "edition-operator.json", "edition-overview.json"];
    assert.deepEqual(Object.keys(cm.data ?? {}).sort(), files);
    for (const f of files)
      assert.equal(cm.data![f], readFileSync(join(DASHBOARDS_DIR, f), "utf8"), f);
    const other = await render("--set", "monitoring.dashboards.namespace=grafana");
    assert.equal(dashboardsConfigMap(other.objects)?.metadata.namespace, "grafana");
  });

  test("the node PodMonitor selects the operator's node and balancer pods (not the operator) and labels them per the scrape contract", async () => {
    const { objects } = await render(...MONITORING_APIS);
    const pm = kinds(objects, "PodMonitor").find((o) => o.metadata.name === `${RELEASE}-nodes`)!;
    assert.deepEqual(pm.spec.namespaceSelector, { any: true });
    const [endpoint] = pm.spec.podMetricsEndpoints;
    assert.equal(endpoint.port, "metrics");
    assert.equal(endpoint.honorLabels, true);
    // The labels the operator really sets (operator/src/names.ts), for a node in a zone.
    const nodePod = operatorLabels("push", "node", "eu-west", "a");
    assert.equal(nodePod[LABEL_COMPONENT], "node");
    assert.ok(selects(pm.spec.selector, nodePod), "selects node pods");
    assert.ok(selects(pm.spec.selector, operatorLabels("push", "balancer", "eu-west")));
    const chartOperator = kinds(objects, "PodMonitor").find((o) =>
      o.metadata.name.endsWith("-operator"),
    )!;
    assert.ok(!selects(pm.spec.selector, chartOperator.spec.selector.matchLabels));
    assert.ok(!selects(pm.spec.selector, operatorLabels("push", "metrics", "eu-west")));
    assert.deepEqual(relabel(endpoint.relabelings, "push-eu-west-a-0", nodePod), {
      job: "edition-node",
      cluster: nodePod[LABEL_CLUSTER],
      region: nodePod[LABEL_REGION],
      zone: nodePod[LABEL_ZONE],
      role: "node",
      node: "push-eu-west-a-0",
    });

    const dep = objects.find((o) => o.kind === "Deployment")!;
    const opLabels = dep.spec.template.metadata.labels;
    assert.ok(selects(chartOperator.spec.selector, opLabels), "selects the operator pods");
    assert.ok(!selects(chartOperator.spec.selector, nodePod));
    assert.deepEqual(chartOperator.spec.namespaceSelector, { matchNames: [NS] });
    const port = chartOperator.spec.podMetricsEndpoints[0].port;
    assert.ok(
      dep.spec.template.spec.containers[0].ports.some((p: { name: string }) => p.name === port),
      `the operator container has a port named ${port}`,
    );
    assert.deepEqual(relabel(chartOperator.spec.podMetricsEndpoints[0].relabelings, "x", {}), {
      job: "edition-operator",
    });

    const scoped = await render(...MONITORING_APIS, "--set", "operator.watchNamespace=team-a");
    const scopedPm = kinds(scoped.objects, "PodMonitor").find(
      (o) => o.metadata.name === `${RELEASE}-nodes`,
    )!;
    assert.deepEqual(scopedPm.spec.namespaceSelector, { matchNames: ["team-a"] });
  });

  test("helm lint --strict passes with monitoring on", async () => {
    // helm lint has no --api-versions: force the objects on instead.
    const r = await helm([
      "lint",
      "--strict",
      CHART,
      "--namespace",
      NS,
      "--set",
      "monitoring.podMonitor.enabled=true",
      "--set",
      "monitoring.prometheusRule.enabled=true",
    ]);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/, r.stdout);
  });
});

describe("the render with monitoring on, against a real kube-apiserver", {
  skip: clusterSkip,
}, () => {
  let kube: Kube;
  before(async () => {
    kube = await startKube();
    await kube.kubectl(["create", "namespace", NS]);
    await kube.kubectl(["create", "namespace", "team-a"]);
    await applyCrds(kube, TEST_CRDS);
  });
  after(() => kube?.stop());

  /** The same server-side dry-run as test/k8s/chart.test.ts. */
  const dryRun = (yaml: string, allowFailure = false) =>
    kube.kubectl(
      ["apply", "--server-side", "--dry-run=server", "--field-manager=chart-test", "-f", "-"],
      { input: yaml, allowFailure },
    );

  for (const [what, extra] of [
    ["all namespaces", []],
    [
      "one namespace, installer labels",
      [
        "--set",
        "operator.watchNamespace=team-a",
        "--set",
        "monitoring.podMonitor.labels.release=kps",
        "--set",
        "monitoring.prometheusRule.alertLabels.team=push",
      ],
    ],
  ] as const) {
    test(`every object is accepted (${what})`, async () => {
      const { yaml, objects } = await render(...MONITORING_APIS, ...extra);
      assert.ok(
        kinds(objects, "PodMonitor").length === 2 && kinds(objects, "PrometheusRule").length,
      );
      const r = await dryRun(yaml);
      const accepted = r.stdout.split("\n").filter((l) => l.includes("(server dry run)"));
      assert.equal(
        accepted.length,
        objects.length,
        `every object accepted:\n${r.stdout}\n${r.stderr}`,
      );
      assert.doesNotMatch(r.stderr, /unknown field/i, r.stderr);
    });
  }

  test("a misspelt field in a monitoring object is refused, so the acceptance above means something", async () => {
    const { objects } = await render(...MONITORING_APIS);
    const pm = structuredClone(kinds(objects, "PodMonitor")[0]!);
    pm.spec.podMetricsEndpoints[0].honourLabels = true;
    const rule = structuredClone(kinds(objects, "PrometheusRule")[0]!);
    rule.spec.groups[0].rules[0].for = "two minutes";
    for (const bad of [pm, rule]) {
      const r = await dryRun(JSON.stringify(bad), true);
      assert.notEqual(r.code, 0, `${bad.kind} accepted:\n${r.stdout}`);
      assert.match(
        r.stderr,
        /field not declared in schema|unknown field|should match|Invalid value/i,
      );
    }
  });
});
