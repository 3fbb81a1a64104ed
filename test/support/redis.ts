/**
 * Starts real `redis-server` processes on ephemeral loopback ports with throw-away data
 * dirs, for integration tests: one server (`startRedis`), a Sentinel setup
 * (`startSentinel`: a master, optional replicas, one sentinel) and a Cluster
 * (`startCluster`: three masters, slots split by `redis-cli --cluster create`).
 *
 * - Ports: a free one is found by binding :0; if another process takes it before Redis
 *   binds it, Redis exits with "Address already in use" and we retry with a new port.
 * - Readiness: PING answered (not LOADING), polled with a deadline; never a fixed sleep.
 * - Cleanup is layered, as for push nodes (`node.ts`): pass `t` to dispose when the test
 *   ends; anything still running when this process exits is SIGKILLed; and each server has
 *   a tiny guard process that kills it if this process dies without running exit hooks.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { scratchDir } from "./scratch.js";

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The data dir; kept across `stop()` / `restart()`, removed by `dispose()`. */
  readonly dir: string;
  /** The pid of the current process (changes on restart). */
  readonly pid: number;
  /** Stops the process and waits for its exit (SIGTERM: orderly shutdown; SIGKILL: crash). */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Starts it again on the same port and data dir (data persists with AOF); waits for PING. */
  restart(): Promise<void>;
  /** Sends SIGSTOP / SIGCONT: Redis stops answering without closing its sockets. */
  pause(): void;
  resume(): void;
  /** Stops it (SIGKILL) and removes its data dir. Idempotent. */
  dispose(): Promise<void>;
}

export interface RedisServerOptions {
  /**
   * `appendonly yes` with `appendfsync always`, so every acknowledged write survives a
   * crash (with `everysec`, Redis may reply before writing the AOF and a crash loses it).
   */
  readonly aof?: boolean;
  /**
   * Data on the real disk (tmpdir) rather than /dev/shm (test/support/scratch.ts): for the
   * bench, whose figures should include the AOF's fsync.
   */
  readonly onDisk?: boolean;
  /** More `redis-server` arguments; may use the port and dir the server ends up with. */
  readonly args?: (port: number, dir: string) => readonly string[];
  /** A config file written into the data dir and passed first (e.g. for a sentinel). */
  readonly config?: (port: number, dir: string) => string;
  /** `requirepass`: clients (and the readiness poll) must authenticate. */
  readonly password?: string;
  /** Run as a sentinel (`--sentinel`). */
  readonly sentinel?: boolean;
  readonly startTimeoutMs?: number;
  /** Dispose when this test ends (node:test `TestContext` or anything with `after`). */
  readonly t?: { after(fn: () => unknown): void };
}

const running = new Set<ChildProcess>();
/** Data dirs not yet disposed of, removed on exit too. */
const dirs = new Set<string>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A loopback port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject()));
    });
  });
}

/** The lowest port of the kernel's ephemeral range: `listen(0)` never hands out one below. */
function ephemeralLow(): number {
  try {
    const low = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/**
 * A free loopback port for a server a test stops and restarts on the same port (etcd,
 * Redis). Picked at random below the kernel's ephemeral range (from 20000, under the
 * Kubernetes NodePort range), so that while the server is down no `freePort()` of a test
 * running beside it is handed the same port: that took an etcd's port in a CI run. Falls
 * back to `freePort()` when that range is unusable.
 */
export async function restartablePort(): Promise<number> {
  const low = 20_000;
  const high = Math.min(ephemeralLow(), 30_000);
  for (let i = 0; high > low && i < 50; i++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (await canListen(port)) return port;
  }
  return freePort();
}

/** Polls `cond` until it holds, failing with `what` at the deadline. */
export async function until(
  cond: () => Promise<boolean>,
  deadlineMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await cond().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Runs one command on a fresh, short-lived connection (no retries, no queue, 2 s bound) and
 * returns the reply as text. For readiness polls and inspection, never for the code under test.
 */
export async function redisCommand(
  port: number,
  [cmd, ...args]: readonly string[],
  password?: string,
): Promise<string> {
  const c = new Redis({
    host: "127.0.0.1",
    port,
    password,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 2000,
  });
  c.on("error", () => {});
  try {
    await c.connect();
    return String(await c.call(cmd!, ...args));
  } finally {
    c.disconnect();
  }
}

/** Redis could not bind a port we picked: someone took it first. */
class PortTaken extends Error {
  override readonly name = "PortTaken";
}

/** One redis-server process plus its guard; resolves once it answers PING. */
async function launch(argv: readonly string[], port: number, timeoutMs: number, password?: string) {
  const child = spawn("redis-server", argv, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  for (const s of [child.stdout, child.stderr]) s.on("data", (b: Buffer) => (output += b));
  const exited = new Promise<void>((resolve) =>
    child.once("close", () => {
      running.delete(child);
      resolve();
    }),
  );
  // The guard blocks on `read` until our end of its stdin closes — also when this process
  // is SIGKILLed — and then kills the server. It holds no other handle on us.
  const guard = spawn("sh", ["-c", `read _; kill -9 ${child.pid} 2>/dev/null`], {
    stdio: ["pipe", "ignore", "ignore"],
  });
  guard.unref();
  guard.stdin.on("error", () => {});
  let gone = false;
  void exited.then(() => {
    gone = true;
    guard.kill("SIGKILL");
    // Our end of the pipe would otherwise stay open and keep this process alive.
    guard.stdin.destroy();
  });
  // Poll PING (a loading server answers LOADING) until it answers, it exits, or the deadline.
  const end = Date.now() + timeoutMs;
  while (!gone) {
    const pong = await redisCommand(port, ["PING"], password).then(
      (r) => r === "PONG",
      () => false,
    );
    if (pong) return { child, exited };
    if (Date.now() > end) {
      child.kill("SIGKILL");
      await exited;
      throw new Error(
        `redis-server on ${port}: no PONG within ${timeoutMs} ms; output:\n${output}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  if (/Address already in use/.test(output)) throw new PortTaken(output);
  throw new Error(`redis-server on ${port} exited before answering PING; output:\n${output}`);
}

/** Starts one redis-server on a free loopback port in a fresh temp dir. */
export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = scratchDir("edition-redis-", opts.onDisk);
  dirs.add(dir);
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const argvFor = (port: number): string[] => {
    const argv: string[] = [];
    if (opts.config !== undefined) {
      const file = join(dir, "redis.conf");
      writeFileSync(file, opts.config(port, dir));
      argv.push(file);
    }
    if (opts.sentinel) argv.push("--sentinel");
    argv.push("--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--daemonize", "no");
    argv.push("--loglevel", "warning", "--logfile", "");
    if (!opts.sentinel) {
      argv.push("--save", "", "--appendonly", opts.aof ? "yes" : "no");
      if (opts.aof) argv.push("--appendfsync", "always");
      // A master waits 5 s by default for more replicas before a full sync.
      argv.push("--repl-diskless-sync-delay", "0");
    }
    if (opts.password !== undefined) argv.push("--requirepass", opts.password);
    argv.push(...(opts.args?.(port, dir) ?? []));
    return argv;
  };

  let port = 0;
  let proc: Awaited<ReturnType<typeof launch>> | undefined;
  for (let attempt = 1; proc === undefined; attempt++) {
    port = await restartablePort();
    try {
      proc = await launch(argvFor(port), port, timeoutMs, opts.password);
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt >= 5) {
        rmSync(dir, { recursive: true, force: true });
        dirs.delete(dir);
        throw err;
      }
    }
  }

  let current = proc;
  let disposed = false;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      return current.child.pid!;
    },
    async stop(signal = "SIGTERM") {
      current.child.kill(signal);
      current.child.kill("SIGCONT"); // a paused server acts on SIGTERM only once resumed
      await current.exited;
    },
    async restart() {
      if (current.child.exitCode === null && current.child.signalCode === null) {
        throw new Error("restart(): the server is still running; stop() it first");
      }
      // Same port and dir: if the port was taken meanwhile, this fails loudly.
      current = await launch(argvFor(port), port, timeoutMs, opts.password);
    },
    pause() {
      current.child.kill("SIGSTOP");
    },
    resume() {
      current.child.kill("SIGCONT");
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      current.child.kill("SIGCONT");
      current.child.kill("SIGKILL");
      await current.exited;
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
  opts.t?.after(() => server.dispose());
  return server;
}

export interface SentinelSetup {
  readonly master: RedisServer;
  readonly replicas: readonly RedisServer[];
  /** The sentinel process itself. */
  readonly sentinel: RedisServer;
  /** The master group name the sentinel monitors. */
  readonly name: string;
  readonly sentinels: readonly { host: string; port: number }[];
  dispose(): Promise<void>;
}

/**
 * A master, `replicas` replicas linked to it, and one sentinel (quorum 1, master declared
 * down after `downAfterMs`), started in that order so the sentinel's first look at the
 * master already lists the replicas. Resolves once the sentinel knows every replica.
 */
export async function startSentinel(
  opts: {
    replicas?: number;
    downAfterMs?: number;
    aof?: boolean;
    t?: RedisServerOptions["t"];
  } = {},
): Promise<SentinelSetup> {
  const name = "edition";
  const started: RedisServer[] = [];
  const dispose = async () => {
    await Promise.all(started.map((s) => s.dispose()));
  };
  opts.t?.after(dispose);
  try {
    const master = await startRedis({ aof: opts.aof });
    started.push(master);
    const replicas: RedisServer[] = [];
    for (let i = 0; i < (opts.replicas ?? 0); i++) {
      const r = await startRedis({
        aof: opts.aof,
        args: () => ["--replicaof", "127.0.0.1", String(master.port)],
      });
      started.push(r);
      replicas.push(r);
      await until(
        async () =>
          /master_link_status:up/.test(await redisCommand(r.port, ["INFO", "replication"])),
        10_000,
        `replica ${r.port} linked to the master`,
      );
    }
    const sentinel = await startRedis({
      sentinel: true,
      config: (port, dir) =>
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`,
          `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 1000}`,
          // A failed attempt (a busy machine: the replica answered late) is retried after
          // twice this: 8 s, not the 20 s a 10 s timeout gives, which outlived the tests' waits.
          `sentinel failover-timeout ${name} 4000`,
          "",
        ].join("\n"),
    });
    started.push(sentinel);
    await until(
      async () => {
        const info = await redisCommand(sentinel.port, ["INFO", "sentinel"]);
        return new RegExp(`slaves=${replicas.length},`).test(info);
      },
      15_000,
      `sentinel seeing ${replicas.length} replica(s)`,
    );
    return {
      master,
      replicas,
      sentinel,
      name,
      sentinels: [{ host: "127.0.0.1", port: sentinel.port }],
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

export interface ClusterSetup {
  readonly nodes: readonly RedisServer[];
  /** Seed addresses for a cluster client. */
  readonly seeds: readonly { host: string; port: number }[];
  dispose(): Promise<void>;
}

/** Three cluster-enabled masters with the 16384 slots split between them; waits for `ok`. */
export async function startCluster(
  opts: { aof?: boolean; t?: RedisServerOptions["t"] } = {},
): Promise<ClusterSetup> {
  const nodes: RedisServer[] = [];
  let busRetries = 0;
  const dispose = async () => {
    await Promise.all(nodes.map((s) => s.dispose()));
  };
  opts.t?.after(dispose);
  try {
    while (nodes.length < 3) {
      // The bus port defaults to port + 10000, which may be taken or past 65535.
      const bus = await restartablePort();
      const node = await startRedis({
        aof: opts.aof,
        args: (_port, dir) => [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, "nodes.conf"),
          "--cluster-port",
          String(bus),
          "--cluster-node-timeout",
          "2000",
        ],
      }).catch((err: Error) => {
        // startRedis retries a taken client port, not the bus port: pick both again.
        if (err instanceof PortTaken && ++busRetries < 5) return undefined;
        throw err;
      });
      if (node !== undefined) nodes.push(node);
    }
    await promisify(execFile)(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-yes"],
      { timeout: 30_000 },
    );
    await until(
      async () => {
        for (const n of nodes) {
          const info = await redisCommand(n.port, ["CLUSTER", "INFO"]);
          if (!/cluster_state:ok/.test(info) || !/cluster_known_nodes:3/.test(info)) return false;
        }
        return true;
      },
      20_000,
      "cluster_state:ok on every node",
    );
    return { nodes, seeds: nodes.map((n) => ({ host: "127.0.0.1", port: n.port })), dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
