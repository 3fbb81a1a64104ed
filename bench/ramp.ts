/**
 * The connection ramp: clients connect in steps up to the top count and stay idle. At each
 * step the server's CPU is read around the connecting (connections per CPU-second) and,
 * for a memory ramp, its memory once settled (bytes per connection: the least-squares
 * slope over the steps).
 */
import { type CpuUse, CpuWindow } from "./cpu-window.js";
import { settledMemory } from "./proc-stats.js";
import type { ServerProcess } from "./server-process.js";
import { type Line, leastSquares } from "./stats.js";
import { share, type WorkerPool } from "./worker-pool.js";

export interface MemoryPoint {
  readonly rss: number;
  readonly rssAnon: number;
  readonly settled: boolean;
  /** Figures from the server itself (push node only: V8 heap spaces). */
  readonly extra: Readonly<Record<string, number>>;
}

export interface RampPoint {
  readonly connections: number;
  /** While connecting this step. */
  readonly cpu: CpuUse;
  readonly memory: MemoryPoint | undefined;
}

export interface MemoryFit {
  /** Before any client connected. */
  readonly idle: { readonly rss: number; readonly rssAnon: number };
  /** Bytes of VmRSS per connection. */
  readonly rssSlope: Line;
  /** Bytes of anonymous RSS per connection. */
  readonly rssAnonSlope: Line;
  /** Slopes of the `extra` figures per connection. */
  readonly extraSlopes: Readonly<Record<string, number>>;
}

export interface RampResult {
  readonly points: readonly RampPoint[];
  /** Over every step but the first (which also pays for JIT warm-up). */
  readonly connectsPerCpuSecond: number;
  readonly connectsPerWallSecond: number;
  /** Summed over the rated steps. */
  readonly cpu: CpuUse;
  readonly memory: MemoryFit | undefined;
  readonly failed: number;
  readonly lost: number;
  readonly errors: readonly string[];
}

export interface RampContext {
  readonly pool: WorkerPool;
  readonly server: ServerProcess;
  readonly ticks: number;
  readonly connectConcurrency: number;
  readonly stepTimeoutMs: number;
  /** Read memory (after it settles) at every step. */
  readonly memory: boolean;
  readonly extra?: () => Promise<Record<string, number>>;
}

const MAX_ERRORS = 5;

export async function runRamp(ctx: RampContext, steps: readonly number[]): Promise<RampResult> {
  const { pool, server, ticks } = ctx;
  const idle = ctx.memory ? await settledMemory(server.pid) : undefined;
  const points: RampPoint[] = [];
  let failed = 0;
  let lost = 0;
  const errors: string[] = [];
  for (const total of steps) {
    const window = CpuWindow.start(server.pid, pool.pids, ticks);
    const reports = await pool.run(
      (i) => ({
        cmd: "connect",
        total: share(total, pool.size, i),
        concurrency: ctx.connectConcurrency,
        timeoutMs: ctx.stepTimeoutMs,
      }),
      "connected",
      ctx.stepTimeoutMs + 10_000,
    );
    const cpu = window.stop();
    let open = 0;
    for (const r of reports) {
      open += r.open;
      failed += r.failed;
      lost += r.lost;
      errors.push(...r.errors.slice(0, MAX_ERRORS - errors.length));
    }
    const memory = ctx.memory ? await measure(ctx) : undefined;
    points.push({ connections: open, cpu, memory });
    const rss =
      memory === undefined ? "" : `, anon RSS ${(memory.rssAnon / 2 ** 20).toFixed(1)} MiB`;
    process.stderr.write(
      `  ${server.name}: ${open} connections${rss}, ${cpu.serverSeconds.toFixed(2)} CPU-s in ${cpu.wallSeconds.toFixed(2)} s\n`,
    );
  }
  const rated = points.length > 1 ? points.slice(1) : points;
  const before = points.length > 1 ? points[0]!.connections : 0;
  const added = points[points.length - 1]!.connections - before;
  const cpu = addUp(rated.map((p) => p.cpu));
  return {
    points,
    connectsPerCpuSecond: added / cpu.serverSeconds,
    connectsPerWallSecond: added / cpu.wallSeconds,
    cpu,
    memory: idle === undefined ? undefined : fit(idle, points),
    failed,
    lost,
    errors,
  };
}

async function measure(ctx: RampContext): Promise<MemoryPoint> {
  const m = await settledMemory(ctx.server.pid);
  const extra = ctx.extra === undefined ? {} : await ctx.extra();
  return { rss: m.rss, rssAnon: m.rssAnon, settled: m.settled, extra };
}

function fit(idle: { rss: number; rssAnon: number }, points: readonly RampPoint[]): MemoryFit {
  const line = (y: (m: MemoryPoint) => number) =>
    leastSquares(
      points.flatMap((p) => (p.memory === undefined ? [] : [{ x: p.connections, y: y(p.memory) }])),
    );
  const extraSlopes: Record<string, number> = {};
  for (const k of Object.keys(points[0]?.memory?.extra ?? {})) {
    extraSlopes[k] = line((m) => m.extra[k] ?? Number.NaN).slope;
  }
  return {
    idle: { rss: idle.rss, rssAnon: idle.rssAnon },
    rssSlope: line((m) => m.rss),
    rssAnonSlope: line((m) => m.rssAnon),
    extraSlopes,
  };
}

function addUp(us: readonly CpuUse[]): CpuUse {
  const total = { wallSeconds: 0, serverSeconds: 0, clientSeconds: 0, otherSeconds: 0 };
  for (const u of us) {
    total.wallSeconds += u.wallSeconds;
    total.serverSeconds += u.serverSeconds;
    total.clientSeconds += u.clientSeconds;
    total.otherSeconds += u.otherSeconds;
  }
  return total;
}
