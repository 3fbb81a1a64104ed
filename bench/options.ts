/**
 * Bench options from argv (`--connections=16000`, `--quick`) or the environment
 * (`BENCH_CONNECTIONS=16000`, `BENCH_QUICK=1`); argv wins. Checked against the machine's
 * open-files limit, which bounds the sockets one server or worker process can hold.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { openFilesLimit } from "./proc-stats.js";

export interface BenchOptions {
  readonly quick: boolean;
  /** Idle connections at the top of the memory ramp (per server under test). */
  readonly connections: number;
  /** Ramp points between 0 and `connections` (the memory slope is fitted through them). */
  readonly steps: number;
  /** Connections of the speed ramp (connect rate; then the PUT load runs over them). */
  readonly rateConnections: number;
  readonly rateSteps: number;
  /** Client worker processes. */
  readonly workers: number;
  /** Length of each measured load phase. */
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** Handshakes in flight per worker while connecting. */
  readonly connectConcurrency: number;
  /** Closed-loop PUT → notification loops per worker. */
  readonly putConcurrency: number;
  /** Keep-alive HTTP sockets per worker. */
  readonly httpSockets: number;
  /** The latency phase runs at this fraction of the measured capacity. */
  readonly latencyLoad: number;
  /** Where the servers listen (loopback only). */
  readonly host: string;
  /** The push node's entry point (built JavaScript, run with plain `node`). */
  readonly server: string;
  /** Extra node flags for the push node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
  readonly nodeArgs: readonly string[];
  /** The whole run is killed past this. */
  readonly deadlineSeconds: number;
  /**
   * The 3-node cluster mode (cluster.ts): `also` (default: after the single-node bench),
   * `only` (`--cluster`), `skip` (`--cluster=no`).
   */
  readonly cluster: "also" | "only" | "skip";
  /** Clients of the cluster mode, spread over its nodes. */
  readonly clusterClients: number;
  /** The cluster nodes' member lease (s): a killed node leaves the table after it (node default 5). */
  readonly clusterLeaseTtl: number;
  /** The Web Push phase (webpush.ts): `also` (default), `only` (`--webpush`), `skip`. */
  readonly webpush: "also" | "only" | "skip";
  /** Web Push clients of that phase, spread over the workers. */
  readonly webpushClients: number;
  /**
   * `--profile`: the cluster nodes run with `--cpu-prof`, and where their CPU went during the
   * throughput phase is printed with the figures (bench/profile.ts).
   */
  readonly profile: boolean;
}

const FULL = {
  connections: 18_000,
  steps: 9,
  rateConnections: 12_000,
  rateSteps: 4,
  workers: 4,
  duration: 10,
  warmup: 2,
  connectConcurrency: 32,
  putConcurrency: 24,
  httpSockets: 24,
  latencyLoad: 0.5,
  host: "127.0.0.1",
  server: fileURLToPath(new URL("../server/dist/main.js", import.meta.url)),
  nodeArgs: "",
  deadline: 300,
  clusterClients: 10_000,
  clusterLeaseTtl: 5,
  webpushClients: 2000,
};
const QUICK = {
  ...FULL,
  connections: 6000,
  steps: 4,
  rateConnections: 4000,
  rateSteps: 3,
  duration: 3,
  warmup: 1,
};

type Key = keyof typeof FULL;

export class OptionsError extends Error {
  override readonly name = "OptionsError";
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const given = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith("BENCH_") && v !== undefined && v !== "") {
      given.set(
        k
          .slice(6)
          .toLowerCase()
          .replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
        v,
      );
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new OptionsError(`unexpected argument ${a}`);
    const eq = a.indexOf("=");
    const name = (eq < 0 ? a.slice(2) : a.slice(2, eq)).replace(/-([a-z])/g, (_, c: string) =>
      c.toUpperCase(),
    );
    if (["quick", "cluster", "webpush", "profile"].includes(name) && eq < 0) given.set(name, "1");
    else if (eq >= 0) given.set(name, a.slice(eq + 1));
    else if (i + 1 < argv.length) given.set(name, argv[++i]!);
    else throw new OptionsError(`--${name} needs a value`);
  }
  const problems0: string[] = [];
  const quick = ["1", "true", "yes"].includes(given.get("quick") ?? "");
  given.delete("quick");
  const profile = ["1", "true", "yes"].includes(given.get("profile") ?? "");
  given.delete("profile");
  const clusterArg = given.get("cluster");
  given.delete("cluster");
  let cluster: BenchOptions["cluster"] = "also";
  if (clusterArg !== undefined) {
    if (["1", "true", "yes", "only"].includes(clusterArg)) cluster = "only";
    else if (["0", "false", "no", "skip"].includes(clusterArg)) cluster = "skip";
    else if (clusterArg !== "also")
      problems0.push(`cluster: ${clusterArg} is not one of only, no, also`);
  }
  const webpushArg = given.get("webpush");
  given.delete("webpush");
  let webpush: BenchOptions["webpush"] = "also";
  if (webpushArg !== undefined) {
    if (["1", "true", "yes", "only"].includes(webpushArg)) webpush = "only";
    else if (["0", "false", "no", "skip"].includes(webpushArg)) webpush = "skip";
    else if (webpushArg !== "also")
      problems0.push(`webpush: ${webpushArg} is not one of only, no, also`);
  }
  const base: Record<string, number | string> = quick ? QUICK : FULL;
  const problems: string[] = [...problems0];
  for (const k of given.keys()) if (!(k in base)) problems.push(`unknown option ${k}`);
  const num = (k: Key, min: number, max: number): number => {
    const v = given.get(k);
    if (v === undefined) return base[k] as number;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) {
      problems.push(`${k}: ${v} is not a number in ${min}..${max}`);
      return base[k] as number;
    }
    return n;
  };
  const fdLimit = openFilesLimit();
  const opts: BenchOptions = {
    quick,
    connections: Math.round(num("connections", 100, 10_000_000)),
    steps: Math.round(num("steps", 2, 20)),
    rateConnections: Math.round(num("rateConnections", 100, 10_000_000)),
    rateSteps: Math.round(num("rateSteps", 2, 20)),
    workers: Math.round(num("workers", 1, 32)),
    durationSeconds: num("duration", 1, 120),
    warmupSeconds: num("warmup", 0, 60),
    connectConcurrency: Math.round(num("connectConcurrency", 1, 1000)),
    putConcurrency: Math.round(num("putConcurrency", 1, 1000)),
    httpSockets: Math.round(num("httpSockets", 1, 1000)),
    latencyLoad: num("latencyLoad", 0.01, 1),
    host: given.get("host") ?? FULL.host,
    server: resolve(given.get("server") ?? FULL.server),
    nodeArgs: (given.get("nodeArgs") ?? "").split(" ").filter((a) => a !== ""),
    deadlineSeconds: num("deadline", 10, 3600),
    cluster,
    clusterClients: Math.round(num("clusterClients", 30, 100_000)),
    clusterLeaseTtl: Math.round(num("clusterLeaseTtl", 2, 60)),
    webpush,
    webpushClients: Math.round(num("webpushClients", 1, 100_000)),
    profile,
  };
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(opts.host))
    problems.push(`host: ${opts.host} is not a 127.0.0.0/8 address`);
  // Headroom for the HTTP keep-alive sockets, listeners and the runtime's own descriptors.
  const serverRoom = fdLimit - 200 - opts.workers * opts.httpSockets;
  for (const k of ["connections", "rateConnections"] as const) {
    if (opts[k] > serverRoom)
      problems.push(
        `${k}: ${opts[k]} exceed what one server process can hold here (${serverRoom} of ${fdLimit} open files)`,
      );
    if (Math.ceil(opts[k] / opts.workers) + opts.httpSockets + 200 > fdLimit)
      problems.push(`workers: ${opts.workers} is too few for ${opts[k]} connections`);
  }
  if (Math.ceil(opts.clusterClients / opts.workers) + 3 * opts.httpSockets + 200 > fdLimit)
    problems.push(`workers: ${opts.workers} is too few for ${opts.clusterClients} cluster clients`);
  if (Math.ceil(opts.clusterClients / 2) + 200 > fdLimit)
    problems.push(
      `clusterClients: ${opts.clusterClients} too many for 3 nodes after one is killed`,
    );
  if (!existsSync(opts.server))
    problems.push(`server: ${opts.server} does not exist (build first)`);
  if (problems.length > 0) throw new OptionsError(problems.join("; "));
  return Object.freeze(opts);
}

/** Ramp points: `steps` evenly spaced counts ending at `top`. */
export function rampSteps(top: number, steps: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= steps; i++) out.push(Math.round((top * i) / steps));
  return out;
}
