/**
 * What the kernel says about a server process: CPU seconds (utime + stime of all its
 * threads, /proc/<pid>/stat) and resident memory (/proc/<pid>/status). Every per-CPU-second
 * figure of the bench divides by a difference of `cpuSeconds`, never by wall time.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** `getconf CLK_TCK`: the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error(`getconf CLK_TCK gave ${n}`);
  return n;
}

/** User + system CPU seconds the process has used so far (all threads). */
export function cpuSeconds(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Field 2 (comm) may contain spaces and parentheses: count fields after the last ')'.
  // After it come field 3 (state) onwards, so utime (14) and stime (15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`bad /proc/${pid}/stat`);
  return (utime + stime) / ticksPerSecond;
}

export interface Memory {
  /** VmRSS, bytes. */
  readonly rss: number;
  /** RssAnon, bytes: the anonymous (heap, stacks, buffers) part of VmRSS. */
  readonly rssAnon: number;
}

export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    if (m === null) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb("VmRSS"), rssAnon: kb("RssAnon") };
}

export interface SettledMemory extends Memory {
  /** Whether RSS stopped moving before the deadline. */
  readonly settled: boolean;
  readonly waitedMs: number;
}

/**
 * Polls RSS until `stableSamples` consecutive samples lie within `tolerance` (relative) of
 * each other, or `timeoutMs` passes; returns the last sample. Lets lazy work after a burst
 * of connections (GC, allocator trimming) finish before memory is read.
 */
export async function settledMemory(
  pid: number,
  { intervalMs = 250, tolerance = 0.002, stableSamples = 4, timeoutMs = 5000 } = {},
): Promise<SettledMemory> {
  const start = Date.now();
  const window: Memory[] = [memory(pid)];
  for (;;) {
    const last = window[window.length - 1]!;
    if (window.length >= stableSamples) {
      const rs = window.slice(-stableSamples).map((m) => m.rss);
      const spread = Math.max(...rs) - Math.min(...rs);
      if (spread <= tolerance * last.rss)
        return { ...last, settled: true, waitedMs: Date.now() - start };
    }
    if (Date.now() - start >= timeoutMs)
      return { ...last, settled: false, waitedMs: Date.now() - start };
    await new Promise((r) => setTimeout(r, intervalMs));
    window.push(memory(pid));
  }
}

/** The soft open-files limit of this process (children inherit it). */
export function openFilesLimit(): number {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const m = /^Max open files\s+(\d+)/m.exec(limits);
  return m === null ? 1024 : Number(m[1]);
}
