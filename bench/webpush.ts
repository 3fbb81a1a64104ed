/**
 * The Web Push phase of `npm run bench`: one push node (memory store, plain `node` from
 * `server/dist`), `webpush-clients` Web Push clients spread over `workers` client
 * processes (`webpush-worker.ts`), closed loops of POST (aes128gcm, 201) → notification
 * (payload checked decrypt-ready) → ack by message id. Figure: acks per server CPU second
 * over the window after a warm-up, beside the SimplePush PUT figure of the same run.
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type CpuUse, CpuWindow } from "./cpu-window.js";
import type { BenchOptions } from "./options.js";
import type { Figure } from "./report.js";
import { scrape } from "./server-metrics.js";
import { startPushNode } from "./server-process.js";
import { SourceAddresses } from "./source-addresses.js";
import type { WebPushCommand, WebPushLoadReport, WebPushWorkerConfig } from "./webpush-worker.js";
import { share } from "./worker-pool.js";

const WORKER = fileURLToPath(new URL("./webpush-worker.ts", import.meta.url));
const START_TIMEOUT_MS = 60_000;
const TAIL_MS = 20_000;

export interface WebPushResult {
  readonly startedAt: string;
  readonly clients: number;
  readonly posts: number;
  readonly completed: number;
  readonly acks: number;
  readonly serverAcks: number | undefined;
  readonly failed: number;
  /** Notifications whose payload or headers differed from what was POSTed (must be 0). */
  readonly mismatched: number;
  /** Sampled notifications decrypted with the user agent's keys. */
  readonly decrypted: number;
  readonly statuses: Record<string, number>;
  readonly cpu: CpuUse;
  readonly acksPerCpuSecond: number;
  readonly capacityPerSecond: number;
  readonly serverCores: number;
}

class Worker {
  private readonly inbox: unknown[] = [];
  private wake: (() => void) | undefined;
  constructor(readonly child: ChildProcess) {
    child.on("message", (m) => {
      this.inbox.push(m);
      this.wake?.();
    });
    child.on("exit", () => this.wake?.());
  }
  async next(ms: number): Promise<unknown> {
    const end = Date.now() + ms;
    while (this.inbox.length === 0) {
      if (this.child.exitCode !== null) throw new Error("web push worker exited");
      if (Date.now() > end) throw new Error(`web push worker silent for ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return this.inbox.shift();
  }
  send(c: WebPushCommand): void {
    this.child.send(c);
  }
}

export async function runWebPush(o: BenchOptions, ticks: number): Promise<WebPushResult> {
  const startedAt = new Date().toISOString();
  const server = await startPushNode(o.host, o.server, o.nodeArgs);
  process.stderr.write(`web push: node pid ${server.pid}, ${o.webpushClients} clients\n`);
  const addresses = new SourceAddresses();
  // A fresh range far from the single-node phases' addresses (their TIME_WAIT ports).
  addresses.take(200);
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < o.workers; i++) {
      const cfg: WebPushWorkerConfig = {
        host: o.host,
        port: server.port,
        clients: share(o.webpushClients, o.workers, i),
        localAddress: addresses.take(1)[0]!,
        httpSockets: o.httpSockets,
      };
      workers.push(
        new Worker(
          fork(WORKER, [], {
            execArgv: ["--import", "tsx"],
            env: { ...process.env, BENCH_WEBPUSH_WORKER: JSON.stringify(cfg) },
            stdio: ["ignore", "inherit", "inherit", "ipc"],
          }),
        ),
      );
    }
    await Promise.all(workers.map((w) => w.next(START_TIMEOUT_MS)));
    const run = async (durationMs: number) => {
      for (const w of workers) w.send({ cmd: "load", concurrency: o.putConcurrency, durationMs });
      return (await Promise.all(
        workers.map((w) => w.next(durationMs + TAIL_MS)),
      )) as WebPushLoadReport[];
    };
    if (o.warmupSeconds > 0) await run(o.warmupSeconds * 1000);
    const serverAcks = async () =>
      server.metricsPort === undefined
        ? undefined
        : ((await scrape(o.host, server.metricsPort)).get(
            'edition_notifications_total{outcome="acked"}',
          ) ?? 0);
    const acks0 = await serverAcks();
    const pids = workers.map((w) => w.child.pid ?? 0).filter((p) => p > 0);
    const window = CpuWindow.start(server.pid, pids, ticks);
    const reports = await run(o.durationSeconds * 1000);
    const cpu = window.stop();
    const acks1 = await serverAcks();
    const statuses: Record<string, number> = {};
    const sum = { posts: 0, completed: 0, acks: 0, failed: 0, mismatched: 0, decrypted: 0 };
    for (const r of reports) {
      for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += r[k];
      for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    }
    return {
      startedAt,
      clients: o.webpushClients,
      ...sum,
      serverAcks: acks0 === undefined || acks1 === undefined ? undefined : acks1 - acks0,
      statuses,
      cpu,
      acksPerCpuSecond: sum.acks / cpu.serverSeconds,
      capacityPerSecond: sum.completed / cpu.wallSeconds,
      serverCores: cpu.serverSeconds / cpu.wallSeconds,
    };
  } finally {
    for (const w of workers) {
      if (w.child.exitCode === null) {
        try {
          w.send({ cmd: "stop" });
        } catch {
          w.child.kill("SIGKILL");
        }
      }
    }
    await server.stop();
  }
}

/** The Web Push rows of the table; `simplePush` is the same run's PUT figure, if measured. */
export function webpushFigures(r: WebPushResult, simplePush: number | undefined): Figure[] {
  return [
    {
      figure:
        "Web Push POST → decrypt-ready notification → ack per CPU-s (baseline: SimplePush PUT)",
      node: r.acksPerCpuSecond,
      ...(simplePush === undefined
        ? {}
        : { baseline: simplePush, ratio: r.acksPerCpuSecond / simplePush }),
      unit: "/CPU-s",
      target: `${r.mismatched} payloads altered, ${r.decrypted} decrypted`,
      met: r.mismatched === 0 && r.failed === 0,
    },
    {
      figure: "Web Push capacity, closed loop (this machine, clients included)",
      node: r.capacityPerSecond,
      unit: "/s",
      target: `server ${r.serverCores.toFixed(2)} cores`,
    },
  ];
}

export function webpushDetails(r: WebPushResult): string {
  const c = r.cpu;
  return [
    `web push: ${r.clients} clients, ${r.posts} POSTs, ${r.completed} completed, ${r.failed} failed, statuses ${JSON.stringify(r.statuses)}`,
    `  acks: clients ${r.acks}, node ${r.serverAcks ?? "n/a"}; payloads altered ${r.mismatched}, decrypted (sampled) ${r.decrypted}`,
    `  cpu over ${c.wallSeconds.toFixed(1)} s: node ${c.serverSeconds.toFixed(2)} s, clients ${c.clientSeconds.toFixed(2)} s, rest ${c.otherSeconds.toFixed(2)} s`,
  ].join("\n");
}

export function writeWebPushJson(r: WebPushResult, fs: readonly Figure[]): string {
  const dir = fileURLToPath(new URL("../.results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}bench-webpush-${r.startedAt.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, `${JSON.stringify({ ...r, figures: fs }, null, 2)}\n`);
  return file;
}

/** Like the other phases: flag a window in which other jobs used more than 0.3 of a core. */
export function webpushNoiseWarning(r: WebPushResult): string {
  const rest = r.cpu.otherSeconds / r.cpu.wallSeconds;
  return rest > 0.3
    ? `warning: other jobs on this machine used ${rest.toFixed(2)} cores during the Web Push phase; its figures are noisy, repeat the run.`
    : "";
}
