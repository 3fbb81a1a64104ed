/**
 * `npm run bench -- --cluster`: a 3-node cluster on loopback with the Redis store (real
 * etcd; real Redis with AOF `appendfsync always`; the nodes from `server/dist/main.js`
 * under plain `node`), measured by client workers (`cluster-worker.ts`) that PUT through a
 * node other than the one holding each client's socket:
 *
 * 1. throughput: closed loops of cross-node PUT → notification → ack, per CPU second of
 *    the three nodes (Redis's CPU reported apart, and the total including it);
 * 2. latency: open loop at `latency-load` × that capacity, cross-node, timed in the
 *    client process from PUT start to the notification's arrival (worker 0: light probe);
 * 3. recovery: kill -9 of one node (not the coordinator) holding a third of the clients;
 *    each victim client gets one PUT while it is offline and reconnects with jitter; the
 *    time from the kill until 99 % / 100 % of them are reconnected and flushed, and zero
 *    loss over the whole run (every 2xx-answered version reached its client).
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DEFAULT_SLOTS } from "../server/src/routing/slot-table.js";
import { type EtcdServer, startEtcd } from "../test/support/etcd.js";
import { type RedisServer, startRedis } from "../test/support/redis.js";
import {
  type ClusterCommand,
  type ClusterReport,
  type ClusterReportKind,
  type ClusterWorkerConfig,
  isClusterReport,
  type RecoveryReport,
} from "./cluster-protocol.js";
import type { BenchOptions } from "./options.js";
import { cpuSeconds } from "./proc-stats.js";
import { type ProfileBreakdown, profileBreakdown } from "./profile.js";
import type { Figure } from "./report.js";
import { histogramQuantiles, type Samples, scrape } from "./server-metrics.js";
import { SourceAddresses } from "./source-addresses.js";
import { type Percentiles, percentiles } from "./stats.js";
import { totals } from "./throughput.js";
import { share } from "./worker-pool.js";

const NODES = 3;
const WORKER = fileURLToPath(new URL("./cluster-worker.ts", import.meta.url));
const START_TIMEOUT_MS = 20_000;
const CONVERGE_TIMEOUT_MS = 20_000;
const TAIL_MS = 20_000;
/** Bound of the warm-up that PUTs every client once. */
const WARM_ALL_MS = 60_000;
const RECOVERY_TIMEOUT_MS = 40_000;
const ADDRESSES_PER_WORKER = 2;
const PROBE_SHARE = 0.1;
const PROBE_MIN = 50;
const PROBE_MAX = 500;
/** Other jobs' CPU above this share of a core makes a phase's figures noisy. */
const NOISY_CORES = 0.3;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

// ---- processes ----

interface ClusterNode {
  readonly id: string;
  readonly pid: number;
  readonly port: number;
  readonly metricsPort: number;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  /** Date.now() at spawn: where the node's CPU profile starts (`--profile`). */
  readonly spawnedAt: number;
}

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** Kills every process this mode started (for an aborted run). */
export function killCluster(): void {
  for (const c of children) c.kill("SIGKILL");
}

function startNode(
  host: string,
  entry: string,
  flags: readonly string[],
  env: Record<string, string>,
): Promise<ClusterNode> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("EDITION_")) base[k] = v;
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [...flags, entry], {
    env: { ...base, ...env, EDITION_HOST: host, EDITION_PORT: "0", EDITION_METRICS_PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  const exited = new Promise<void>((r) =>
    child.once("exit", () => {
      children.delete(child);
      r();
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${env.EDITION_NODE_ID}: no listening line within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${env.EDITION_NODE_ID} exited with ${code} before listening`));
    });
    // Read stdout for the whole run so the node never blocks on a full pipe.
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.startsWith('{"') || !line.includes('"listening"')) return;
      let e: { event?: unknown; port?: unknown; metricsPort?: unknown };
      try {
        e = JSON.parse(line) as typeof e;
      } catch {
        return;
      }
      if (e.event !== "listening" || typeof e.port !== "number") return;
      clearTimeout(timer);
      resolve({
        id: env.EDITION_NODE_ID!,
        pid: child.pid!,
        port: e.port,
        metricsPort: e.metricsPort as number,
        child,
        exited,
        spawnedAt,
      });
    });
  });
}

async function stopNode(n: ClusterNode): Promise<void> {
  if (n.child.exitCode !== null || n.child.signalCode !== null) return;
  n.child.kill("SIGTERM");
  const timer = setTimeout(() => n.child.kill("SIGKILL"), 5000);
  await n.exited;
  clearTimeout(timer);
}

/** Every node owns slots of one table and sees every other node (the region converged). */
async function converged(host: string, nodes: readonly ClusterNode[]): Promise<void> {
  const end = Date.now() + CONVERGE_TIMEOUT_MS;
  let last = "";
  for (;;) {
    const views = await Promise.all(
      nodes.map((n) => scrape(host, n.metricsPort, 1000).catch(() => new Map<string, number>())),
    );
    const owned = views.map((v) => v.get("edition_slots_owned") ?? 0);
    const members = views.map((v) => v.get("edition_members") ?? 0);
    last = `slots owned ${owned.join("/")}, members seen ${members.join("/")}`;
    if (owned.every((x) => x > 0) && members.every((m) => m === nodes.length)) {
      // One table: the shares add up to every slot.
      if (owned.reduce((a, b) => a + b, 0) === DEFAULT_SLOTS) return;
    }
    if (Date.now() > end)
      throw new Error(`cluster did not converge in ${CONVERGE_TIMEOUT_MS} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- client workers ----

type Waiter = (r: ClusterReport | Error) => void;

class Worker {
  private waiter: Waiter | undefined;
  private exited = false;
  readonly child: ChildProcess;

  constructor(cfg: ClusterWorkerConfig) {
    this.child = fork(WORKER, [], {
      execArgv: ["--import", "tsx"],
      env: { ...process.env, BENCH_CLUSTER_WORKER: JSON.stringify(cfg) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.add(this.child);
    this.child.on("message", (m: unknown) => {
      if (isClusterReport(m)) this.take(m);
    });
    this.child.on("exit", (code, signal) => {
      children.delete(this.child);
      this.exited = true;
      this.take(new Error(`cluster client worker exited (${code ?? signal})`));
    });
  }

  private take(r: ClusterReport | Error): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(r);
  }

  next<K extends ClusterReportKind>(
    kind: K,
    timeoutMs: number,
    cmd?: ClusterCommand,
  ): Promise<Extract<ClusterReport, { kind: K }>> {
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new Error("cluster client worker has exited"));
        return;
      }
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`cluster client worker: no "${kind}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(r);
        else if (r.kind === "failed") reject(new Error(`cluster client worker: ${r.message}`));
        else if (r.kind !== kind) reject(new Error(`expected ${kind}, got ${r.kind}`));
        else resolve(r as Extract<ClusterReport, { kind: K }>);
      };
      if (cmd !== undefined) this.child.send(cmd);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    await this.next("stopped", 10_000, { cmd: "stop" }).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

class Pool {
  constructor(readonly workers: readonly Worker[]) {}
  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0).filter((p) => p > 0);
  }
  run<K extends ClusterReportKind>(
    command: (i: number) => ClusterCommand,
    kind: K,
    timeoutMs: number,
  ): Promise<Extract<ClusterReport, { kind: K }>[]> {
    return Promise.all(this.workers.map((w, i) => w.next(kind, timeoutMs, command(i))));
  }
  stop(): Promise<unknown> {
    return Promise.all(this.workers.map((w) => w.stop()));
  }
}

// ---- CPU ----

export interface ClusterCpu {
  readonly wallSeconds: number;
  /** The push nodes' CPU seconds (those alive at both ends of the window). */
  readonly nodeSeconds: number;
  readonly redisSeconds: number;
  readonly etcdSeconds: number;
  readonly clientSeconds: number;
  /** Busy CPU of the machine (niced jobs excluded) minus all of the above. */
  readonly otherSeconds: number;
}

function machineBusySeconds(ticks: number): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [, user, , system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / ticks;
}

/** The etcd process(es) this bench started: children of this process named `etcd`. */
function etcdPids(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (comm === "etcd" && ppid === process.pid) out.push(Number(d));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

class CpuWindow {
  private readonly t0 = performance.now();
  private readonly first: number[][];
  constructor(
    private readonly groups: readonly (readonly number[])[],
    private readonly ticks: number,
  ) {
    this.first = groups.map((g) => g.map((pid) => this.read(pid)));
    this.machine0 = machineBusySeconds(ticks);
  }
  private readonly machine0: number;
  private read(pid: number): number {
    try {
      return cpuSeconds(pid, this.ticks);
    } catch {
      return Number.NaN; // exited
    }
  }
  /** Per group: the sum over pids alive at both ends. */
  stop(): { wall: number; groups: number[]; machine: number } {
    const groups = this.groups.map((g, gi) => {
      let s = 0;
      g.forEach((pid, i) => {
        const d = this.read(pid) - this.first[gi]![i]!;
        if (Number.isFinite(d)) s += d;
      });
      return s;
    });
    return {
      wall: (performance.now() - this.t0) / 1000,
      groups,
      machine: machineBusySeconds(this.ticks) - this.machine0,
    };
  }
}

function cpuWindow(
  nodes: readonly number[],
  redis: number,
  pool: Pool,
  ticks: number,
): () => ClusterCpu {
  const w = new CpuWindow([nodes, [redis], etcdPids(), pool.pids], ticks);
  return () => {
    const r = w.stop();
    const [node, red, etcd, clients] = r.groups as [number, number, number, number];
    return {
      wallSeconds: r.wall,
      nodeSeconds: node,
      redisSeconds: red,
      etcdSeconds: etcd,
      clientSeconds: clients,
      otherSeconds: Math.max(0, r.machine - node - red - etcd - clients),
    };
  };
}

// ---- phases ----

export interface ClusterLoad {
  readonly puts: number;
  readonly completed: number;
  readonly acks: number;
  readonly failed: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly cpu: ClusterCpu;
}

interface ClusterThroughput extends ClusterLoad {
  readonly serverAcks: number | undefined;
  readonly acksPerNodeCpuSecond: number;
  readonly acksPerCpuSecondWithRedis: number;
  readonly capacityPerSecond: number;
  /** Router requests the nodes sent per completed PUT, by op. */
  readonly hopsPerPut: Readonly<Record<string, number>>;
  readonly storeBatches: StoreBatches;
}

/**
 * The Redis script calls that carried saves and acks (group commit) over a phase, summed
 * over the nodes (`edition_store_batch_operations`).
 */
interface StoreBatches {
  readonly calls: number;
  readonly operations: number;
}

const ACKED = 'edition_notifications_total{outcome="acked"}';
/** Scrapes after a closed loop, at most, waiting for the nodes to count its last acks. */
const ACK_SCRAPES = 20;

/** `series` summed over one scrape per node. */
function summed(scrapes: readonly Samples[], series: string): number {
  return scrapes.reduce((sum, m) => sum + (m.get(series) ?? 0), 0);
}

function storeBatches(before: readonly Samples[], after: readonly Samples[]): StoreBatches {
  const delta = (series: string) => summed(after, series) - summed(before, series);
  return {
    calls: delta("edition_store_batch_operations_count"),
    operations: delta("edition_store_batch_operations_sum"),
  };
}

interface ClusterLatency extends ClusterLoad {
  readonly targetRate: number;
  readonly probeRate: number;
  readonly achievedRate: number;
  readonly latencyMs: Percentiles;
  readonly allLatencyMs: Percentiles;
  readonly maxScheduleLagMs: number;
  readonly clientLoopDelayP99Ms: number;
  /**
   * The nodes' own histograms over the phase (every PUT, summed over the nodes; bucket
   * upper bounds): where a client-seen tail was spent, or that it was not spent in a node.
   */
  readonly serverSideMs: Readonly<Record<string, ServerQuantiles>>;
  readonly storeBatches: StoreBatches;
}

interface ServerQuantiles {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
}

/** The node histograms the latency phases report (label → series and label match). */
const SERVER_SIDE: readonly (readonly [string, string, Readonly<Record<string, string>>])[] = [
  ["PUT → socket (endpoint node, hop included)", "edition_put_to_socket_seconds", {}],
  ["store save_pending", "edition_store_operation_seconds", { operation: "save_pending" }],
  ["router route", "edition_internal_hop_seconds", { op: "route" }],
  ["router deliver", "edition_internal_hop_seconds", { op: "deliver" }],
];

export interface ClusterResult {
  readonly mode: "cluster";
  readonly startedAt: string;
  readonly seconds: number;
  readonly options: BenchOptions;
  readonly machine: { readonly cpus: number; readonly node: string; readonly clockTicks: number };
  readonly nodes: number;
  readonly nodeRuntime: string;
  readonly clients: number;
  readonly perNode: readonly number[];
  readonly connect: { readonly seconds: number; readonly failed: number; readonly cpu: ClusterCpu };
  readonly throughput: ClusterThroughput;
  readonly latency: ClusterLatency;
  /**
   * The same two phases with every PUT through the node that holds the client's socket:
   * the same nodes, Redis and run, without the cross-node hop (the baseline of the ratios).
   */
  readonly sameNode: { readonly throughput: ClusterThroughput; readonly latency: ClusterLatency };
  readonly recovery: {
    readonly victim: string;
    readonly victimClients: number;
    readonly killedAt: number;
    /** Seconds after the kill, per victim client. */
    readonly droppedS: Percentiles;
    readonly reconnectedS: Percentiles;
    readonly recoveredS: Percentiles;
    readonly recovered: number;
    /** Seconds from the kill until 99 % / 100 % of the victim's clients were reconnected and flushed. */
    readonly t99: number;
    readonly t100: number;
    readonly putsAccepted: number;
    readonly putsRejected: number;
    readonly putRetries: number;
    readonly putStatuses: Readonly<Record<string, number>>;
    readonly lostClients: number;
    readonly lostUpdates: number;
    readonly otherDrops: number;
    readonly reconnectAttempts: number;
    readonly problems: readonly string[];
    readonly survivorsConvergedS: number | undefined;
    readonly cpu: ClusterCpu;
  };
  /** `--profile`: where the nodes' CPU went during the throughput phase. */
  profile?: ProfileBreakdown & { readonly dir: string };
}

function sumStatuses(rs: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** Time (s) by which `share` of `n` events had happened; Infinity if fewer did. */
function timeToShare(sortedS: readonly number[], n: number, part: number): number {
  const need = Math.ceil(n * part);
  if (need === 0) return 0;
  return sortedS.length >= need ? sortedS[need - 1]! : Number.POSITIVE_INFINITY;
}

export async function runCluster(o: BenchOptions, ticks: number): Promise<ClusterResult> {
  const started = Date.now();
  const host = o.host;
  log(`cluster: etcd, Redis (AOF, appendfsync always), ${NODES} nodes from ${o.server}`);
  let etcd: EtcdServer | undefined;
  let redis: RedisServer | undefined;
  const nodes: ClusterNode[] = [];
  let pool: Pool | undefined;
  const results = fileURLToPath(new URL("../.results/", import.meta.url));
  if (o.profile) mkdirSync(results, { recursive: true });
  const profDir = o.profile ? mkdtempSync(`${results}profile-`) : undefined;
  const profFlags = (id: string) =>
    profDir === undefined
      ? []
      : ["--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${id}.cpuprofile`];
  /** The throughput phase in Date.now() time, for the profile window. */
  let tpWindow: [number, number] | undefined;
  let result: ClusterResult;
  try {
    [etcd, redis] = await Promise.all([startEtcd(), startRedis({ aof: true, onDisk: true })]);
    const env: Record<string, string> = {
      EDITION_ETCD_ENDPOINTS: etcd.endpoint,
      EDITION_ETCD_PREFIX: `/edition-bench-${randomBytes(4).toString("hex")}`,
      EDITION_REDIS_URL: redis.url,
      EDITION_CLUSTER_SECRET: randomBytes(24).toString("hex"),
      EDITION_TOKEN_KEYS: `1:${randomBytes(32).toString("base64")}`,
      // Raw connect rates from a few loopback addresses: no per-address limits.
      EDITION_MAX_CONNECTIONS_PER_IP: "0",
      EDITION_HANDSHAKES_PER_IP_PER_SECOND: "0",
      EDITION_ROUTER_PORT: "0",
      // The node's defaults unless told (the cluster tests shorten the lease to 2 s).
      EDITION_LEASE_TTL_SECONDS: String(o.clusterLeaseTtl),
      EDITION_LOG_LEVEL: "info",
      // The bench closes its clients before stopping the nodes: no drain to wait for.
      EDITION_DRAIN_DEADLINE_SECONDS: "0",
    };
    for (let i = 0; i < NODES; i++)
      nodes.push(
        await startNode(host, o.server, [...o.nodeArgs, ...profFlags(`node-${i}`)], {
          ...env,
          EDITION_NODE_ID: `node-${i}`,
        }),
      );
    await converged(host, nodes);
    log(
      `  nodes: ${nodes.map((n) => `${n.id} pid ${n.pid} port ${n.port}`).join(", ")}; redis pid ${redis.pid}`,
    );

    const addresses = new SourceAddresses();
    pool = new Pool(
      Array.from(
        { length: o.workers },
        (_, index) =>
          new Worker({
            index,
            nodes: nodes.map((n) => ({ host, port: n.port })),
            localAddresses: addresses.take(ADDRESSES_PER_WORKER),
            httpSockets: Math.max(4, Math.ceil(o.httpSockets / 2)),
          }),
      ),
    );
    const p = pool;
    await Promise.all(p.workers.map((w) => w.next("ready", START_TIMEOUT_MS)));
    const nodePids = nodes.map((n) => n.pid);
    const redisPid = redis.pid;
    const window = () => cpuWindow(nodePids, redisPid, p, ticks);

    // Connect: every client hello + register, round-robin over the nodes.
    const total = o.clusterClients;
    log(`  connecting ${total} clients over ${NODES} nodes from ${o.workers} workers`);
    const c0 = Date.now();
    const connectCpu = window();
    const connected = await p.run(
      (i) => ({
        cmd: "connect",
        total: share(total, o.workers, i),
        concurrency: o.connectConcurrency,
        timeoutMs: 60_000,
      }),
      "connected",
      90_000,
    );
    const connect = {
      seconds: (Date.now() - c0) / 1000,
      failed: connected.reduce((a, r) => a + r.failed, 0),
      cpu: connectCpu(),
    };
    const perNode = nodes.map((_, i) => connected.reduce((a, r) => a + (r.perNode[i] ?? 0), 0));
    const open = connected.reduce((a, r) => a + r.open, 0);
    if (open < total)
      throw new Error(
        `only ${open} of ${total} clients connected: ${connected
          .flatMap((r) => r.errors)
          .slice(0, 3)
          .join(" | ")}`,
      );

    // Throughput: closed loops, cross-node, then through the holder itself (the baseline).
    const closedLoop = (durationMs: number, sameNode: boolean, onePerClient = false) =>
      p.run(
        () => ({
          cmd: "closed-loop",
          concurrency: o.putConcurrency,
          durationMs,
          sameNode,
          onePerClient,
        }),
        "load",
        durationMs + TAIL_MS,
      );
    const scrapeAll = () => Promise.all(nodes.map((n) => scrape(host, n.metricsPort)));
    /** Router requests sent so far by every node, by op (`edition_internal_hop_seconds`). */
    const hops = (scrapes: readonly Samples[]) => {
      const out = new Map<string, number>();
      for (const m of scrapes) {
        for (const [k, v] of m) {
          const op = /^edition_internal_hop_seconds_count\{.*op="([^"]+)"/.exec(k)?.[1];
          if (op !== undefined) out.set(op, (out.get(op) ?? 0) + v);
        }
      }
      return out;
    };
    const measureThroughput = async (sameNode: boolean) => {
      if (o.warmupSeconds > 0) {
        // One PUT per client first: each endpoint node then knows the holder of every
        // client it is PUT through (one hop, the steady state of an app server that PUTs
        // to a device more than once); the router requests per PUT are printed.
        await closedLoop(WARM_ALL_MS, sameNode, true);
        await closedLoop(o.warmupSeconds * 1000, sameNode);
      }
      const scrapes0 = await scrapeAll().catch(() => []);
      const hops0 = hops(scrapes0);
      const cpu = window();
      const from = Date.now();
      const reports = await closedLoop(o.durationSeconds * 1000, sameNode);
      const use = cpu();
      const span: [number, number] = [from, Date.now()];
      const tp = totals(reports);
      // The clients' last acks may still be on their way to the nodes: scrape again
      // (bounded) until the nodes counted as many as the clients sent.
      const serverAcks = (after: readonly Samples[]) =>
        scrapes0.length === 0 || after.length === 0
          ? undefined
          : summed(after, ACKED) - summed(scrapes0, ACKED);
      let scrapes1: readonly Samples[] = await scrapeAll().catch(() => []);
      for (let i = 0; i < ACK_SCRAPES && (serverAcks(scrapes1) ?? tp.acks) < tp.acks; i++)
        scrapes1 = await scrapeAll().catch(() => []);
      const hops1 = hops(scrapes1);
      const hopsPerPut = Object.fromEntries(
        [...hops1]
          .map(([op, n]) => [op, (n - (hops0.get(op) ?? 0)) / Math.max(1, tp.completed)] as const)
          .filter(([, x]) => x > 0),
      );
      if (tp.completed === 0) throw new Error(`no PUT completed: ${JSON.stringify(tp.statuses)}`);
      const result = {
        ...tp,
        cpu: use,
        serverAcks: serverAcks(scrapes1),
        acksPerNodeCpuSecond: tp.acks / use.nodeSeconds,
        acksPerCpuSecondWithRedis: tp.acks / (use.nodeSeconds + use.redisSeconds),
        capacityPerSecond: tp.completed / use.wallSeconds,
        hopsPerPut,
        storeBatches: storeBatches(scrapes0, scrapes1),
      };
      return { result, span };
    };
    log(`  cluster: closed-loop cross-node PUT → notification → ack for ${o.durationSeconds} s`);
    const cross = await measureThroughput(false);
    const throughput = cross.result;
    tpWindow = cross.span;
    log(`  cluster: the same, each PUT through the node holding the socket (baseline)`);
    const sameNodeThroughput = (await measureThroughput(true)).result;

    // Latency: open loop at latency-load × the cross-node capacity; worker 0 is the light
    // probe. Then the same rate through the holder itself.
    const targetRate = throughput.capacityPerSecond * o.latencyLoad;
    const probing = o.workers > 1;
    const probeRate = probing
      ? Math.min(PROBE_MAX, Math.max(PROBE_MIN, targetRate * PROBE_SHARE))
      : targetRate;
    const loadRate = probing ? Math.max(1, (targetRate - probeRate) / (o.workers - 1)) : 0;
    const measureLatency = async (sameNode: boolean) => {
      const before = await scrapeAll();
      const cpu = window();
      const reports = await p.run(
        (i) => ({
          cmd: "open-loop",
          ratePerSecond: i === 0 ? probeRate : loadRate,
          durationMs: o.durationSeconds * 1000,
          sameNode,
        }),
        "load",
        o.durationSeconds * 1000 + TAIL_MS,
      );
      const use = cpu();
      const after = await scrapeAll();
      const serverSideMs: Record<string, ServerQuantiles> = {};
      for (const [label, name, match] of SERVER_SIDE) {
        const q = histogramQuantiles(before, after, name, [0.5, 0.99], match);
        if (q === undefined) continue;
        serverSideMs[label] = {
          count: q.count,
          p50: q.upperBounds[0]! * 1000,
          p99: q.upperBounds[1]! * 1000,
        };
      }
      const lt = totals(reports);
      return {
        ...lt,
        cpu: use,
        targetRate,
        probeRate,
        achievedRate: lt.completed / o.durationSeconds,
        latencyMs: percentiles(reports[0]!.latenciesMs),
        allLatencyMs: percentiles(reports.flatMap((r) => r.latenciesMs)),
        maxScheduleLagMs: Math.max(...reports.map((r) => r.maxScheduleLagMs)),
        clientLoopDelayP99Ms: Math.max(...reports.map((r) => r.loopDelayP99Ms)),
        serverSideMs,
        storeBatches: storeBatches(before, after),
      };
    };
    log(
      `  cluster: open-loop cross-node PUTs at ${Math.round(targetRate)}/s for ${o.durationSeconds} s`,
    );
    const latency = await measureLatency(false);
    log(`  cluster: the same rate through the node holding the socket (baseline)`);
    const sameNodeLatency = await measureLatency(true);

    // Recovery: kill -9 of a node that is not the coordinator.
    const roles = await Promise.all(
      nodes.map(async (n) => (await scrape(host, n.metricsPort)).get("edition_coordinator") ?? 0),
    );
    const victimIndex = Math.max(
      0,
      roles.findIndex((x) => x !== 1),
    );
    const victim = nodes[victimIndex]!;
    const survivors = nodes.filter((n) => n !== victim);
    const armed = await p.run(() => ({ cmd: "arm", victim: victimIndex }), "armed", 10_000);
    const victimClients = armed.reduce((a, r) => a + r.victimClients, 0);
    log(`  kill -9 ${victim.id} (pid ${victim.pid}) holding ${victimClients} clients`);
    const recCpu = cpuWindow(
      survivors.map((n) => n.pid),
      redisPid,
      p,
      ticks,
    );
    victim.child.kill("SIGKILL");
    const killedAt = Date.now();
    const recovering = p.run(
      () => ({ cmd: "recover", timeoutMs: RECOVERY_TIMEOUT_MS }),
      "recovered",
      RECOVERY_TIMEOUT_MS + TAIL_MS,
    );
    // Meanwhile: when the survivors own every slot again (context, outside the figures).
    let survivorsConvergedS: number | undefined;
    await victim.exited;
    try {
      await converged(host, survivors);
      survivorsConvergedS = (Date.now() - killedAt) / 1000;
    } catch {
      survivorsConvergedS = undefined;
    }
    const recReports: RecoveryReport[] = await recovering;
    const recUse = recCpu();
    const after = (xs: readonly number[]) =>
      xs.map((x) => (x - killedAt) / 1000).sort((a, b) => a - b);
    const recoveredS = after(recReports.flatMap((r) => r.recoveredAt));
    const sum = (f: (r: RecoveryReport) => number) => recReports.reduce((a, r) => a + f(r), 0);
    const recovery = {
      victim: victim.id,
      victimClients,
      killedAt,
      droppedS: percentiles(after(recReports.flatMap((r) => r.droppedAt))),
      reconnectedS: percentiles(after(recReports.flatMap((r) => r.helloAt))),
      recoveredS: percentiles(recoveredS),
      recovered: recoveredS.length,
      t99: timeToShare(recoveredS, victimClients, 0.99),
      t100: timeToShare(recoveredS, victimClients, 1),
      putsAccepted: sum((r) => r.putsAccepted),
      putsRejected: sum((r) => r.putsRejected),
      putRetries: sum((r) => r.putRetries),
      putStatuses: sumStatuses(recReports.map((r) => r.putStatuses)),
      lostClients: sum((r) => r.lostClients),
      lostUpdates: sum((r) => r.lostUpdates),
      otherDrops: sum((r) => r.otherDrops),
      reconnectAttempts: sum((r) => r.reconnectAttempts),
      problems: recReports.flatMap((r) => r.problems),
      survivorsConvergedS,
      cpu: recUse,
    };

    result = {
      mode: "cluster",
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      options: o,
      machine: { cpus: cpus().length, node: process.version, clockTicks: ticks },
      nodes: NODES,
      nodeRuntime: `plain node ${o.server}`,
      clients: total,
      perNode,
      connect,
      throughput,
      latency,
      sameNode: { throughput: sameNodeThroughput, latency: sameNodeLatency },
      recovery,
    };
  } finally {
    await pool?.stop();
    await Promise.allSettled(nodes.map(stopNode));
    await Promise.allSettled([etcd?.dispose(), redis?.dispose()]);
  }
  // The profiles are written as the nodes exit (the one killed with SIGKILL writes none).
  if (profDir !== undefined && tpWindow !== undefined) {
    const [from, to] = tpWindow;
    const breakdowns = nodes.map((n) =>
      profileBreakdown([`${profDir}/${n.id}.cpuprofile`], from - n.spawnedAt, to - n.spawnedAt),
    );
    result.profile = { ...mergeBreakdowns(breakdowns), dir: profDir };
  }
  return result;
}

/** Several nodes' breakdowns as one: shares weighted by each node's busy time. */
function mergeBreakdowns(bs: readonly ProfileBreakdown[]): ProfileBreakdown {
  const ms = new Map<string, number>();
  let busy = 0;
  let profiles = 0;
  for (const b of bs) {
    profiles += b.profiles;
    busy += b.busyMs;
    for (const [c, share] of b.shares) ms.set(c, (ms.get(c) ?? 0) + share * b.busyMs);
  }
  const shares = [...ms]
    .map(([c, m]) => [c, busy === 0 ? 0 : m / busy] as const)
    .sort((a, b) => b[1] - a[1]);
  return { profiles, busyMs: busy, shares };
}

// ---- report ----

export function clusterFigures(r: ClusterResult): Figure[] {
  const t = r.throughput;
  const l = r.latency;
  const rec = r.recovery;
  const st = r.sameNode.throughput;
  const sl = r.sameNode.latency;
  const rate = Math.round(l.targetRate);
  return [
    {
      figure: "cluster: PUT → notification → ack per node CPU-s (3 nodes)",
      node: t.acksPerNodeCpuSecond,
      baseline: st.acksPerNodeCpuSecond,
      ratio: t.acksPerNodeCpuSecond / st.acksPerNodeCpuSecond,
      unit: "/CPU-s",
      target: "≥ 15,000",
      met: t.acksPerNodeCpuSecond >= 15_000,
    },
    {
      figure: "cluster: the same per CPU-s of nodes + Redis",
      node: t.acksPerCpuSecondWithRedis,
      unit: "/CPU-s",
      target: `Redis ${(t.cpu.redisSeconds / t.cpu.wallSeconds).toFixed(2)} cores`,
    },
    {
      figure: "cluster: capacity, closed loop (this machine, clients included)",
      node: t.capacityPerSecond,
      unit: "/s",
      target: `nodes ${(t.cpu.nodeSeconds / t.cpu.wallSeconds).toFixed(2)} cores`,
    },
    {
      figure: `cluster: cross-node PUT → socket p50 at ${rate}/s`,
      node: l.latencyMs.p50,
      baseline: sl.latencyMs.p50,
      ratio: l.latencyMs.p50 / sl.latencyMs.p50,
      unit: "ms",
      target: "",
    },
    {
      figure: `cluster: cross-node PUT → socket p90 at ${rate}/s`,
      node: l.latencyMs.p90,
      unit: "ms",
      target: "",
    },
    {
      figure: `cluster: cross-node PUT → socket p99 at ${rate}/s`,
      node: l.latencyMs.p99,
      baseline: sl.latencyMs.p99,
      ratio: l.latencyMs.p99 / sl.latencyMs.p99,
      unit: "ms",
      target: "≤ 10 ms",
      met: l.latencyMs.p99 <= 10,
    },
    {
      figure: `cluster: cross-node PUT → socket max at ${rate}/s`,
      node: l.latencyMs.max,
      unit: "ms",
      target: "",
    },
    {
      figure: `kill -9 (${rec.victimClients} of ${r.clients} clients): 99 % reconnected + flushed`,
      node: rec.t99,
      unit: "s",
      target: "≤ 10 s",
      met: rec.t99 <= 10,
    },
    {
      figure: "kill -9: 100 % reconnected + flushed",
      node: rec.t100,
      unit: "s",
      target: "",
    },
    {
      figure: "kill -9: updates answered 2xx and never received (whole run)",
      node: rec.lostUpdates,
      unit: "updates",
      target: "0",
      met: rec.lostUpdates === 0 && rec.putsAccepted === rec.victimClients,
    },
  ];
}

function phases(r: ClusterResult): [string, ClusterCpu][] {
  return [
    ["connect", r.connect.cpu],
    ["throughput", r.throughput.cpu],
    ["same-node throughput", r.sameNode.throughput.cpu],
    ["latency", r.latency.cpu],
    ["same-node latency", r.sameNode.latency.cpu],
    ["recovery", r.recovery.cpu],
  ];
}

function noisy(u: ClusterCpu): boolean {
  return u.otherSeconds / u.wallSeconds > NOISY_CORES;
}

export function clusterNoiseWarning(r: ClusterResult): string {
  const hit = phases(r).filter(([, u]) => noisy(u));
  if (hit.length === 0) return "";
  return (
    `warning: other jobs on this machine used more than ${NOISY_CORES} of a core during: ` +
    `${hit.map(([n]) => n).join(", ")}; those figures are noisy, repeat the run.`
  );
}

/** `label p50 ≤ x, p99 ≤ y ms (n)` per node histogram (bucket upper bounds). */
function serverSide(h: Readonly<Record<string, ServerQuantiles>>): string {
  const bound = (v: number) => (Number.isFinite(v) ? `≤ ${v}` : "> 2500");
  return (
    Object.entries(h)
      .map(([k, q]) => `${k} p50 ${bound(q.p50)}, p99 ${bound(q.p99)} ms (${q.count})`)
      .join("; ") || "none"
  );
}

/** Mean operations per batch call, e.g. `3.2 (1,234 calls)`; `n/a` when no batch was sent. */
function perCall(b: StoreBatches | undefined): string {
  if (b === undefined || b.calls <= 0) return "n/a";
  return `${(b.operations / b.calls).toFixed(1)} (${b.calls.toLocaleString("en")} calls)`;
}

export function clusterDetails(r: ClusterResult): string {
  const out: string[] = [];
  const ms = (p: Percentiles) =>
    `p50 ${p.p50.toFixed(3)}, p90 ${p.p90.toFixed(3)}, p99 ${p.p99.toFixed(3)}, max ${p.max.toFixed(1)} ms (${p.count} PUTs)`;
  const s = (p: Percentiles) =>
    `p50 ${p.p50.toFixed(2)}, p99 ${p.p99.toFixed(2)}, max ${p.max.toFixed(2)} s (${p.count})`;
  out.push(
    `cluster: ${r.nodes} nodes (${r.nodeRuntime}), Redis store (AOF always), ${r.clients} clients ` +
      `(per node ${r.perNode.join("/")}), lease TTL ${r.options.clusterLeaseTtl} s, ${r.options.workers} client workers; connect ${r.connect.seconds.toFixed(1)} s, failed ${r.connect.failed}`,
  );
  const t = r.throughput;
  out.push(
    `throughput (cross-node): ${t.completed} completed / ${t.puts} PUTs in ${t.cpu.wallSeconds.toFixed(1)} s; ` +
      `CPU-s nodes ${t.cpu.nodeSeconds.toFixed(2)}, Redis ${t.cpu.redisSeconds.toFixed(2)}, etcd ${t.cpu.etcdSeconds.toFixed(2)}; ` +
      `client acks ${t.acks}, server-counted acks ${t.serverAcks ?? "n/a"}; failed ${t.failed}; statuses ${JSON.stringify(t.statuses)}`,
  );
  const perPut = (h: Readonly<Record<string, number>>) =>
    Object.entries(h)
      .map(([op, x]) => `${op} ${x.toFixed(2)}`)
      .join(", ") || "none";
  out.push(
    `  router requests per PUT: ${perPut(t.hopsPerPut)}; store saves + acks per Redis call: ${perCall(t.storeBatches)}`,
  );
  const l = r.latency;
  out.push(
    `latency (cross-node): target ${Math.round(l.targetRate)}/s (${r.options.latencyLoad} × capacity), achieved ${Math.round(l.achievedRate)}/s, ` +
      `failed ${l.failed}; clients: worst schedule lag ${l.maxScheduleLagMs.toFixed(1)} ms, event-loop delay p99 ${l.clientLoopDelayP99Ms.toFixed(1)} ms`,
  );
  out.push(`  probe (${Math.round(l.probeRate)}/s, in the table): ${ms(l.latencyMs)}`);
  out.push(`  every PUT, loaded clients included: ${ms(l.allLatencyMs)}`);
  out.push(`  nodes' histograms: ${serverSide(l.serverSideMs)}`);
  out.push(`  store saves + acks per Redis call: ${perCall(l.storeBatches)}`);
  const st = r.sameNode.throughput;
  const sl = r.sameNode.latency;
  out.push(
    `baseline, each PUT through the node holding the socket: ${st.completed} completed in ${st.cpu.wallSeconds.toFixed(1)} s, ` +
      `${Math.round(st.acksPerNodeCpuSecond)} per node CPU-s (CPU-s nodes ${st.cpu.nodeSeconds.toFixed(2)}, Redis ${st.cpu.redisSeconds.toFixed(2)}), ` +
      `failed ${st.failed}, router requests per PUT: ${perPut(st.hopsPerPut)}, store saves + acks per Redis call: ${perCall(st.storeBatches)}; at ${Math.round(sl.targetRate)}/s: probe ${ms(sl.latencyMs)}, failed ${sl.failed}`,
  );
  out.push(
    `  nodes' histograms: ${serverSide(sl.serverSideMs)}; store saves + acks per Redis call: ${perCall(sl.storeBatches)}`,
  );
  const rec = r.recovery;
  out.push(
    `recovery: killed ${rec.victim} (not the coordinator) with ${rec.victimClients} clients; after the kill: ` +
      `sockets closed ${s(rec.droppedS)}; hello answered elsewhere ${s(rec.reconnectedS)}; reconnected + flushed ${s(rec.recoveredS)}`,
  );
  out.push(
    `  post-kill PUTs: ${rec.putsAccepted} answered 2xx, ${rec.putsRejected} never, ${rec.putRetries} retries, statuses ${JSON.stringify(rec.putStatuses)}; ` +
      `reconnect attempts ${rec.reconnectAttempts}; other clients' drops ${rec.otherDrops}; ` +
      `clients missing a 2xx update ${rec.lostClients} (${rec.lostUpdates} updates)` +
      (rec.survivorsConvergedS === undefined
        ? ""
        : `; survivors own every slot ${rec.survivorsConvergedS.toFixed(2)} s after the kill`),
  );
  if (rec.problems.length > 0) out.push(`  problems: ${rec.problems.slice(0, 5).join(" | ")}`);
  if (r.profile !== undefined) {
    const p = r.profile;
    out.push(
      `where the nodes' CPU went in the throughput phase (${p.profiles} CPU profiles, ${(p.busyMs / 1000).toFixed(1)} s of non-idle samples; ${p.dir}):`,
    );
    for (const [c, share] of p.shares)
      out.push(`  ${(share * 100).toFixed(1).padStart(5)} %  ${c}`);
  }
  out.push("CPU cores busy (nodes / Redis / etcd / clients / rest of the machine):");
  for (const [name, u] of phases(r)) {
    const c = (x: number) => (x / u.wallSeconds).toFixed(2);
    out.push(
      `  ${name.padEnd(20)} ${c(u.nodeSeconds)} / ${c(u.redisSeconds)} / ${c(u.etcdSeconds)} / ${c(u.clientSeconds)} / ${c(u.otherSeconds)}` +
        (noisy(u) ? "   ← other jobs were busy: noisy" : ""),
    );
  }
  return out.join("\n");
}

export function writeClusterJson(r: ClusterResult, fs: readonly Figure[]): string {
  const dir = fileURLToPath(new URL("../.results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}bench-cluster-${r.startedAt.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, `${JSON.stringify({ ...r, figures: fs }, null, 2)}\n`);
  return file;
}
