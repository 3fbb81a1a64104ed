/**
 * Two (or more) Edition regions on loopback for multi-region tests (docs/multi-region.md):
 * each region has its own etcd, its own Redis primary, a replica of another region's Redis
 * (Redis's own replication, `--replicaof`) and N push nodes, all real processes on
 * ephemeral ports. Regions share the token keys (endpoints decode everywhere) and the etcd
 * prefix. `kill()` SIGKILLs every process of a region; `restart()` brings it back (etcd on
 * its data, Redis primary empty, the replica it hosts re-syncing, fresh nodes).
 *
 * The failover controller that watches them is the real operator
 * (`regions-operator.ts`).
 */
import { randomBytes } from "node:crypto";
import { connect as connectTcp, createServer, type Socket } from "node:net";
import type { RegionReplication } from "../../operator/src/adoption.js";
import { type EtcdServer, startEtcd } from "./etcd.js";
import { type PushNode, startNode } from "./node.js";
import { type RedisServer, redisCommand, startRedis, until } from "./redis.js";

type T = { after(fn: () => unknown): void };

export interface Region {
  readonly name: string;
  etcd: EtcdServer;
  /** This region's own Redis. */
  primary: RedisServer;
  /** The replica of `replicaOf`'s Redis that lives in this region. */
  hosted: RedisServer | undefined;
  /** The replica of this region's Redis (in another region). */
  replica: RedisServer | undefined;
  nodes: PushNode[];
  alive: boolean;
  /**
   * The region's stable public address (`http://127.0.0.1:<port>`): a TCP load balancer
   * over its live nodes, as a cloud load balancer would be. Refuses while none is alive.
   */
  endpoint: string;
}

export interface RegionsOptions {
  readonly names: readonly string[];
  readonly nodesPerRegion?: number;
  readonly env?: Record<string, string>;
  readonly t: T;
}

export class Regions {
  readonly byName = new Map<string, Region>();
  readonly env: Record<string, string>;
  private nodeSeq = 0;

  private constructor(
    private readonly o: RegionsOptions,
    env: Record<string, string>,
  ) {
    this.env = env;
  }

  /** Each region's Redis is replicated into the next region (a → b, b → a for two). */
  static async start(o: RegionsOptions): Promise<Regions> {
    const env = {
      EDITION_ETCD_PREFIX: `/edition-${randomBytes(4).toString("hex")}`,
      EDITION_CLUSTER_SECRET: randomBytes(24).toString("hex"),
      EDITION_TOKEN_KEYS: `1:${randomBytes(32).toString("base64")}`,
      EDITION_ROUTER_PORT: "0",
      // The default 5 s: a member must not vanish (and its region look dead) on a brief stall.
      EDITION_LEASE_TTL_SECONDS: "5",
      EDITION_MEMBER_REFRESH_MS: "250",
      EDITION_LOG_LEVEL: "info",
      ...o.env,
    };
    const r = new Regions(o, env);
    for (const name of o.names) {
      const [etcd, primary] = await Promise.all([
        startEtcd({ t: o.t }),
        startRedis({ aof: false, t: o.t }),
      ]);
      const reg: Region = {
        name,
        etcd,
        primary,
        hosted: undefined,
        replica: undefined,
        nodes: [],
        alive: true,
        endpoint: "",
      };
      reg.endpoint = await loadBalancer(reg, o.t);
      r.byName.set(name, reg);
    }
    const list = [...r.byName.values()];
    await Promise.all(
      list.map(async (home, i) => {
        const host = list[(i + 1) % list.length]!;
        const replica = await startRedis({
          aof: false,
          t: o.t,
          args: () => ["--replicaof", "127.0.0.1", String(home.primary.port)],
        });
        home.replica = replica;
        host.hosted = replica;
        await linked(replica);
      }),
    );
    for (const reg of list) await r.startNodes(reg);
    return r;
  }

  get(name: string): Region {
    const r = this.byName.get(name);
    if (r === undefined) throw new Error(`no region ${name}`);
    return r;
  }

  /** Which region hosts `name`'s replica. */
  replicaRegion(name: string): string {
    const list = [...this.byName.keys()];
    return list[(list.indexOf(name) + 1) % list.length]!;
  }

  private async startNodes(reg: Region): Promise<void> {
    reg.nodes = await Promise.all(
      Array.from({ length: this.o.nodesPerRegion ?? 3 }, () =>
        startNode({
          env: {
            ...this.env,
            EDITION_REGION: reg.name,
            EDITION_NODE_ID: `${reg.name}-node-${this.nodeSeq++}`,
            EDITION_ETCD_ENDPOINTS: reg.etcd.endpoint,
            EDITION_REDIS_URL: reg.primary.url,
          },
          t: this.o.t,
        }),
      ),
    );
    await until(
      async () => {
        const ready = await Promise.all(
          reg.nodes.map((n) =>
            fetch(`${n.adminUrl}/ready`, { signal: AbortSignal.timeout(1_000) }).then(
              (x) => x.status === 200,
            ),
          ),
        );
        return ready.every(Boolean);
      },
      20_000,
      `region ${reg.name} ready`,
    );
  }

  /** SIGKILLs every process of the region: nodes, etcd, Redis primary, the replica it hosts. */
  async kill(name: string): Promise<void> {
    const reg = this.get(name);
    reg.alive = false;
    for (const n of reg.nodes) n.kill("SIGKILL");
    await Promise.all([
      reg.etcd.stop("SIGKILL"),
      reg.primary.stop("SIGKILL"),
      reg.hosted?.stop("SIGKILL"),
      ...reg.nodes.map((n) => n.exited),
    ]);
  }

  /** The region comes back: etcd on its data, an empty Redis primary, its hosted replica re-syncing, fresh nodes. */
  async restart(name: string): Promise<void> {
    const reg = this.get(name);
    await Promise.all([reg.etcd.restart(), reg.primary.restart(), reg.hosted?.restart()]);
    await this.startNodes(reg);
    reg.alive = true;
  }

  /** The replication layout and endpoints, as the operator reads them from the spec. */
  replication(): RegionReplication[] {
    return [...this.byName.values()].map((r) => ({
      name: r.name,
      primaryUrl: r.primary.url,
      ...(r.replica ? { replica: { url: r.replica.url, region: this.replicaRegion(r.name) } } : {}),
      endpoint: r.endpoint,
    }));
  }
}

/** A round-robin TCP proxy to the region's live nodes; closed when the test ends. */
async function loadBalancer(reg: Region, t: T): Promise<string> {
  let next = 0;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    const live = reg.alive ? reg.nodes : [];
    const node = live[next++ % Math.max(1, live.length)];
    if (node === undefined) {
      client.destroy();
      return;
    }
    const upstream = connectTcp(node.port, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of open) c.destroy();
      }),
  );
  const a = server.address();
  return `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
}

/** Resolves once `replica` reports its link to the master up. */
export async function linked(replica: RedisServer, timeoutMs = 15_000): Promise<void> {
  await until(
    async () =>
      /master_link_status:up/.test(await redisCommand(replica.port, ["INFO", "replication"])),
    timeoutMs,
    `replica ${replica.port} linked`,
  );
}
