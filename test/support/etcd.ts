/**
 * Starts a real etcd (Debian's etcd 3.4) on ephemeral loopback ports with a throw-away data
 * dir, for integration and end-to-end tests and for `npm run cluster`. `stop()` then
 * `restart()` brings it back on the same ports and data (an etcd outage and recovery).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { restartablePort, until } from "./redis.js";
import { scratchDir } from "./scratch.js";

export interface EtcdServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly dir: string;
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

async function healthy(endpoint: string): Promise<boolean> {
  const r = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
  if (!r.ok) return false;
  const body = (await r.json()) as { health?: string };
  return body.health === "true";
}

export async function startEtcd(
  opts: { t?: { after(fn: () => unknown): void } } = {},
): Promise<EtcdServer> {
  const dir = scratchDir("edition-etcd-");
  // Kept across stop() / restart(): below the ephemeral range (restartablePort).
  const clientPort = await restartablePort();
  const peerPort = await restartablePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async () => {
    const c = spawn(
      "etcd",
      [
        "--name",
        "test",
        "--data-dir",
        join(dir, "data"),
        "--listen-client-urls",
        endpoint,
        "--advertise-client-urls",
        endpoint,
        "--listen-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${peerPort}`,
        "--initial-cluster",
        `test=http://127.0.0.1:${peerPort}`,
        "--log-level",
        "error",
        "--logger",
        "zap",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    c.stderr?.on("data", (d: Buffer) => {
      if (stderr.length < 10_000) stderr += d.toString();
    });
    running.add(c);
    exited = new Promise((r) =>
      c.once("exit", () => {
        running.delete(c);
        r();
      }),
    );
    child = c;
    try {
      await until(() => healthy(endpoint), 15_000, `etcd on ${endpoint} healthy`);
    } catch (err) {
      c.kill("SIGKILL");
      throw new Error(`${(err as Error).message}\n${stderr}`);
    }
  };
  await launch();

  let disposed = false;
  const server: EtcdServer = {
    endpoint,
    dir,
    async stop(signal = "SIGTERM") {
      child?.kill(signal);
      await exited;
    },
    async restart() {
      await launch();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      child?.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  opts.t?.after(() => server.dispose());
  return server;
}

/** One key as the etcd v3 JSON gateway returns it, decoded. */
export interface EtcdKv {
  readonly key: string;
  readonly value: string;
  /** The lease the key is attached to, as a decimal string ("0": none). */
  readonly lease: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/** The range end that makes `[key, end)` cover every key starting with `key`. */
function prefixEnd(key: string): string {
  const bytes = Buffer.from(key, "utf8");
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      bytes[i]! += 1;
      return bytes.subarray(0, i + 1).toString("base64");
    }
  }
  return Buffer.from([0]).toString("base64");
}

/**
 * Reads `key` (or every key under it with `prefix`) through etcd's JSON gateway, on a fresh
 * request each time: an inspection tool for tests, never the code under test.
 */
export async function etcdRange(
  endpoint: string,
  key: string,
  opts: { prefix?: boolean } = {},
): Promise<EtcdKv[]> {
  const body: Record<string, string> = { key: b64(key) };
  if (opts.prefix) body.range_end = prefixEnd(key);
  const r = await fetch(`${endpoint}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(2_000),
  });
  if (!r.ok) throw new Error(`etcd range ${key}: HTTP ${r.status}`);
  const j = (await r.json()) as { kvs?: { key: string; value?: string; lease?: string }[] };
  return (j.kvs ?? []).map((kv) => ({
    key: Buffer.from(kv.key, "base64").toString("utf8"),
    value: Buffer.from(kv.value ?? "", "base64").toString("utf8"),
    lease: kv.lease ?? "0",
  }));
}

/** Seconds left on lease `id` (decimal string); -1 when it has expired or never existed. */
export async function etcdLeaseTtl(endpoint: string, id: string): Promise<number> {
  const r = await fetch(`${endpoint}/v3/lease/timetolive`, {
    method: "POST",
    body: JSON.stringify({ ID: id }),
    signal: AbortSignal.timeout(2_000),
  });
  if (!r.ok) throw new Error(`etcd lease ${id}: HTTP ${r.status}`);
  const j = (await r.json()) as { TTL?: string };
  return Number(j.TTL ?? -1);
}
