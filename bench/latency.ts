/**
 * PUT → socket latency under an open-loop schedule at a fixed fraction of the measured
 * capacity. Each worker starts PUTs on its own schedule and times each one, in the same
 * process, from the start of the PUT to the arrival of its notification.
 *
 * Worker 0 is a light probe (a small share of the rate); the others carry the load. A
 * loaded client's own event loop adds milliseconds to what it measures (it is busy with
 * its other PUTs and acks when a notification arrives), which in production are other
 * machines; the probe's figures are the server's. Both are reported.
 */
import { type CpuUse, CpuWindow } from "./cpu-window.js";
import { histogramQuantiles, type Samples } from "./server-metrics.js";
import type { ServerProcess } from "./server-process.js";
import { type Percentiles, percentiles } from "./stats.js";
import { totals } from "./throughput.js";
import type { WorkerPool } from "./worker-pool.js";

export interface LatencyResult {
  readonly targetRate: number;
  readonly achievedRate: number;
  readonly puts: number;
  readonly completed: number;
  readonly failed: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Milliseconds, PUT start → notification received, measured by the light probe. */
  readonly latencyMs: Percentiles;
  readonly probeRate: number;
  /** The same over every PUT, loaded clients included. */
  readonly allLatencyMs: Percentiles;
  /** Worst lag of any worker's schedule: large values mean the clients, not the server, fell behind. */
  readonly maxScheduleLagMs: number;
  /** Worst event-loop delay p99 of any worker: the clients' own share of the tail. */
  readonly clientLoopDelayP99Ms: number;
  readonly serverCores: number;
  readonly cpu: CpuUse;
  /** The node's own PUT → frame-handed-to-socket histogram over the window (bucket upper bounds, ms). */
  readonly serverSideMs:
    | { readonly count: number; readonly p50: number; readonly p99: number }
    | undefined;
}

export interface LatencyContext {
  readonly pool: WorkerPool;
  readonly server: ServerProcess;
  readonly ticks: number;
  readonly ratePerSecond: number;
  readonly durationMs: number;
  /** Reads the server's metrics (before and after the window), when it has any. */
  readonly metrics?: () => Promise<Samples>;
}

const TAIL_MS = 20_000;
/** The probe's share of the rate, and its bounds per second. */
const PROBE_SHARE = 0.1;
const PROBE_MIN = 50;
const PROBE_MAX = 500;

export async function runLatency(ctx: LatencyContext): Promise<LatencyResult> {
  const { pool, server, ticks } = ctx;
  const before = await ctx.metrics?.();
  const window = CpuWindow.start(server.pid, pool.pids, ticks);
  const probing = pool.size > 1;
  const probeRate = probing
    ? Math.min(PROBE_MAX, Math.max(PROBE_MIN, ctx.ratePerSecond * PROBE_SHARE))
    : ctx.ratePerSecond;
  const loadRate = probing ? (ctx.ratePerSecond - probeRate) / (pool.size - 1) : 0;
  const reports = await pool.run(
    (i) => ({
      cmd: "open-loop",
      ratePerSecond: i === 0 ? probeRate : loadRate,
      durationMs: ctx.durationMs,
    }),
    "load",
    ctx.durationMs + TAIL_MS,
  );
  const cpu = window.stop();
  const after = await ctx.metrics?.();
  const serverSide =
    before === undefined || after === undefined
      ? undefined
      : histogramQuantiles(before, after, "edition_put_to_socket_seconds", [0.5, 0.99]);
  const sum = totals(reports);
  const all: number[] = [];
  for (const r of reports) for (const l of r.latenciesMs) all.push(l);
  return {
    targetRate: ctx.ratePerSecond,
    achievedRate: sum.completed / (ctx.durationMs / 1000),
    puts: sum.puts,
    completed: sum.completed,
    failed: sum.failed,
    statuses: sum.statuses,
    latencyMs: percentiles(reports[0]!.latenciesMs),
    probeRate,
    allLatencyMs: percentiles(all),
    maxScheduleLagMs: Math.max(...reports.map((r) => r.maxScheduleLagMs)),
    clientLoopDelayP99Ms: Math.max(...reports.map((r) => r.loopDelayP99Ms)),
    serverCores: cpu.serverSeconds / cpu.wallSeconds,
    cpu,
    serverSideMs:
      serverSide === undefined
        ? undefined
        : {
            count: serverSide.count,
            p50: serverSide.upperBounds[0]! * 1000,
            p99: serverSide.upperBounds[1]! * 1000,
          },
  };
}
