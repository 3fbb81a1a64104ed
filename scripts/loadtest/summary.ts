/**
 * Reading k6's `--summary-export` files and merging the processes of one suite into one
 * row per criterion (threshold): target, measured, verdict.
 *
 * Export format (k6 v1, legacy JSON): `metrics.<name>` holds the metric's values (counter:
 * count, rate; rate: passes, fails, value; trend: avg, min, med, max, p(N), count) and
 * `thresholds: { "<expression>": <true when it FAILED> }`.
 */
import { existsSync, readFileSync } from "node:fs";

export type MetricValues = Readonly<Record<string, number>>;

export interface MetricSummary {
  readonly values: MetricValues;
  /** expression → passed */
  readonly thresholds: Readonly<Record<string, boolean>>;
}

export type K6Summary = ReadonlyMap<string, MetricSummary>;

export function readSummary(path: string): K6Summary | undefined {
  if (!existsSync(path)) return undefined;
  const raw: unknown = JSON.parse(readFileSync(path, "utf8"));
  const metrics = (raw as { metrics?: unknown } | null)?.metrics;
  if (typeof metrics !== "object" || metrics === null) return undefined;
  const out = new Map<string, MetricSummary>();
  for (const [name, m] of Object.entries(metrics as Record<string, unknown>)) {
    if (typeof m !== "object" || m === null) continue;
    const values: Record<string, number> = {};
    const thresholds: Record<string, boolean> = {};
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (typeof v === "number") values[k] = v;
      else if (k === "thresholds" && typeof v === "object" && v !== null) {
        for (const [expr, failed] of Object.entries(v as Record<string, unknown>)) {
          thresholds[expr] = failed === false;
        }
      }
    }
    out.set(name, { values, thresholds });
  }
  return out;
}

/** One metric over every process of a suite. */
export interface Merged {
  readonly kind: "counter" | "rate" | "trend" | "other";
  /** counter: total; rate: passes + fails; trend: samples. */
  readonly count: number;
  readonly passes: number;
  /** Rate: passes / (passes + fails). */
  readonly rate: number;
  /** Trend statistics; percentiles and the median are the worst process's (an upper bound). */
  readonly stats: Readonly<Record<string, number>>;
  readonly shards: number;
}

export function mergeMetric(parts: readonly MetricValues[]): Merged {
  const sum = (k: string) => parts.reduce((a, p) => a + (p[k] ?? 0), 0);
  const first = parts[0] ?? {};
  if ("passes" in first) {
    const passes = sum("passes");
    const total = passes + sum("fails");
    return {
      kind: "rate",
      count: total,
      passes,
      rate: total === 0 ? Number.NaN : passes / total,
      stats: {},
      shards: parts.length,
    };
  }
  if ("avg" in first) {
    const count = sum("count");
    const stats: Record<string, number> = {};
    for (const k of Object.keys(first)) {
      const vs = parts.map((p) => p[k] ?? Number.NaN);
      if (k === "count") continue;
      if (k === "min") stats[k] = Math.min(...vs);
      else if (k === "avg") {
        stats[k] =
          count === 0 ? 0 : parts.reduce((a, p) => a + (p.avg ?? 0) * (p.count ?? 0), 0) / count;
      } else stats[k] = Math.max(...vs);
    }
    return { kind: "trend", count, passes: 0, rate: Number.NaN, stats, shards: parts.length };
  }
  if ("count" in first) {
    return {
      kind: "counter",
      count: sum("count"),
      passes: 0,
      rate: Number.NaN,
      stats: {},
      shards: parts.length,
    };
  }
  return {
    kind: "other",
    count: 0,
    passes: 0,
    rate: Number.NaN,
    stats: { ...first },
    shards: parts.length,
  };
}

export type MergedMetrics = ReadonlyMap<string, Merged>;

export function mergeSummaries(summaries: readonly K6Summary[]): MergedMetrics {
  const names = new Set(summaries.flatMap((s) => [...s.keys()]));
  const out = new Map<string, Merged>();
  for (const name of names) {
    const parts = summaries.flatMap((s) => {
      const m = s.get(name);
      return m === undefined ? [] : [m.values];
    });
    out.set(name, mergeMetric(parts));
  }
  return out;
}

export type Verdict = "pass" | "FAIL" | "NO DATA";

export interface Criterion {
  readonly metric: string;
  readonly target: string;
  readonly measured: string;
  readonly verdict: Verdict;
}

const EXPRESSION =
  /^\s*(count|rate|value|avg|min|max|med|p\([0-9.]+\))\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+)\s*$/;

/**
 * One row per threshold of the suite. Pass needs every process to pass it (k6's verdict)
 * and at least one sample: a criterion nothing measured is not met. A `count` target is
 * the sum of the processes' own (each process checks its share).
 */
export function criteria(summaries: readonly K6Summary[]): Criterion[] {
  const merged = mergeSummaries(summaries);
  const rows: Criterion[] = [];
  const seen = new Set<string>();
  for (const s of summaries) {
    for (const [metric, m] of s) {
      for (const expr of Object.keys(m.thresholds)) {
        const key = `${metric} ${expr}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const results = summaries.flatMap((x) => {
          const t = x.get(metric)?.thresholds[expr];
          return t === undefined ? [] : [t];
        });
        const mm = merged.get(metric)!;
        const parsed = EXPRESSION.exec(expr);
        const agg = parsed?.[1] ?? "";
        let target = expr;
        if (parsed && agg === "count" && summaries.length > 1) {
          const total = summaries.reduce((a, x) => {
            const e = Object.keys(x.get(metric)?.thresholds ?? {}).find((k) =>
              k.startsWith("count"),
            );
            const n = e === undefined ? 0 : Number(EXPRESSION.exec(e)?.[3] ?? 0);
            return a + n;
          }, 0);
          target = `count${parsed[2]}${total}`;
        }
        const noData = mm.kind !== "counter" && mm.count === 0;
        rows.push({
          metric,
          target,
          measured: noData ? "no samples" : measure(mm, agg),
          verdict: noData ? "NO DATA" : results.every(Boolean) ? "pass" : "FAIL",
        });
      }
    }
  }
  // Failures first, then by name: the table reads the same from run to run.
  const rank = (c: Criterion) => (c.verdict === "pass" ? 1 : 0);
  return rows.sort((a, b) => rank(a) - rank(b) || a.metric.localeCompare(b.metric));
}

/** The merged value a threshold's aggregation looks at, for people. */
export function measure(m: Merged, agg: string): string {
  switch (m.kind) {
    case "rate":
      return `${pct(m.rate)} (${m.passes}/${m.count})`;
    case "counter":
      return String(m.count);
    case "trend": {
      const key = agg === "" ? "p(99)" : agg;
      const v = m.stats[key];
      const bound = m.shards > 1 && key !== "max" && key !== "min" ? " (worst process)" : "";
      return v === undefined ? "?" : `${key}=${ms(v)}${bound}`;
    }
    default:
      return JSON.stringify(m.stats);
  }
}

export function pct(r: number): string {
  if (Number.isNaN(r)) return "n/a";
  return `${(Math.floor(r * 10000) / 100).toFixed(2)} %`;
}

export function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}
