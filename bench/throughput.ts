/**
 * PUT → notification → ack throughput: every worker runs closed loops against the
 * endpoints of its own registered sockets, the clients ack every notification, and the
 * completed acks are divided by the server's CPU seconds over the window. Completed
 * operations per wall second are the capacity the latency phase is scaled from.
 */
import { type CpuUse, CpuWindow } from "./cpu-window.js";
import type { ServerProcess } from "./server-process.js";
import type { WorkerPool } from "./worker-pool.js";
import type { LoadReport } from "./worker-protocol.js";

export interface ThroughputResult {
  readonly puts: number;
  readonly completed: number;
  /** Acks the clients sent in the window. */
  readonly acks: number;
  /** Acks the server counted in the window (its own metric), when it exposes one. */
  readonly serverAcks: number | undefined;
  readonly failed: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly cpu: CpuUse;
  readonly acksPerCpuSecond: number;
  /** Completed PUT → notification → ack per wall second: what this machine sustains. */
  readonly capacityPerSecond: number;
  /** Server CPU seconds per wall second (1 = one core busy). */
  readonly serverCores: number;
}

export interface ThroughputContext {
  readonly pool: WorkerPool;
  readonly server: ServerProcess;
  readonly ticks: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** The server's own ack counter, read outside the CPU window. */
  readonly serverAcks?: () => Promise<number | undefined>;
}

const TAIL_MS = 20_000;

export async function runThroughput(ctx: ThroughputContext): Promise<ThroughputResult> {
  const { pool, server, ticks } = ctx;
  const closedLoop = (durationMs: number) =>
    pool.run(
      () => ({ cmd: "closed-loop", concurrency: ctx.concurrency, durationMs }),
      "load",
      durationMs + TAIL_MS,
    );
  if (ctx.warmupMs > 0) await closedLoop(ctx.warmupMs);
  const acks0 = await ctx.serverAcks?.();
  const window = CpuWindow.start(server.pid, pool.pids, ticks);
  const reports = await closedLoop(ctx.durationMs);
  const cpu = window.stop();
  const acks1 = await ctx.serverAcks?.();
  const sum = totals(reports);
  return {
    ...sum,
    serverAcks: acks0 === undefined || acks1 === undefined ? undefined : acks1 - acks0,
    cpu,
    acksPerCpuSecond: sum.acks / cpu.serverSeconds,
    capacityPerSecond: sum.completed / cpu.wallSeconds,
    serverCores: cpu.serverSeconds / cpu.wallSeconds,
  };
}

export function totals(reports: readonly LoadReport[]) {
  const statuses: Record<string, number> = {};
  let puts = 0;
  let completed = 0;
  let acks = 0;
  let failed = 0;
  for (const r of reports) {
    puts += r.puts;
    completed += r.completed;
    acks += r.acks;
    failed += r.failed;
    for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  }
  return { puts, completed, acks, failed, statuses };
}
