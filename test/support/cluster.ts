/**
 * A local Edition region on loopback: one etcd, one Redis, N push nodes and a balancer,
 * each a real process on ephemeral ports. Used by the cluster end-to-end tests and by
 * `npm run cluster` (scripts/cluster.ts).
 */
import { randomBytes } from "node:crypto";
import { type Member, parseMember, regionKeys } from "../../server/src/routing/members.js";
import { DEFAULT_SLOTS, decodeOwners, slotOf } from "../../server/src/routing/slot-table.js";
import { type EtcdServer, etcdRange, startEtcd } from "./etcd.js";
import { scrape } from "./http.js";
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
  /** The `EDITION_NODE_ID` a node of this cluster was started with. */
  idOf(node: PushNode): string;
  /** The slot table as etcd holds it now (`owners[slot]` = node id); undefined before the first. */
  slotTable(): Promise<string[] | undefined>;
  /** The member records in etcd now, with the lease each is attached to. */
  members(): Promise<(Member & { lease: string })[]>;
  /**
   * Resolves when every running node has applied the table etcd holds (its
   * `edition_slots_owned` is its share of that table, it owns some, and its
   * `edition_members` counts every running node): stronger than `converged()`, which
   * only asks each node whether it is in *a* table.
   */
  applied(timeoutMs?: number): Promise<string[]>;
}

/**
 * A fresh UAID (32 lower-case hex) whose slot `owners` gives to `nodeId`: lets a test put
 * the slot owner of a client on the node it wants (PUT node → owner → holder). The slot
 * hash is keyed by the cluster secret (`env.EDITION_CLUSTER_SECRET`), which a test knows.
 */
export function uaidOwnedBy(owners: readonly string[], nodeId: string, secret: string): string {
  for (let i = 0; i < 100_000; i++) {
    const uaid = randomBytes(16).toString("hex");
    if (owners[slotOf(uaid, owners.length, secret)] === nodeId) return uaid;
  }
  throw new Error(`no slot of ${owners.length} is owned by ${nodeId}`);
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
  const ids = new Map<PushNode, string>();
  const keys = regionKeys(env.EDITION_ETCD_PREFIX!, env.EDITION_REGION ?? "local");
  const slots = Number(env.EDITION_SLOTS ?? DEFAULT_SLOTS);
  let n = 0;
  const addNode = async (extra: Record<string, string> = {}) => {
    const id = `node-${n++}`;
    const node = await startNode({ env: { ...env, EDITION_NODE_ID: id, ...extra }, t: opts.t });
    ids.set(node, id);
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
    idOf(node) {
      const id = ids.get(node);
      if (id === undefined) throw new Error(`node ${node.pid} is not one of this cluster's nodes`);
      return id;
    },
    async slotTable() {
      const [kv] = await etcdRange(etcd.endpoint, keys.slots);
      return kv === undefined ? undefined : decodeOwners(kv.value, slots);
    },
    async members() {
      const out: (Member & { lease: string })[] = [];
      for (const kv of await etcdRange(etcd.endpoint, keys.members, { prefix: true })) {
        const m = parseMember(kv.value);
        if (m !== undefined) out.push({ ...m, lease: kv.lease });
      }
      return out;
    },
    async applied(timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      let last = "";
      for (;;) {
        const live = nodes.filter((x) => !exited.has(x));
        const owners = await cluster.slotTable().catch(() => undefined);
        if (owners !== undefined) {
          const views = await Promise.all(
            live.map((x) => scrape(x.adminUrl).catch(() => new Map<string, number>())),
          );
          last = live
            .map((x, i) => {
              const id = ids.get(x)!;
              const share = owners.filter((o) => o === id).length;
              return `${id}: owns ${views[i]!.get("edition_slots_owned")} of ${share} in etcd, sees ${views[i]!.get("edition_members")} members`;
            })
            .join("; ");
          const ok = live.every((x, i) => {
            const share = owners.filter((o) => o === ids.get(x)).length;
            return (
              share > 0 &&
              views[i]!.get("edition_slots_owned") === share &&
              views[i]!.get("edition_members") === live.length
            );
          });
          if (ok && owners.every((o) => live.some((x) => ids.get(x) === o))) return owners;
        }
        if (Date.now() > end)
          throw new Error(`nodes did not apply etcd's table within ${timeoutMs} ms: ${last}`);
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

/** The same push endpoint, reached through `node` (tokens are stateless: any node takes any). */
export function endpointVia(endpoint: string, node: PushNode): string {
  const u = new URL(endpoint);
  return `${node.httpUrl}${u.pathname}${u.search}`;
}

/** `p`, or a rejection naming `what` if it has not settled within `ms` (no timer left behind). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}
