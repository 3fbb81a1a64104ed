/**
 * What the observability tests read, from the files the chart ships (charts/edition/files/:
 * rule files and dashboard JSON), the docs (docs/observability.md: metric table, SLO table,
 * runbook headings) and the code (the metrics the push node and the operator register).
 * Also a small reading of PromQL: the metric names an expression selects, and Grafana's
 * variables replaced by values a test can evaluate.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { parse } from "yaml";
import { createMetrics as operatorMetrics } from "../../operator/src/metrics.js";
import { createMetrics as nodeMetrics } from "../../server/src/metrics.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CHART = join(ROOT, "charts/edition");
export const RULES_DIR = join(CHART, "files/rules");
export const DASHBOARDS_DIR = join(CHART, "files/dashboards");
export const DOCS = join(ROOT, "docs/observability.md");
export const ALERT_TESTS = join(ROOT, "test/observability/rules/alerts.test.yaml");

// ------------------------------------------------------------------------------ rules

export interface Rule {
  readonly group: string;
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export const ruleFiles = (): string[] =>
  readdirSync(RULES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(RULES_DIR, f));

export function rules(): Rule[] {
  return ruleFiles().flatMap((f) => {
    const doc = parse(readFileSync(f, "utf8")) as {
      groups: { name: string; rules: Omit<Rule, "group">[] }[];
    };
    return doc.groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name })));
  });
}

export const alerts = () => rules().filter((r) => r.alert !== undefined);
export const recordings = () => rules().filter((r) => r.record !== undefined);

// ------------------------------------------------------------------------------ dashboards

export interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly legendFormat?: string;
}

export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly targets?: Target[];
  readonly fieldConfig?: {
    defaults?: {
      unit?: string;
      thresholds?: { steps: { color: string; value: number | null }[] };
      custom?: { thresholdsStyle?: { mode: string } };
    };
  };
  readonly panels?: Panel[];
}

export interface Variable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { query: string };
}

export interface Dashboard {
  readonly file: string;
  readonly uid: string;
  readonly title: string;
  readonly panels: Panel[];
  readonly templating: { list: Variable[] };
}

export function dashboards(): Dashboard[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => ({ ...JSON.parse(readFileSync(join(DASHBOARDS_DIR, f), "utf8")), file: f }));
}

/** Every panel that shows data (rows flattened away, collapsed ones included). */
export function dataPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => (p.type === "row" ? (p.panels ?? []) : [p]));
}

export const variableQuery = (v: Variable): string =>
  typeof v.query === "string" ? v.query : (v.query?.query ?? "");

/**
 * Grafana's variables replaced by values a test can evaluate: every template variable
 * matches all (`.*`, as "All" does), intervals become short ones that suit a 1 s scrape.
 */
export function substitute(expr: string, intervals = { rate: "15s", range: "1m" }): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, intervals.rate)
    .replace(/\$__interval|\$\{__interval\}/g, "5s")
    .replace(/\$__range|\$\{__range\}/g, intervals.range)
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, ".*");
}

// ------------------------------------------------------------------------------ PromQL

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "inf",
  "nan",
]);

/**
 * The metric names an expression selects: identifiers outside strings, label matchers,
 * ranges and grouping clauses, that are not function calls or keywords. Enough for the
 * expressions written here; not a PromQL parser.
 */
export function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\{[^}]*\}/g, " ").replace(/\[[^\]]*\]/g, " ");
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const out = new Set<string>();
  for (const m of s.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = s.slice(m.index! + m[0].length).trimStart();
    if (after.startsWith("(") || KEYWORDS.has(m[0].toLowerCase())) continue;
    out.add(m[0]);
  }
  return [...out];
}

/** Series names the push node and the operator export (histograms with their suffixes) → type. */
export async function exportedNames(): Promise<{
  node: Map<string, string>;
  operator: Map<string, string>;
}> {
  const list = async (create: (r: Registry) => unknown) => {
    const r = new Registry();
    create(r);
    const out = new Map<string, string>();
    for (const m of await r.getMetricsAsJSON()) {
      const type = String(m.type);
      if (type === "histogram") {
        for (const s of ["_bucket", "_sum", "_count"]) out.set(m.name + s, `${type} series`);
      }
      out.set(m.name, type);
    }
    return out;
  };
  return { node: await list(nodeMetrics), operator: await list(operatorMetrics) };
}

// ------------------------------------------------------------------------------ docs

export const docs = (): string => readFileSync(DOCS, "utf8");

/** Rows of the first Markdown table after the heading `heading`, as arrays of cell text. */
export function docTable(heading: string): string[][] {
  const lines = docs().split("\n");
  const at = lines.findIndex((l) => l.replace(/^#+\s*/, "") === heading && l.startsWith("#"));
  if (at < 0) throw new Error(`docs/observability.md has no heading "${heading}"`);
  const rows: string[][] = [];
  let inTable = false;
  for (const l of lines.slice(at + 1)) {
    if (l.startsWith("#")) break;
    if (!l.startsWith("|")) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = l
      .slice(1, l.endsWith("|") ? -1 : undefined)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue;
    rows.push(cells);
  }
  return rows.slice(1); // without the header row
}

/** GitHub's anchor of every heading in the docs. */
export function docAnchors(): Set<string> {
  return new Set(
    docs()
      .split("\n")
      .filter((l) => /^#{1,6} /.test(l))
      .map((l) =>
        l
          .replace(/^#+\s*/, "")
          .trim()
          .toLowerCase()
          .replace(/[^\w\- ]/g, "")
          .replace(/ /g, "-"),
      ),
  );
}

/** The text inside the first pair of backticks of a cell. */
export const code = (cell: string): string | undefined => /`([^`]+)`/.exec(cell)?.[1];

export interface Slo {
  readonly id: string;
  readonly objective: number;
  readonly recording: string;
  readonly panel: string;
}

/** The SLO table: id, objective (a fraction), SLI recording rule (window part as `*`), panel. */
export function slos(): Slo[] {
  return docTable("SLOs").map((cells) => {
    const [id, , objective, , recording, panel] = cells;
    const pct = /([\d.]+)\s*%/.exec(objective ?? "");
    if (!id || !pct || !recording || !panel) throw new Error(`bad SLO row: ${cells.join(" | ")}`);
    return {
      id: code(id) ?? id,
      objective: Number(pct[1]) / 100,
      recording: code(recording) ?? recording,
      panel: panel.replace(/^"|"$/g, ""),
    };
  });
}
