/**
 * Starts the servers under test as child processes on free loopback ports and waits for
 * their `{"event":"listening",…}` line: the push node from its build (plain `node`, as in
 * production) and the raw uWS baseline.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

export interface ServerProcess {
  readonly name: "node" | "baseline";
  readonly pid: number;
  readonly port: number;
  readonly metricsPort: number | undefined;
  /** Graceful: SIGTERM, SIGKILL if it lingers. */
  stop(): Promise<void>;
  /** Immediate, synchronous: for an aborted run. */
  kill(): void;
}

const REPO = fileURLToPath(new URL("..", import.meta.url));
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

/** `node` flags for a server under test (V8 heap settings, profiler switches). */
export type NodeFlags = readonly string[];

/**
 * For memory ramps: V8's young generation pinned at 1 MiB semi-spaces. At its default
 * size (growing to 16 MiB semi-spaces) its pages are first touched as the allocation
 * pointer sweeps through them, so a server that allocates little per connection (the
 * baseline) shows up to ~32 MiB of bounded young-generation memory as if it were per
 * connection, and one that allocates a lot shows a step wherever V8 grows it.
 */
export const SMALL_YOUNG_GENERATION: NodeFlags = [
  "--min-semi-space-size=1",
  "--max-semi-space-size=1",
];

export function startPushNode(
  host: string,
  entry: string,
  flags: NodeFlags = [],
): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    EDITION_HOST: host,
    EDITION_PORT: "0",
    EDITION_METRICS_PORT: "0",
    EDITION_LOG_LEVEL: "info",
    EDITION_TOKEN_KEYS: `1:${randomBytes(32).toString("base64")}`,
    // The bench closes its clients before stopping the node: no drain to wait for.
    EDITION_DRAIN_DEADLINE_SECONDS: "0",
    // The bench measures raw connect rates from a few loopback addresses: per-address
    // limits (docs/limits.md) would measure themselves instead.
    EDITION_MAX_CONNECTIONS_PER_IP: "0",
    EDITION_HANDSHAKES_PER_IP_PER_SECOND: "0",
  };
  const child = spawn(process.execPath, [...flags, entry], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  return started("node", child);
}

/**
 * The baseline runs as plain JavaScript, like the node: with the tsx loader inside it, its
 * RSS carries tens of MiB of loader state that shrinks at random points of the ramp and
 * hides the per-connection slope. esbuild (tsx's own transpiler) strips the types into
 * `.tmp/` (git-ignored; inside the repository so `uWebSockets.js` resolves as usual).
 */
export function startBaseline(host: string, flags: NodeFlags = []): Promise<ServerProcess> {
  const entry = `${REPO}.tmp/bench/baseline-server.mjs`;
  buildSync({
    entryPoints: [`${REPO}bench/baseline-server.ts`],
    outfile: entry,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "error",
  });
  const child = spawn(process.execPath, [...flags, entry], {
    env: { ...process.env, BASELINE_HOST: host },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return started("baseline", child);
}

function started(name: ServerProcess["name"], child: ChildProcess): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const pid = child.pid;
    if (pid === undefined || child.stdout === null) {
      reject(new Error(`${name}: could not spawn`));
      return;
    }
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name}: no listening line within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening`));
    });
    // Keep reading stdout for the whole run so the child never blocks on a full pipe.
    createInterface({ input: child.stdout }).on("line", (line) => {
      const event = parseEvent(line);
      if (event?.event !== "listening" || typeof event.port !== "number") return;
      clearTimeout(timer);
      resolve({
        name,
        pid,
        port: event.port,
        metricsPort: typeof event.metricsPort === "number" ? event.metricsPort : undefined,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGTERM");
          const kill = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(kill);
        },
        kill() {
          child.kill("SIGKILL");
        },
      });
    });
  });
}

function parseEvent(
  line: string,
): { event?: unknown; port?: unknown; metricsPort?: unknown } | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === "object" && v !== null ? v : undefined;
  } catch {
    return undefined;
  }
}
