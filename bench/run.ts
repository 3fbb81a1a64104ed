/**
 * `npm run bench [-- --quick] [--connections=N] [--duration=S] [--workers=N] [--server=PATH] …`
 *
 * One run measures the raw uWebSockets.js baseline and the push node under the same client
 * load (several worker processes on several 127.0.0.x source addresses), prints the
 * issue's figures with ratios and targets, and writes them to `.results/`. Each server is
 * started twice: once for memory (small V8 young generation, see SMALL_YOUNG_GENERATION)
 * and once, with default flags, for speed (connect rate, then PUT throughput and latency).
 */
import { cpus } from "node:os";
import {
  type ClusterResult,
  clusterDetails,
  clusterFigures,
  clusterNoiseWarning,
  killCluster,
  runCluster,
  writeClusterJson,
} from "./cluster.js";
import { runLatency } from "./latency.js";
import { type BenchOptions, OptionsError, parseOptions, rampSteps } from "./options.js";
import { clockTicksPerSecond } from "./proc-stats.js";
import { type RampResult, runRamp } from "./ramp.js";
import { type BenchResult, details, figures, noiseWarning, table, writeJson } from "./report.js";
import { scrape } from "./server-metrics.js";
import {
  type ServerProcess,
  SMALL_YOUNG_GENERATION,
  startBaseline,
  startPushNode,
} from "./server-process.js";
import { SourceAddresses } from "./source-addresses.js";
import { runThroughput } from "./throughput.js";
import {
  runWebPush,
  webpushDetails,
  webpushFigures,
  webpushNoiseWarning,
  writeWebPushJson,
} from "./webpush.js";
import { WorkerPool } from "./worker-pool.js";
import type { Target } from "./worker-protocol.js";

/** Source addresses per worker: sockets alternate between them. */
const ADDRESSES_PER_WORKER = 2;
const STEP_TIMEOUT_MS = 60_000;

const running = new Set<ServerProcess>();

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface Session {
  readonly o: BenchOptions;
  readonly ticks: number;
  readonly addresses: SourceAddresses;
}

/** Starts a server and a pool of client workers for it, runs `body`, stops both. */
async function withServer<T>(
  s: Session,
  start: () => Promise<ServerProcess>,
  target: Target,
  body: (server: ServerProcess, pool: WorkerPool) => Promise<T>,
): Promise<T> {
  const server = await start();
  running.add(server);
  log(`  ${server.name}: pid ${server.pid}, port ${server.port}`);
  let pool: WorkerPool | undefined;
  try {
    pool = await WorkerPool.start(
      Array.from({ length: s.o.workers }, (_, index) => ({
        index,
        host: s.o.host,
        port: server.port,
        target,
        localAddresses: s.addresses.take(ADDRESSES_PER_WORKER),
        httpSockets: s.o.httpSockets,
      })),
    );
    return await body(server, pool);
  } finally {
    await pool?.stop();
    await server.stop();
    running.delete(server);
  }
}

/** V8 heap figures of the push node, read from its metrics endpoint. */
function heapFigures(host: string, port: number): () => Promise<Record<string, number>> {
  return async () => {
    const s = await scrape(host, port);
    const get = (key: string) => s.get(key) ?? Number.NaN;
    return {
      heapUsed: get("nodejs_heap_size_used_bytes"),
      heapTotal: get("nodejs_heap_size_total_bytes"),
      newSpaceTotal: get('nodejs_heap_space_size_total_bytes{space="new"}'),
      oldSpaceUsed: get('nodejs_heap_space_size_used_bytes{space="old"}'),
      oldSpaceTotal: get('nodejs_heap_space_size_total_bytes{space="old"}'),
      external: get("nodejs_external_memory_bytes"),
    };
  };
}

function ramp(
  s: Session,
  server: ServerProcess,
  pool: WorkerPool,
  kind: "memory" | "speed",
): Promise<RampResult> {
  const { o } = s;
  const memory = kind === "memory";
  const extra =
    memory && server.metricsPort !== undefined
      ? { extra: heapFigures(o.host, server.metricsPort) }
      : {};
  return runRamp(
    {
      pool,
      server,
      ticks: s.ticks,
      connectConcurrency: o.connectConcurrency,
      stepTimeoutMs: STEP_TIMEOUT_MS,
      memory,
      ...extra,
    },
    memory ? rampSteps(o.connections, o.steps) : rampSteps(o.rateConnections, o.rateSteps),
  );
}

async function nodeSpeed(s: Session, server: ServerProcess, pool: WorkerPool) {
  const { o } = s;
  const rate = await ramp(s, server, pool, "speed");
  const metricsPort = server.metricsPort;
  log(`  node: closed-loop PUT → notification → ack for ${o.durationSeconds} s`);
  const throughput = await runThroughput({
    pool,
    server,
    ticks: s.ticks,
    concurrency: o.putConcurrency,
    warmupMs: o.warmupSeconds * 1000,
    durationMs: o.durationSeconds * 1000,
    ...(metricsPort === undefined
      ? {}
      : {
          // A labelled counter appears in the exposition only after its first increment.
          serverAcks: async () =>
            (await scrape(o.host, metricsPort)).get(
              'edition_notifications_total{outcome="acked"}',
            ) ?? 0,
        }),
  });
  if (throughput.completed === 0)
    throw new Error(`no PUT completed; statuses ${JSON.stringify(throughput.statuses)}`);
  const perSecond = throughput.capacityPerSecond * o.latencyLoad;
  log(`  node: open-loop PUTs at ${Math.round(perSecond)}/s for ${o.durationSeconds} s`);
  const latency = await runLatency({
    pool,
    server,
    ticks: s.ticks,
    ratePerSecond: perSecond,
    durationMs: o.durationSeconds * 1000,
    ...(metricsPort === undefined ? {} : { metrics: () => scrape(o.host, metricsPort) }),
  });
  return { rate, throughput, latency };
}

async function bench(o: BenchOptions): Promise<BenchResult> {
  const started = Date.now();
  const s: Session = { o, ticks: clockTicksPerSecond(), addresses: new SourceAddresses() };

  log(`memory: ${o.connections} idle sockets in ${o.steps} steps, ${o.workers} client workers`);
  const baselineMemory = await withServer(
    s,
    () => startBaseline(o.host, SMALL_YOUNG_GENERATION),
    "bare",
    (server, pool) => ramp(s, server, pool, "memory"),
  );
  const nodeMemory = await withServer(
    s,
    () => startPushNode(o.host, o.server, SMALL_YOUNG_GENERATION),
    "push",
    (server, pool) => ramp(s, server, pool, "memory"),
  );

  log(`speed: default V8 flags, ${o.rateConnections} sockets in ${o.rateSteps} steps`);
  const baselineRate = await withServer(
    s,
    () => startBaseline(o.host),
    "bare",
    (server, pool) => ramp(s, server, pool, "speed"),
  );
  const node = await withServer(
    s,
    () => startPushNode(o.host, o.server, o.nodeArgs),
    "push",
    (server, pool) => nodeSpeed(s, server, pool),
  );

  return {
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    options: o,
    machine: { cpus: cpus().length, node: process.version, clockTicks: s.ticks },
    baseline: { memory: baselineMemory, rate: baselineRate },
    node: { memory: nodeMemory, ...node },
  };
}

function withCluster(r: BenchResult, cluster: ClusterResult | undefined): BenchResult {
  const out: BenchResult & { cluster?: ClusterResult } = { ...r };
  if (cluster !== undefined) out.cluster = cluster;
  return out;
}

function abort(why: string): never {
  log(`bench: ${why}`);
  for (const s of running) s.kill();
  killCluster();
  process.exit(1);
}

async function main(): Promise<void> {
  let o: BenchOptions;
  try {
    o = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof OptionsError) abort(err.message);
    throw err;
  }
  const watchdog = setTimeout(
    () => abort(`still running after ${o.deadlineSeconds} s: aborted`),
    o.deadlineSeconds * 1000,
  );
  process.on("SIGINT", () => abort("interrupted"));
  const started = Date.now();
  try {
    const single = o.cluster === "only" || o.webpush === "only" ? undefined : await bench(o);
    const wp =
      o.webpush === "skip" || o.cluster === "only"
        ? undefined
        : await runWebPush(o, clockTicksPerSecond());
    const cluster =
      o.cluster === "skip" || o.webpush === "only"
        ? undefined
        : await runCluster(o, clockTicksPerSecond());
    const fs = [
      ...(single === undefined ? [] : figures(single)),
      ...(wp === undefined ? [] : webpushFigures(wp, single?.node.throughput.acksPerCpuSecond)),
      ...(cluster === undefined ? [] : clusterFigures(cluster)),
    ];
    const warnings = [
      single === undefined ? "" : noiseWarning(single),
      wp === undefined ? "" : webpushNoiseWarning(wp),
      cluster === undefined ? "" : clusterNoiseWarning(cluster),
    ].filter((w) => w !== "");
    const text = [
      single === undefined ? "" : details(single),
      wp === undefined ? "" : webpushDetails(wp),
      cluster === undefined ? "" : clusterDetails(cluster),
    ].filter((d) => d !== "");
    process.stdout.write(
      `\n${table(fs)}\n${warnings.map((w) => `${w}\n`).join("")}\n${text.join("\n")}\n`,
    );
    // One JSON per run: the single-node result with the cluster's under `cluster`.
    const file =
      single === undefined
        ? cluster === undefined
          ? writeWebPushJson(wp!, fs)
          : writeClusterJson(cluster, fs)
        : writeJson({ ...withCluster(single, cluster), ...(wp && { webpush: wp }) }, fs);
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(`\nresults: ${file} (${seconds.toFixed(0)} s)\n`);
  } catch (err) {
    abort(err instanceof Error ? (err.stack ?? err.message) : String(err));
  }
  clearTimeout(watchdog);
}

void main();
