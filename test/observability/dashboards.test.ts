/**
 * The Grafana dashboards the chart ships (charts/edition/files/dashboards/*.json), read as
 * an SRE would meet them: every panel says what it shows (a unit, a description), is
 * filterable by region (and node on the node view), reads metrics that exist, and every SLO
 * written down in docs/observability.md has a panel that shows it against its objective.
 * Also the metric tables of the docs against what the code registers. Whether each query
 * returns data from a real Prometheus is prometheus.test.ts's job.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  code,
  type Dashboard,
  dashboards,
  dataPanels,
  docTable,
  exportedNames,
  metricNames,
  recordings,
  slos,
  variableQuery,
} from "./sources.js";

const boards = dashboards();
const byUid = (uid: string): Dashboard => {
  const d = boards.find((b) => b.uid === uid);
  assert.ok(d, `a dashboard with uid ${uid}`);
  return d;
};

describe("dashboards", () => {
  test("the cluster overview, the node view and the operator view are shipped", () => {
    assert.deepEqual(boards.map((b) => b.uid).sort(), [
      "edition-node",
      "edition-operator",
      "edition-overview",
    ]);
  });

  test("every panel has a unit, a description and at least one query", () => {
    const problems: string[] = [];
    for (const d of boards) {
      for (const p of dataPanels(d)) {
        const where = `${d.uid} "${p.title}"`;
        if (!p.fieldConfig?.defaults?.unit) problems.push(`${where}: no unit`);
        if (!p.description || p.description.length < 20) problems.push(`${where}: no description`);
        if (!p.targets?.length || p.targets.some((t) => !t.expr))
          problems.push(`${where}: no query`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test("panel ids are unique within a dashboard and titles are not repeated", () => {
    for (const d of boards) {
      const ids = d.panels.flatMap((p) => [p.id, ...(p.panels ?? []).map((c) => c.id)]);
      assert.equal(new Set(ids).size, ids.length, `${d.uid}: duplicate panel ids`);
      const titles = dataPanels(d).map((p) => p.title);
      assert.equal(new Set(titles).size, titles.length, `${d.uid}: duplicate titles`);
    }
  });

  test("region is a template variable everywhere and node one on the node view; queries use them", () => {
    for (const d of boards) {
      const vars = d.templating.list.map((v) => v.name);
      assert.ok(vars.includes("datasource"), `${d.uid}: a datasource variable`);
      assert.ok(vars.includes("region"), `${d.uid}: a region variable`);
      if (d.uid === "edition-node") assert.ok(vars.includes("node"), "node view: a node variable");
      for (const v of d.templating.list.filter((x) => x.type === "query"))
        assert.match(variableQuery(v), /^label_values\(/, `${d.uid} $${v.name}`);
    }
    // Every node view query that reads push node series is filtered by node.
    const unfiltered = dataPanels(byUid("edition-node"))
      .flatMap((p) => p.targets ?? [])
      .filter((t) => /edition_|process_|nodejs_/.test(t.expr) && !t.expr.includes("$node"));
    assert.deepEqual(
      unfiltered.map((t) => t.expr),
      [],
    );
  });

  test("rates use $__rate_interval (or $__range), never a fixed window", () => {
    const fixed = boards.flatMap((d) =>
      dataPanels(d)
        .flatMap((p) => p.targets ?? [])
        .filter((t) => /\[\d+[smhdw]\]/.test(t.expr))
        .map((t) => `${d.uid}: ${t.expr}`),
    );
    assert.deepEqual(fixed, []);
  });

  test("every metric a panel or variable reads is exported by the push node or the operator, or recorded", async () => {
    const { node, operator } = await exportedNames();
    const known = new Set([...node.keys(), ...operator.keys(), "up"]);
    for (const r of recordings()) known.add(r.record!);
    const unknown: string[] = [];
    for (const d of boards) {
      const exprs = [
        ...dataPanels(d).flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
        ...d.templating.list.filter((v) => v.type === "query").map(variableQuery),
      ];
      for (const e of exprs)
        for (const m of metricNames(e.replace(/^label_values\((.*),\s*\w+\)$/, "$1")))
          if (!known.has(m)) unknown.push(`${d.uid}: ${m}`);
    }
    assert.deepEqual(unknown, []);
  });

  test("every SLO in the docs has an overview panel showing its SLI against its objective", () => {
    const overview = dataPanels(byUid("edition-overview"));
    const problems: string[] = [];
    const table = slos();
    assert.equal(
      table.length,
      3,
      "three SLOs: endpoint availability, delivery latency, handshakes",
    );
    for (const slo of table) {
      const p = overview.find((x) => x.title === slo.panel);
      if (!p) {
        problems.push(`${slo.id}: no panel "${slo.panel}"`);
        continue;
      }
      const sli = slo.recording.replace("*", "");
      if (!p.targets?.some((t) => t.expr.includes(sli)))
        problems.push(`${slo.id}: "${p.title}" does not read ${slo.recording}`);
      const steps = p.fieldConfig?.defaults?.thresholds?.steps ?? [];
      if (!steps.some((s) => s.value !== null && Math.abs(s.value - slo.objective) < 1e-9))
        problems.push(`${slo.id}: "${p.title}" has no threshold at ${slo.objective}`);
      const style = p.fieldConfig?.defaults?.custom?.thresholdsStyle?.mode ?? "off";
      if (style === "off") problems.push(`${slo.id}: "${p.title}" does not draw its threshold`);
      if (p.fieldConfig?.defaults?.unit !== "percentunit")
        problems.push(`${slo.id}: "${p.title}" is not a percentage`);
      if (!p.description?.includes(`SLO ${slo.id}`))
        problems.push(`${slo.id}: "${p.title}" description does not name the SLO`);
    }
    // The latency SLO's threshold is also drawn on the latency panels, at a bucket edge.
    for (const d of [byUid("edition-overview"), byUid("edition-node")]) {
      const lat = dataPanels(d).find((p) => p.title === "PUT to socket latency");
      assert.ok(lat, `${d.uid}: a PUT to socket latency panel`);
      assert.ok(lat.fieldConfig?.defaults?.thresholds?.steps.some((s) => s.value === 0.1));
    }
    assert.deepEqual(problems, []);
  });
});

describe("metric tables in docs/observability.md", () => {
  const documented = (heading: string) =>
    docTable(heading)
      .map((cells) => code(cells[0]!))
      .filter((x): x is string => x !== undefined)
      .sort();
  /** Registered names without prom-client's process/runtime metrics and histogram suffixes. */
  const own = (m: Map<string, string>) =>
    [...m.keys()]
      .filter((n) => !/^(process|nodejs)_/.test(n))
      .filter(
        (n) => !/_(bucket|sum|count)$/.test(n) || !m.has(n.replace(/_(bucket|sum|count)$/, "")),
      )
      .sort();

  test("the push node table lists exactly what server/src/metrics.ts registers", async () => {
    assert.deepEqual(documented("Push node metrics"), own((await exportedNames()).node));
  });

  test("the operator table lists exactly what operator/src/metrics.ts registers", async () => {
    assert.deepEqual(documented("Operator metrics"), own((await exportedNames()).operator));
  });

  test("names follow Prometheus conventions: counters end in _total, histograms in their unit (durations in _seconds)", async () => {
    const { node, operator } = await exportedNames();
    for (const m of [node, operator]) {
      for (const n of own(m)) {
        assert.match(n, /^[a-z][a-z0-9_]*$/, n);
        if (m.get(n) === "counter") assert.match(n, /_total$/, `counter ${n}`);
        else assert.doesNotMatch(n, /_total$/, `${m.get(n)} ${n}`);
        // A histogram of durations, or of how many things (store batches: operations).
        if (m.get(n) === "histogram")
          assert.match(n, /_(seconds|operations)$/, `histogram ${n}: unit suffix`);
        assert.doesNotMatch(n, /_(ms|milliseconds|millis)\b/, n);
      }
    }
  });
});
