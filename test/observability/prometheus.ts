/**
 * A real Prometheus (Debian's `prometheus` package) for tests: a generated config (static
 * targets with the labels the chart's PodMonitors would add, the rule files of the chart),
 * a throw-away TSDB dir, 127.0.0.1 on a free port. `startPrometheus()` resolves once
 * `/-/ready` answers (polled with a deadline); `query()` evaluates PromQL through the HTTP
 * API. Cleanup is layered like test/support/node.ts: `stop()`, a SIGKILL of survivors when
 * the test process exits, and a watchdog that kills Prometheus if this process dies.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { WATCHDOG } from "../support/kube.js";
import { freePort } from "../support/redis.js";
import { scratchDir } from "../support/scratch.js";

export interface ScrapeJob {
  readonly job: string;
  /** Prometheus' honor_labels: the scraped series' own labels win over these target labels. */
  readonly honorLabels?: boolean;
  readonly targets: readonly {
    readonly address: string;
    readonly labels: Record<string, string>;
  }[];
}

export interface PrometheusOptions {
  readonly jobs: readonly ScrapeJob[];
  readonly ruleFiles: readonly string[];
  /** Scrape and rule evaluation interval; default 1s. */
  readonly interval?: string;
  readonly startTimeoutMs?: number;
}

export interface Sample {
  readonly metric: Record<string, string>;
  /** The value as Prometheus prints it ("NaN", "+Inf" included). */
  readonly value: string;
}

export interface RuleHealth {
  readonly group: string;
  readonly name: string;
  readonly type: "recording" | "alerting";
  readonly query: string;
  readonly health: string;
  readonly lastError?: string;
}

export interface Prometheus {
  readonly url: string;
  /** An instant query at now; rejects with Prometheus' error message on a bad query. */
  query(promql: string): Promise<Sample[]>;
  /** Values of label `name` on the series that match `match`. */
  labelValues(name: string, match: string): Promise<string[]>;
  /** Every rule Prometheus loaded, with the health of its last evaluation. */
  rules(): Promise<RuleHealth[]>;
  /** Scrape targets and their health ("up", "down", "unknown"). */
  targets(): Promise<{ job: string; health: string; lastError: string }[]>;
  stop(): Promise<void>;
}

export function findPrometheus(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter).filter(Boolean)) {
    const p = join(dir, "prometheus");
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

function config(o: PrometheusOptions): string {
  const interval = o.interval ?? "1s";
  // JSON is YAML: Prometheus reads it as its config.
  return JSON.stringify(
    {
      global: {
        scrape_interval: interval,
        evaluation_interval: interval,
        scrape_timeout: interval,
      },
      rule_files: o.ruleFiles,
      scrape_configs: o.jobs.map((j) => ({
        job_name: j.job,
        honor_labels: j.honorLabels ?? false,
        static_configs: j.targets.map((t) => ({ targets: [t.address], labels: t.labels })),
      })),
    },
    null,
    2,
  );
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== "success") throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

export async function startPrometheus(o: PrometheusOptions): Promise<Prometheus> {
  const bin = findPrometheus();
  if (bin === undefined) throw new Error("prometheus not found: apt-get install prometheus");
  const dir = scratchDir("edition-prometheus-");
  const configPath = join(dir, "prometheus.yml");
  await writeFile(configPath, config(o));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    "sh",
    [
      "-c",
      WATCHDOG,
      "prometheus",
      bin,
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  running.add(child);
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-32 * 1024);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  let exited = false;
  const done = new Promise<void>((resolve) => {
    child.once("close", () => {
      exited = true;
      running.delete(child);
      resolve();
    });
  });

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (!exited) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => {
          child.stdin?.destroy(); // the watchdog SIGKILLs Prometheus
          child.kill("SIGKILL");
        }, 10_000);
        await done;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`prometheus exited before it was ready:\n${output}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within the deadline:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    async query(promql) {
      const data = await api<{ resultType: string; result: unknown }>(
        `${url}/api/v1/query?query=${encodeURIComponent(promql)}`,
      );
      if (data.resultType === "scalar") {
        const [, value] = data.result as [number, string];
        return [{ metric: {}, value }];
      }
      if (data.resultType !== "vector") throw new Error(`unexpected ${data.resultType} result`);
      return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map(
        (r) => ({ metric: r.metric, value: r.value[1] }),
      );
    },
    labelValues(name, match) {
      return api<string[]>(
        `${url}/api/v1/label/${encodeURIComponent(name)}/values?match[]=${encodeURIComponent(match)}`,
      );
    },
    async rules() {
      const data = await api<{
        groups: {
          name: string;
          rules: {
            name: string;
            type: "recording" | "alerting";
            query: string;
            health: string;
            lastError?: string;
          }[];
        }[];
      }>(`${url}/api/v1/rules`);
      return data.groups.flatMap((g) =>
        g.rules.map((r) => ({
          group: g.name,
          name: r.name,
          type: r.type,
          query: r.query,
          health: r.health,
          lastError: r.lastError,
        })),
      );
    },
    async targets() {
      const data = await api<{
        activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
      }>(`${url}/api/v1/targets`);
      return data.activeTargets.map((t) => ({
        job: t.labels.job ?? "",
        health: t.health,
        lastError: t.lastError,
      }));
    },
    stop,
  };
}

/** True when a sample's value is a real number (not NaN or ±Inf). */
export function finite(s: Sample): boolean {
  return Number.isFinite(Number(s.value));
}
