/**
 * Running k6: the pinned binary (scripts/install-k6.sh), and one suite as one or more k6
 * processes, each with its share of the clients and its own 127.0.0.x source addresses,
 * each bounded in time by the suite's budget.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Params, Suite } from "./suites.js";

/** Installs k6 if needed and returns its path. */
export function ensureK6(root: string): string {
  const r = spawnSync("bash", [join(root, "scripts/install-k6.sh")], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    timeout: 20 * 60_000,
  });
  const path = r.stdout?.trim().split("\n").pop();
  if (r.status !== 0 || !path) throw new Error(`scripts/install-k6.sh failed (status ${r.status})`);
  return path;
}

export function k6Version(k6: string): string {
  const r = spawnSync(k6, ["version"], { encoding: "utf8", timeout: 30_000 });
  return r.stdout.trim().split("\n")[0] ?? "unknown";
}

export interface SuiteRun {
  readonly suite: Suite;
  readonly params: Params;
  readonly profile: string;
  readonly shards: number;
  readonly wsUrl: string;
  readonly allowRemote: boolean;
  /** Spread source addresses over 127.0.0.x (only when the target is on loopback). */
  readonly localIps: boolean;
  /** More `-e` variables for the script (storm: STORM_KILL, CONTROL_URL). */
  readonly env: Readonly<Record<string, string>>;
  readonly outDir: string;
}

export interface ShardResult {
  readonly shard: number;
  /** k6's exit code; 99 means thresholds failed; null when it was killed. */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly summaryPath: string;
  readonly logPath: string;
}

/** Source addresses per k6 process: VUs take them round-robin. */
const IPS_PER_SHARD = 16;
/** Beyond the suite's own budget: k6 start-up, setup and the end-of-test summary. */
const WATCHDOG_SLACK_MS = 90_000;
const KILL_GRACE_MS = 10_000;

const running = new Set<ChildProcess>();

/** Asks every k6 still running to stop (Ctrl-C of the runner); they write their summaries. */
export function stopAllK6(): void {
  for (const child of running) child.kill("SIGTERM");
}

export function localIpRange(shard: number): string {
  const first = 10 + shard * IPS_PER_SHARD;
  if (first + IPS_PER_SHARD > 255) throw new Error(`too many k6 processes for 127.0.0.x`);
  return `127.0.0.${first}-127.0.0.${first + IPS_PER_SHARD - 1}`;
}

/** Runs every shard of a suite at once; resolves when all have exited. */
export async function runSuite(k6: string, root: string, run: SuiteRun): Promise<ShardResult[]> {
  const shards = Array.from({ length: run.shards }, (_, i) => runShard(k6, root, run, i));
  return Promise.all(shards);
}

function runShard(k6: string, root: string, run: SuiteRun, shard: number): Promise<ShardResult> {
  const base = join(run.outDir, run.shards > 1 ? `${run.suite}.${shard}` : run.suite);
  const summaryPath = `${base}.summary.json`;
  const logPath = `${base}.k6.log`;
  const vars: Record<string, string> = {
    TARGET_WS: run.wsUrl,
    PROFILE: run.profile,
    PARAMS: JSON.stringify(run.params),
    SHARD: String(shard),
    SHARDS: String(run.shards),
    ALLOW_REMOTE: run.allowRemote ? "1" : "0",
    ...run.env,
  };
  const args = [
    "run",
    "--quiet",
    "--no-color",
    "--include-system-env-vars=false",
    // No REST API server: it would listen on the fixed port 6565 (one per process).
    "--address=",
    "--summary-export",
    summaryPath,
    ...(run.localIps ? ["--local-ips", localIpRange(shard)] : []),
    ...Object.entries(vars).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    join(root, "loadtest", `${run.suite}.js`),
  ];
  const log = createWriteStream(logPath);
  log.write(`$ k6 ${args.join(" ")}\n\n`);
  const child = spawn(k6, args, { cwd: join(root, "loadtest"), stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const tag = run.shards > 1 ? `${run.suite}#${shard}` : run.suite;
  child.stdout.pipe(log, { end: false });
  // k6 prints console output and warnings on stderr: worth seeing as it happens, except
  // its one-line-per-failed-request warnings (counted in the report as "no answer").
  let requestFailures = 0;
  createInterface({ input: child.stderr }).on("line", (line) => {
    log.write(`${line}\n`);
    if (line.includes('msg="Request Failed"')) requestFailures++;
    else process.stderr.write(`[${tag}] ${line}\n`);
  });

  let timedOut = false;
  const budgetMs = (run.params.budgetS ?? 0) * 1000 + WATCHDOG_SLACK_MS;
  const watchdog = setTimeout(() => {
    timedOut = true;
    process.stderr.write(`[${tag}] no exit within ${budgetMs} ms: stopping k6\n`);
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS).unref();
  }, budgetMs);

  return new Promise((resolve) => {
    child.once("close", (code) => {
      if (requestFailures > 0) {
        process.stderr.write(
          `[${tag}] ${requestFailures} failed requests (details in ${logPath})\n`,
        );
      }
      running.delete(child);
      clearTimeout(watchdog);
      log.end();
      resolve({ shard, exitCode: code, timedOut, summaryPath, logPath });
    });
  });
}
