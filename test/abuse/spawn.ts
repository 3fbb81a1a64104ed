/**
 * Starts a push node from any checkout (`root`), with the GC hook preloaded, on ephemeral
 * loopback ports; for `measure.ts`, which runs the attacks against a build other than this
 * one (the "before" figures). The abuse tests use `test/support/node.ts` instead.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

export const GC_PRELOAD = new URL("./gc-preload.mjs", import.meta.url).href;

export interface Spawned {
  readonly pid: number;
  readonly port: number;
  readonly metricsPort: number;
  readonly lines: string[];
  gc(): Promise<void>;
  kill(): void;
}

export async function spawnNode(root: string, env: Record<string, string>): Promise<Spawned> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("EDITION_") && !k.startsWith("NODE_")) clean[k] = v;
  const child = spawn(process.execPath, ["--import", "tsx", `${root}/server/src/main.ts`], {
    cwd: root,
    env: {
      ...clean,
      EDITION_HOST: "127.0.0.1",
      EDITION_PORT: "0",
      EDITION_METRICS_PORT: "0",
      NODE_OPTIONS: `--import=${GC_PRELOAD}`,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  for (const s of [child.stdout, child.stderr])
    createInterface({ input: s }).on("line", (l) => {
      lines.push(l);
      for (const w of waiters.splice(0)) w();
    });
  const waitFor = async (pred: (l: string) => boolean, ms: number): Promise<string> => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = lines.find(pred);
      if (hit !== undefined) return hit;
      if (Date.now() > end || child.exitCode !== null)
        throw new Error(`not seen:\n${lines.join("\n")}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  const listening = JSON.parse(await waitFor((l) => l.includes('"listening"'), 20_000));
  let gcs = 0;
  return {
    pid: child.pid!,
    port: listening.port,
    metricsPort: listening.metricsPort,
    lines,
    async gc() {
      const n = ++gcs;
      child.kill("SIGUSR2");
      await waitFor((l) => l === JSON.stringify({ event: "test_gc", n }), 10_000);
    },
    kill() {
      child.kill("SIGKILL");
    },
  };
}

export { pathToFileURL };
