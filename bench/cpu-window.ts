/**
 * CPU seconds over a window of the run: the server's (the denominator of every
 * per-CPU-second figure), the client workers', and the rest of the machine's (other jobs
 * on a shared machine: a large share means the figures of this window are noisy).
 */
import { readFileSync } from "node:fs";
import { cpuSeconds } from "./proc-stats.js";

export interface CpuUse {
  readonly wallSeconds: number;
  readonly serverSeconds: number;
  readonly clientSeconds: number;
  /** Busy CPU of the whole machine (niced jobs excluded) minus server and clients. */
  readonly otherSeconds: number;
}

/**
 * Busy CPU seconds of the whole machine so far, all CPUs. Idle and iowait are not busy;
 * neither is `nice` time: niced jobs (background builds) yield to the bench's processes.
 */
function machineBusySeconds(ticks: number): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [, user, , system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / ticks;
}

function sum(pids: readonly number[], ticks: number): number {
  let s = 0;
  for (const pid of pids) s += cpuSeconds(pid, ticks);
  return s;
}

export class CpuWindow {
  private constructor(
    private readonly serverPid: number,
    private readonly clientPids: readonly number[],
    private readonly ticks: number,
    private readonly t0: number,
    private readonly server0: number,
    private readonly clients0: number,
    private readonly machine0: number,
  ) {}

  static start(serverPid: number, clientPids: readonly number[], ticks: number): CpuWindow {
    return new CpuWindow(
      serverPid,
      clientPids,
      ticks,
      performance.now(),
      cpuSeconds(serverPid, ticks),
      sum(clientPids, ticks),
      machineBusySeconds(ticks),
    );
  }

  stop(): CpuUse {
    const server = cpuSeconds(this.serverPid, this.ticks) - this.server0;
    const clients = sum(this.clientPids, this.ticks) - this.clients0;
    const machine = machineBusySeconds(this.ticks) - this.machine0;
    return {
      wallSeconds: (performance.now() - this.t0) / 1000,
      serverSeconds: server,
      clientSeconds: clients,
      otherSeconds: Math.max(0, machine - server - clients),
    };
  }
}
