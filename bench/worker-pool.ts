/**
 * The parent's side of the client workers: forks them (each its own process, so each
 * stays under the per-process open-files limit), sends every worker one command and
 * gathers one report from each, within a time bound.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  type Command,
  isReport,
  type Report,
  type ReportKind,
  type WorkerConfig,
} from "./worker-protocol.js";

const WORKER = fileURLToPath(new URL("./client-worker.ts", import.meta.url));
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

type Waiter = (r: Report | Error) => void;

class Worker {
  private waiter: Waiter | undefined;
  private exited = false;

  constructor(readonly child: ChildProcess) {
    child.on("message", (m: unknown) => {
      if (isReport(m)) this.take(m);
    });
    child.on("exit", (code, signal) => {
      this.exited = true;
      this.take(new Error(`client worker exited (${code ?? signal})`));
    });
  }

  private take(r: Report | Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(r);
  }

  /** The next report of kind `kind`, within `timeoutMs`. */
  next<K extends ReportKind>(
    kind: K,
    timeoutMs: number,
    cmd?: Command,
  ): Promise<Extract<Report, { kind: K }>> {
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new Error("client worker has exited"));
        return;
      }
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`client worker ${this.child.pid}: no "${kind}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else if (r.kind === "failed") reject(new Error(`client worker: ${r.message}`));
        else if (r.kind !== kind)
          reject(new Error(`client worker: expected ${kind}, got ${r.kind}`));
        else resolve(r as Extract<Report, { kind: K }>);
      };
      if (cmd !== undefined) this.child.send(cmd);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    try {
      await this.next("stopped", STOP_TIMEOUT_MS, { cmd: "stop" });
    } catch {
      // Stopping is best effort; the kill below makes it certain.
    }
    const timer = setTimeout(() => this.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
  }
}

export class WorkerPool {
  private constructor(private readonly workers: readonly Worker[]) {}

  get size(): number {
    return this.workers.length;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0).filter((pid) => pid > 0);
  }

  static async start(configs: readonly WorkerConfig[]): Promise<WorkerPool> {
    const workers = configs.map(
      (cfg) =>
        new Worker(
          fork(WORKER, [], {
            execArgv: ["--import", "tsx"],
            env: { ...process.env, BENCH_WORKER: JSON.stringify(cfg) },
            stdio: ["ignore", "inherit", "inherit", "ipc"],
          }),
        ),
    );
    const pool = new WorkerPool(workers);
    try {
      await Promise.all(workers.map((w) => w.next("ready", START_TIMEOUT_MS)));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  /** Sends `command(i)` to worker i and resolves with every worker's report, in order. */
  run<K extends ReportKind>(
    command: (index: number) => Command,
    kind: K,
    timeoutMs: number,
  ): Promise<Extract<Report, { kind: K }>[]> {
    return Promise.all(this.workers.map((w, i) => w.next(kind, timeoutMs, command(i))));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}

/** `total` split over `n` workers as evenly as integers allow. */
export function share(total: number, n: number, index: number): number {
  return Math.floor(total / n) + (index < total % n ? 1 : 0);
}
