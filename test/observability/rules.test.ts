/**
 * The rule files the chart ships (charts/edition/files/rules/), checked by promtool and
 * unit-tested with promtool's own test runner: every alert fires on the condition it exists
 * for and stays silent on a healthy series (test/observability/rules/alerts.test.yaml). Also
 * what promtool cannot see: each alert is documented and actionable, and every metric a rule
 * reads is one the push node or the operator exports (a typo would make a rule silently
 * empty forever).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { parse } from "yaml";
import {
  ALERT_TESTS,
  alerts,
  docAnchors,
  docTable,
  exportedNames,
  metricNames,
  recordings,
  ruleFiles,
  rules,
  slos,
} from "./sources.js";

const run = promisify(execFile);
const promtool = "promtool";
const promtoolSkip = await run(promtool, ["--version"]).then(
  () => false,
  () => (process.env.CI ? false : "promtool not installed (apt-get install prometheus)"),
);

describe("promtool", { skip: promtoolSkip }, () => {
  test("check rules: every rule file is valid", async () => {
    const r = await run(promtool, ["check", "rules", ...ruleFiles()]);
    for (const f of ruleFiles()) assert.match(r.stdout, new RegExp(`Checking ${f}\\s+SUCCESS`));
  });

  test("test rules: every alert case in alerts.test.yaml passes", async () => {
    const r = await run(promtool, ["test", "rules", ALERT_TESTS]).catch(
      (err: { stdout?: string; stderr?: string }) => {
        assert.fail(`promtool test rules failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
      },
    );
    assert.match(r.stdout, /SUCCESS/);
  });
});

interface AlertCase {
  readonly eval_time: string;
  readonly alertname: string;
  readonly exp_alerts?: unknown[];
}

describe("alert unit tests", () => {
  const file = parse(readFileSync(ALERT_TESTS, "utf8")) as {
    rule_files: string[];
    tests: { name: string; alert_rule_test?: AlertCase[] }[];
  };
  const cases = file.tests.flatMap((t) => t.alert_rule_test ?? []);

  test("load exactly the chart's rule files", () => {
    const loaded = file.rule_files.map((f) => f.split("/").at(-1)).sort();
    assert.deepEqual(
      loaded,
      ruleFiles()
        .map((f) => f.split("/").at(-1))
        .sort(),
    );
  });

  test("every alert has a case where it fires and a case where it stays silent", () => {
    const missing: string[] = [];
    for (const a of alerts()) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      if (!mine.some((c) => (c.exp_alerts ?? []).length > 0)) missing.push(`${a.alert}: fires`);
      if (!mine.some((c) => (c.exp_alerts ?? []).length === 0)) missing.push(`${a.alert}: silent`);
    }
    assert.deepEqual(missing, []);
  });

  test("no case names an alert that does not exist", () => {
    const names = new Set(alerts().map((a) => a.alert));
    assert.deepEqual(
      cases.filter((c) => !names.has(c.alertname)).map((c) => c.alertname),
      [],
    );
  });
});

describe("rules", () => {
  test("every alert has a severity (critical pages, warning is a ticket), a summary, a description and a runbook section", () => {
    const anchors = docAnchors();
    const problems: string[] = [];
    for (const a of alerts()) {
      const sev = a.labels?.severity;
      if (sev !== "critical" && sev !== "warning") problems.push(`${a.alert}: severity ${sev}`);
      const ann = a.annotations ?? {};
      if (!ann.summary) problems.push(`${a.alert}: no summary`);
      if (!ann.description || !/check first/i.test(ann.description))
        problems.push(`${a.alert}: no description saying what to check first`);
      const anchor = a.alert!.toLowerCase();
      if (ann.runbook_url !== `docs/observability.md#${anchor}`)
        problems.push(`${a.alert}: runbook_url ${ann.runbook_url}`);
      if (!anchors.has(anchor)) problems.push(`${a.alert}: no "### ${a.alert}" in the docs`);
    }
    assert.deepEqual(problems, []);
  });

  test("the alert table in the docs lists every alert with its severity and for", () => {
    const table = new Map(
      docTable("Alerts").map((cells) => [cells[0]!.replace(/`/g, ""), cells] as const),
    );
    const problems: string[] = [];
    for (const a of alerts()) {
      const row = table.get(a.alert!);
      if (!row) problems.push(`${a.alert}: not in the table`);
      else if (row[1] !== a.labels?.severity || row[3] !== (a.for ?? "0s"))
        problems.push(`${a.alert}: table says ${row[1]}, ${row[3]}`);
      table.delete(a.alert!);
    }
    for (const extra of table.keys()) problems.push(`${extra}: in the table, not in the rules`);
    assert.deepEqual(problems, []);
  });

  test("every SLO has its SLI recorded over every alert window, a page and a ticket", () => {
    const recorded = new Set(recordings().map((r) => r.record));
    const problems: string[] = [];
    for (const slo of slos()) {
      for (const w of ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]) {
        const name = slo.recording.replace("*", w);
        if (!recorded.has(name)) problems.push(`${slo.id}: ${name} not recorded`);
      }
      const mine = alerts().filter((a) => a.labels?.slo === slo.id);
      const budget = (1 - slo.objective).toPrecision(3);
      for (const sev of ["critical", "warning"]) {
        const a = mine.find((x) => x.labels?.severity === sev);
        if (!a) problems.push(`${slo.id}: no ${sev} burn-rate alert`);
        // The thresholds are multiples of this SLO's budget (1 - objective).
        else if (!a.expr.includes(`* ${Number(budget)})`))
          problems.push(`${slo.id}: ${a.alert} does not use the budget ${Number(budget)}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test("every metric a rule reads is exported by the push node or the operator, or recorded", async () => {
    const { node, operator } = await exportedNames();
    const known = new Set([...node.keys(), ...operator.keys(), "up"]);
    for (const r of recordings()) known.add(r.record!);
    const unknown = rules().flatMap((r) =>
      metricNames(r.expr)
        .filter((m) => !known.has(m))
        .map((m) => `${r.record ?? r.alert}: ${m}`),
    );
    assert.deepEqual(unknown, []);
  });

  test("push node series are selected by the scrape contract's job, store and slot gauges by role=node", () => {
    const problems: string[] = [];
    for (const r of rules()) {
      for (const [m] of r.expr.matchAll(/edition_[a-z_]+\{[^}]*\}/g)) {
        if (m.startsWith("edition_operator_")) continue;
        if (!m.includes('job="edition-node"')) problems.push(`${r.record ?? r.alert}: ${m}`);
      }
      for (const m of r.expr.matchAll(
        /(edition_(?:store_up|slots_owned|slot_table_size|coordinator|etcd_lease_held|connections|max_connections))\{([^}]*)\}/g,
      )) {
        if (!m[2]!.includes('role="node"')) problems.push(`${r.record ?? r.alert}: ${m[0]}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
