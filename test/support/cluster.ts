/**
 * A local Edition region on loopback: one etcd, one Redis, N push nodes and a balancer,
 * each a real process on ephemeral ports. Used by the cluster end-to-end tests and by
 * `npm run cluster` (scripts/cluster.ts).
 */
import { randomBytes } from "node:crypto";
import { type EtcdServer, startEtcd } from "./etcd.js";
import { type PushNode, startNode } from "./node.js";
import { type RedisServer, startRedis } from "./redis.js";

export interface LocalCluster {
  readonly etcd: EtcdServer;
  readonly redis: RedisServer;
  readonly nodes: PushNode[];
  readonly balancer: PushNode | undefined;
  /** The environment every node shares (etcd, Redis, secrets, keys). */
  readonly env: Readonly<Record<string, string>>;
  /** Starts one more node (id `node-<n>`) with optional extra env. */
  addNode(extra?: Record<string, string>): Promise<PushNode>;
  /** Resolves when every running node owns slots in one table (the region converged). */
  converged(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly nodes?: number;
  readonly balancer?: boolean;
  /** Extra env for every node. */
  readonly env?: Record<string, string>;
  readonly aof?: boolean;
  readonly t?: { after(fn: () => unknown): void };
  readonly logLevel?: string;
}

export async function startLocalCluster(opts: ClusterOptions = {}): Promise<LocalCluster> {
  const [etcd, redis] = await Promise.all([startEtcd(), startRedis({ aof: opts.aof ?? true })]);
  const env: Record<string, string> = {
    EDITION_ETCD_ENDPOINTS: etcd.endpoint,
    EDITION_ETCD_PREFIX: `/edition-${randomBytes(4).toString("hex")}`,
    EDITION_REDIS_URL: redis.url,
    EDITION_CLUSTER_SECRET: randomBytes(24).toString("hex"),
    EDITION_TOKEN_KEYS: `1:${randomBytes(32).toString("base64")}`,
    EDITION_ROUTER_PORT: "0",
    EDITION_LEASE_TTL_SECONDS: "2",
    EDITION_MEMBER_REFRESH_MS: "250",
    EDITION_LOG_LEVEL: opts.logLevel ?? "info",
    ...opts.env,
  };
  const nodes: PushNode[] = [];
  const exited = new Set<PushNode>();
  let n = 0;
  const addNode = async (extra: Record<string, string> = {}) => {
    const id = `node-${n++}`;
    const node = await startNode({ env: { ...env, EDITION_NODE_ID: id, ...extra }, t: opts.t });
    nodes.push(node);
    void node.exited.then(() => exited.add(node));
    return node;
  };
  const cluster: LocalCluster = {
    etcd,
    redis,
    nodes,
    balancer: undefined,
    env,
    addNode,
    async converged(timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const live = nodes.filter((x) => !exited.has(x));
        const ready = await Promise.all(
          live.map((x) =>
            fetch(`${x.adminUrl}/ready`, { signal: AbortSignal.timeout(1_000) }).then(
              (r) => r.status === 200,
              () => false,
            ),
          ),
        );
        if (ready.every(Boolean)) return;
        if (Date.now() > end) throw new Error(`region did not converge within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      await Promise.allSettled(
        [...nodes, ...(cluster.balancer ? [cluster.balancer] : [])].map((x) => x.stop(20_000)),
      );
      await Promise.allSettled([etcd.dispose(), redis.dispose()]);
    },
  };
  opts.t?.after(() => cluster.stop());
  try {
    for (let i = 0; i < (opts.nodes ?? 3); i++) await addNode();
    if (opts.balancer) {
      (cluster as { balancer: PushNode | undefined }).balancer = await startNode({
        env: { ...env, EDITION_ROLE: "balancer", EDITION_NODE_ID: "balancer" },
        t: opts.t,
      });
    }
    await cluster.converged();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
