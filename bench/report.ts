/**
 * Turns the measurements into the figures (node, baseline, ratio, target, met?),
 * prints them as a table and writes everything to `.results/bench-<timestamp>.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CpuUse } from "./cpu-window.js";
import type { LatencyResult } from "./latency.js";
import type { BenchOptions } from "./options.js";
import type { RampResult } from "./ramp.js";
import type { Percentiles } from "./stats.js";
import type { ThroughputResult } from "./throughput.js";

export interface BenchResult {
  readonly startedAt: string;
  readonly seconds: number;
  readonly options: BenchOptions;
  readonly machine: { readonly cpus: number; readonly node: string; readonly clockTicks: number };
  readonly baseline: { readonly memory: RampResult; readonly rate: RampResult };
  readonly node: {
    readonly memory: RampResult;
    readonly rate: RampResult;
    readonly throughput: ThroughputResult;
    readonly latency: LatencyResult;
  };
}

export interface Figure {
  readonly figure: string;
  readonly node: number;
  readonly baseline?: number;
  readonly ratio?: number;
  readonly unit: string;
  readonly target: string;
  /** Undefined for figures printed for context, without a target. */
  readonly met?: boolean;
}

const KB = 1024;

export function figures(r: BenchResult): Figure[] {
  // Anonymous RSS: file-backed pages (the node binary's code, paged in as the JIT warms
  // up) are shared, bounded and not per connection, but they jump by MiBs mid-ramp.
  const nodeMem = r.node.memory.memory?.rssAnonSlope.slope ?? Number.NaN;
  const baseMem = r.baseline.memory.memory?.rssAnonSlope.slope ?? Number.NaN;
  const nodeConn = r.node.rate.connectsPerCpuSecond;
  const baseConn = r.baseline.rate.connectsPerCpuSecond;
  const t = r.node.throughput;
  const l = r.node.latency;
  const rate = Math.round(l.targetRate);
  return [
    {
      figure: "memory per idle connection (anon RSS slope)",
      node: nodeMem / KB,
      baseline: baseMem / KB,
      ratio: nodeMem / baseMem,
      unit: "KiB",
      target: "≤ 2 KiB",
      met: nodeMem <= 2 * KB,
    },
    {
      figure: "connect + hello + register per CPU-s (baseline: upgrades)",
      node: nodeConn,
      baseline: baseConn,
      ratio: nodeConn / baseConn,
      unit: "/CPU-s",
      target: "ratio ≥ 0.50",
      met: nodeConn / baseConn >= 0.5,
    },
    {
      figure: "PUT → notification → ack per CPU-s",
      node: t.acksPerCpuSecond,
      unit: "/CPU-s",
      target: "≥ 20,000",
      met: t.acksPerCpuSecond >= 20_000,
    },
    {
      figure: "capacity, closed loop (this machine, clients included)",
      node: t.capacityPerSecond,
      unit: "/s",
      target: `server ${t.serverCores.toFixed(2)} cores`,
    },
    {
      figure: `PUT → socket p50 at ${rate}/s`,
      node: l.latencyMs.p50,
      unit: "ms",
      target: "≤ 1 ms",
      met: l.latencyMs.p50 <= 1,
    },
    { figure: `PUT → socket p90 at ${rate}/s`, node: l.latencyMs.p90, unit: "ms", target: "" },
    {
      figure: `PUT → socket p99 at ${rate}/s`,
      node: l.latencyMs.p99,
      unit: "ms",
      target: "≤ 5 ms",
      met: l.latencyMs.p99 <= 5,
    },
    { figure: `PUT → socket max at ${rate}/s`, node: l.latencyMs.max, unit: "ms", target: "" },
  ];
}

function fmt(v: number | undefined, unit: string): string {
  if (v === undefined) return "";
  if (!Number.isFinite(v)) return String(v);
  if (unit === "KiB" || unit === "ms") return `${v.toFixed(v < 10 ? 3 : 1)} ${unit}`;
  if (unit === "s") return `${v.toFixed(2)} s`;
  return `${Math.round(v).toLocaleString("en-US")} ${unit}`;
}

export function table(fs: readonly Figure[]): string {
  const head = ["figure", "node", "baseline", "ratio", "target", "met?"];
  const body = fs.map((f) => [
    f.figure,
    fmt(f.node, f.unit),
    fmt(f.baseline, f.unit),
    f.ratio === undefined ? "" : f.ratio.toFixed(2),
    f.target,
    f.met === undefined ? "" : f.met ? "yes" : "NO",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return [line(head), rule, ...body.map(line)].join("\n");
}

/** Details that explain the figures: ramp points, fit quality, errors, server-side checks. */
export function details(r: BenchResult): string {
  const out: string[] = [];
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  for (const [name, ramp] of [
    ["baseline", r.baseline.memory],
    ["node", r.node.memory],
  ] as const) {
    const m = ramp.memory;
    if (m === undefined) continue;
    const pts = ramp.points
      .map(
        (p) =>
          `${p.connections}→${mib(p.memory?.rssAnon ?? Number.NaN)}${p.memory?.settled ? "" : "*"}`,
      )
      .join(", ");
    out.push(
      `${name} memory ramp (anon RSS, MiB): idle ${mib(m.idle.rssAnon)}; ${pts}\n` +
        `  slope anon ${m.rssAnonSlope.slope.toFixed(0)} B/conn (R² ${m.rssAnonSlope.r2.toFixed(3)}), ` +
        `VmRSS ${m.rssSlope.slope.toFixed(0)} B/conn (R² ${m.rssSlope.r2.toFixed(3)}); failed ${ramp.failed}, lost ${ramp.lost}`,
    );
    const extra = Object.entries(m.extraSlopes)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(", ");
    if (extra !== "") out.push(`  V8 heap slopes, B/conn: ${extra}`);
  }
  for (const [name, ramp] of [
    ["baseline", r.baseline.rate],
    ["node", r.node.rate],
  ] as const) {
    out.push(
      `${name} speed ramp: ${ramp.points.map((p) => p.connections).join(", ")} sockets; ` +
        `rated steps ${ramp.cpu.serverSeconds.toFixed(2)} server CPU-s, ${Math.round(ramp.connectsPerWallSecond)} conn/s wall; ` +
        `failed ${ramp.failed}, lost ${ramp.lost}`,
    );
  }
  for (const ramp of [r.baseline.memory, r.node.memory, r.baseline.rate, r.node.rate]) {
    if (ramp.errors.length > 0) out.push(`connect errors: ${ramp.errors.join(" | ")}`);
  }
  const t = r.node.throughput;
  out.push(
    `throughput: ${t.completed} completed / ${t.puts} PUTs in ${t.cpu.wallSeconds.toFixed(1)} s, ` +
      `${t.cpu.serverSeconds.toFixed(2)} server CPU-s; client acks ${t.acks}, server-counted acks ${t.serverAcks ?? "n/a"}; ` +
      `failed ${t.failed}; statuses ${JSON.stringify(t.statuses)}`,
  );
  const l = r.node.latency;
  out.push(
    `latency: target ${Math.round(l.targetRate)}/s (${r.options.latencyLoad} × capacity), achieved ${Math.round(l.achievedRate)}/s, ` +
      `failed ${l.failed}; clients: worst schedule lag ${l.maxScheduleLagMs.toFixed(1)} ms, ` +
      `event-loop delay p99 ${l.clientLoopDelayP99Ms.toFixed(1)} ms (worst worker)`,
  );
  const ms = (p: Percentiles) =>
    `p50 ${p.p50.toFixed(3)}, p90 ${p.p90.toFixed(3)}, p99 ${p.p99.toFixed(3)}, max ${p.max.toFixed(1)} ms (${p.count} PUTs)`;
  out.push(`  probe (${Math.round(l.probeRate)}/s, in the table): ${ms(l.latencyMs)}`);
  out.push(`  every PUT, loaded clients included: ${ms(l.allLatencyMs)}`);
  if (l.serverSideMs !== undefined)
    out.push(
      `  node's own PUT → socket histogram (server side only): p50 ≤ ${l.serverSideMs.p50} ms, ` +
        `p99 ≤ ${l.serverSideMs.p99} ms over ${l.serverSideMs.count} PUTs`,
    );
  out.push("CPU cores busy (server / clients / rest of the machine):");
  for (const [name, u] of speedPhases(r)) {
    const c = (x: number) => (x / u.wallSeconds).toFixed(2);
    out.push(
      `  ${name.padEnd(14)} ${c(u.serverSeconds)} / ${c(u.clientSeconds)} / ${c(u.otherSeconds)}` +
        (noisy(u) ? "   ← other jobs were busy: noisy" : ""),
    );
  }
  return out.join("\n");
}

/** Other jobs' CPU above this share of a core makes a phase's figures noisy. */
const NOISY_CORES = 0.3;

function noisy(u: CpuUse): boolean {
  return u.otherSeconds / u.wallSeconds > NOISY_CORES;
}

function speedPhases(r: BenchResult): [string, CpuUse][] {
  return [
    ["baseline conn.", r.baseline.rate.cpu],
    ["node conn.", r.node.rate.cpu],
    ["throughput", r.node.throughput.cpu],
    ["latency", r.node.latency.cpu],
  ];
}

/** One line under the table when other jobs disturbed a phase (empty otherwise). */
export function noiseWarning(r: BenchResult): string {
  const hit = speedPhases(r).filter(([, u]) => noisy(u));
  if (hit.length === 0) return "";
  return (
    `warning: other jobs on this machine used more than ${NOISY_CORES} of a core during: ` +
    `${hit.map(([n]) => n.trim()).join(", ")}; those figures are noisy, repeat the run.`
  );
}

export function writeJson(r: BenchResult, fs: readonly Figure[]): string {
  const dir = fileURLToPath(new URL("../.results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}bench-${r.startedAt.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, `${JSON.stringify({ ...r, figures: fs }, null, 2)}\n`);
  return file;
}
