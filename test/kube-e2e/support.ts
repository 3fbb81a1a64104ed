/**
 * Plumbing of the end-to-end tier on the local Kubernetes (scripts/kube/kube.sh): running
 * the project's scripts, kubectl and helm against that cluster, polling with deadlines.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs a program; resolves with its stdout, rejects with its stderr on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: ROOT,
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, ...opts.env },
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(
              `${cmd} ${args.join(" ")} failed (${err.message.split("\n")[0]}):\n${stderr}\n${stdout.slice(-6000)}`,
            ),
          );
        } else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export interface KubeEnv {
  readonly KUBECONFIG: string;
  readonly KUBECTL: string;
  readonly HELM: string;
  readonly CTR_ADDRESS: string;
  readonly NODE_IP: string;
}

export function parseEnv(text: string): KubeEnv {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  for (const k of ["KUBECONFIG", "KUBECTL", "HELM", "CTR_ADDRESS", "NODE_IP"]) {
    if (!env[k]) throw new Error(`kube.sh printed no ${k}: ${text}`);
  }
  return env as unknown as KubeEnv;
}

export const kubeScript = (args: readonly string[], timeoutMs = 600_000) =>
  run("bash", ["scripts/kube/kube.sh", ...args], { timeoutMs });

/** kubectl and helm bound to the local cluster. */
export class Kube {
  constructor(readonly env: KubeEnv) {}

  kubectl(args: readonly string[], opts: RunOptions = {}): Promise<string> {
    return run(this.env.KUBECTL, ["--kubeconfig", this.env.KUBECONFIG, ...args], opts);
  }

  helm(args: readonly string[], opts: RunOptions = {}): Promise<string> {
    return run(this.env.HELM, ["--kubeconfig", this.env.KUBECONFIG, ...args], opts);
  }

  ctr(args: readonly string[]): Promise<string> {
    return run("ctr", ["--address", this.env.CTR_ADDRESS, "--namespace", "k8s.io", ...args]);
  }

  async json<T = Record<string, unknown>>(args: readonly string[]): Promise<T> {
    return JSON.parse(await this.kubectl([...args, "-o", "json"])) as T;
  }

  /** The nodePort of a Service's first port. */
  async nodePort(ns: string, service: string): Promise<number> {
    const out = await this.kubectl([
      "-n",
      ns,
      "get",
      "service",
      service,
      "-o",
      "jsonpath={.spec.ports[0].nodePort}",
    ]);
    const port = Number(out.trim());
    if (!Number.isInteger(port) || port <= 0) throw new Error(`${service} has no nodePort: ${out}`);
    return port;
  }
}

export interface PodView {
  readonly name: string;
  readonly uid: string;
  readonly image: string;
  readonly ready: boolean;
  readonly terminating: boolean;
}

interface PodJson {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { containers: { image: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
}

export async function nodePods(kube: Kube, ns: string, selector: string): Promise<PodView[]> {
  const list = await kube.json<{ items: PodJson[] }>(["-n", ns, "get", "pods", "-l", selector]);
  return list.items
    .map((p) => ({
      name: p.metadata.name,
      uid: p.metadata.uid,
      image: p.spec.containers[0]?.image ?? "",
      ready: p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
      terminating: p.metadata.deletionTimestamp !== undefined,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Polls `check` every `everyMs` until it returns a value other than undefined/false. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined | false>,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; ; i++) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline || i > 100_000) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
