/**
 * Starts real push node processes (`server/src/main.ts` under tsx) on ephemeral loopback
 * ports, for end-to-end tests. `startNode({ env })` resolves once the node printed its
 * `listening` line (bounded by a deadline, never a sleep); every stdout/stderr line is kept
 * in `logs`. Cleanup is layered so that no node outlives its test:
 *
 * - pass `t` (a test context, or anything with `after`) to have the node killed when the
 *   test ends, pass or fail; otherwise call `stop()` / `kill()` yourself (e.g. in `after`);
 * - every node still running when the test process exits is SIGKILLed;
 * - if the test process dies without running exit hooks, the preloaded `orphan-guard.ts`
 *   sees its stdin close and kills the node.
 *
 * Later cluster tests start several nodes with extra env (`EDITION_*` of each node).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../server/src/main.ts", import.meta.url));
const GUARD = new URL("./orphan-guard.ts", import.meta.url).href;

export interface LogLine {
  readonly stream: "stdout" | "stderr";
  readonly text: string;
  /** The parsed line when it is a JSON object (the node logs JSON lines), else undefined. */
  readonly json: Record<string, unknown> | undefined;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface NodeOptions {
  /** Merged over the defaults (loopback, ports 0, log level info); `undefined` removes a key. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long to wait for the `listening` line. */
  readonly startTimeoutMs?: number;
  /** Kill the node when this test ends (node:test `TestContext` or anything with `after`). */
  readonly t?: { after(fn: () => unknown): void };
  /** Another build's `main.ts` (a rolling-upgrade test runs the previous version). */
  readonly main?: string;
}

export interface PushNode {
  readonly pid: number;
  readonly port: number;
  readonly metricsPort: number;
  /** `ws://127.0.0.1:<port>/` */
  readonly wsUrl: string;
  /** `http://127.0.0.1:<port>` */
  readonly httpUrl: string;
  /** `http://127.0.0.1:<metricsPort>` */
  readonly adminUrl: string;
  /** What the node says its endpoints start with (EDITION_PUBLIC_URL or its own address). */
  readonly publicUrl: string;
  /** Every line printed so far, both streams, in arrival order. */
  readonly logs: readonly LogLine[];
  /** Settles when the process has exited and its output is fully read. */
  readonly exited: Promise<Exit>;
  /** SIGTERM (drain), then waits for the exit; SIGKILL and throw past `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
  /** The first log line (already printed or to come) matching `pred`. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function nodeEnv(extra: NodeOptions["env"]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // A stray EDITION_* from the caller's shell would change (or break) the node's config,
    // and the test runner's own variables must not leak into the server.
    if (!k.startsWith("EDITION_") && !k.startsWith("NODE_TEST")) env[k] = v;
  }
  const merged: Record<string, string | undefined> = {
    EDITION_HOST: "127.0.0.1",
    EDITION_PORT: "0",
    EDITION_METRICS_PORT: "0",
    EDITION_LOG_LEVEL: "info",
    ...extra,
  };
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) env[k] = v;
  return env;
}

/** A spawned node process with its output captured; shared by `startNode` and `runNode`. */
class Proc {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly events = new EventEmitter();

  constructor(env: NodeOptions["env"], main = MAIN) {
    this.child = spawn(process.execPath, ["--import", "tsx", "--import", GUARD, main], {
      cwd: ROOT,
      env: nodeEnv(env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    running.add(this.child);
    this.events.setMaxListeners(0);
    for (const stream of ["stdout", "stderr"] as const) {
      createInterface({ input: this.child[stream]! }).on("line", (text) => {
        const line: LogLine = { stream, text, json: parseLine(text) };
        this.logs.push(line);
        this.events.emit("line", line);
      });
    }
    this.exited = new Promise((resolve) => {
      // `close` (not `exit`): it also waits for stdout/stderr to end, so no line is lost.
      this.child.once("close", (code, signal) => {
        running.delete(this.child);
        this.exit = { code, signal };
        this.events.emit("exit");
        resolve(this.exit);
      });
    });
  }

  waitForLog(
    pred: (l: LogLine) => boolean,
    timeoutMs: number,
    what = "log line",
  ): Promise<LogLine> {
    const seen = this.logs.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off("line", onLine);
        this.events.off("exit", onExit);
      };
      const onLine = (l: LogLine) => {
        if (!pred(l)) return;
        done();
        resolve(l);
      };
      const onExit = () => {
        done();
        reject(
          new Error(
            `node exited (code ${this.exit?.code}, signal ${this.exit?.signal}) before the ${what}; ` +
              `stderr:\n${this.text("stderr")}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms; output:\n${this.text()}`));
      }, timeoutMs);
      this.events.on("line", onLine);
      if (this.exit !== undefined) onExit();
      else this.events.on("exit", onExit);
    });
  }

  text(stream?: "stdout" | "stderr"): string {
    return this.logs
      .filter((l) => stream === undefined || l.stream === stream)
      .map((l) => l.text)
      .join("\n");
  }

  get hasExited(): boolean {
    return this.exit !== undefined;
  }
}

function parseLine(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a node and resolves once it listens. Rejects (and kills it) if it does not. */
export async function startNode(opts: NodeOptions = {}): Promise<PushNode> {
  const p = new Proc(opts.env, opts.main);
  const kill = (signal: NodeJS.Signals = "SIGKILL") => {
    if (!p.hasExited) p.child.kill(signal);
  };
  // Default: the default drain deadline (30 s) plus the node's own 1 s hard stop, and slack.
  const stop = async (timeoutMs = 35_000): Promise<number | null> => {
    if (!p.hasExited) p.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), timeoutMs);
    });
    const r = await Promise.race([p.exited, late]);
    clearTimeout(timer);
    if (r === "late") {
      kill("SIGKILL");
      await p.exited;
      throw new Error(`node ${p.child.pid} did not exit within ${timeoutMs} ms of SIGTERM`);
    }
    return r.code;
  };
  opts.t?.after(() => kill("SIGKILL"));

  let listening: LogLine;
  try {
    listening = await p.waitForLog(
      (l) => l.json?.event === "listening",
      opts.startTimeoutMs ?? 20_000,
      "listening line",
    );
  } catch (err) {
    kill("SIGKILL");
    throw err;
  }
  const j = listening.json!;
  const port = j.port as number;
  const metricsPort = j.metricsPort as number;
  return {
    pid: p.child.pid!,
    port,
    metricsPort,
    wsUrl: `ws://127.0.0.1:${port}/`,
    httpUrl: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${metricsPort}`,
    publicUrl: j.publicUrl as string,
    logs: p.logs,
    exited: p.exited,
    stop,
    kill,
    waitForLog: (pred, timeoutMs = 10_000) => p.waitForLog(pred, timeoutMs),
  };
}

/** Runs a node that is expected to exit by itself (e.g. bad config); kills it past the deadline. */
export async function runNode(
  opts: { env?: NodeOptions["env"]; timeoutMs?: number } = {},
): Promise<Exit & { stdout: string; stderr: string }> {
  const p = new Proc(opts.env);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
  const exit = await p.exited;
  clearTimeout(timer);
  return { ...exit, stdout: p.text("stdout"), stderr: p.text("stderr") };
}
