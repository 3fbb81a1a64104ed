/**
 * Two (or more) Edition regions on loopback for multi-region tests (docs/multi-region.md):
 * each region has its own etcd, its own Redis primary, a replica of another region's Redis
 * (Redis's own replication, `--replicaof`) and N push nodes, all real processes on
 * ephemeral ports. Regions share the token keys (endpoints decode everywhere) and the etcd
 * prefix. `kill()` SIGKILLs every process of a region; `restart()` brings it back (etcd on
 * its data, Redis primary empty, the replica it hosts re-syncing, fresh nodes).
 *
 * The failover controller is `RegionsController`: the operator's own failover decision
 * (`operator/src/failover.ts`) and adoption pass (`operator/src/adoption-pass.ts`), run as
 * the operator runs them on each reconcile, with region health read from each region's etcd
 * (members not draining), since there are no pods to count here.
 */
import { randomBytes } from "node:crypto";
import type { AdoptionStatus, RegionReplication } from "../../operator/src/adoption.js";
import { adoptionPass, healthFromMembers } from "../../operator/src/adoption-pass.js";
import {
  decideFailover,
  type FailoverEvent,
  type FailoverInput,
  publishedRecord,
  type RegionFailoverStatus,
} from "../../operator/src/failover.js";
import type { EtcdTarget } from "../../operator/src/region-etcd.js";
import { Etcd3RegionEtcd } from "../../operator/src/region-etcd3.js";
import { IoRedisRegionRedis } from "../../operator/src/region-redis.js";
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
      r.byName.set(name, {
        name,
        etcd,
        primary,
        hosted: undefined,
        replica: undefined,
        nodes: [],
        alive: true,
      });
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
      ...(r.nodes[0] ? { endpoint: r.nodes[0].httpUrl } : {}),
    }));
  }

  etcdTarget(name: string): EtcdTarget {
    return { endpoints: [this.get(name).etcd.endpoint], prefix: this.env.EDITION_ETCD_PREFIX! };
  }
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

export interface ControllerEvent extends FailoverEvent {
  readonly at: number;
}

/**
 * The failover controller of the operator, run every `intervalMs` as reconcile runs it:
 * observe (members from each region's etcd) → decide failover → adoption pass (promote,
 * hand back) → publish every region's record into every reachable region's etcd.
 */
export class RegionsController {
  readonly events: ControllerEvent[] = [];
  lagBytes: Record<string, number> = {};
  private failover: Record<string, RegionFailoverStatus | undefined> = {};
  private adoption: Record<string, AdoptionStatus | undefined> = {};
  // Generous: a killed etcd refuses at once, while a live one slowed by a busy machine must
  // not look dead (a false failure would promote a replica under a live region).
  private readonly etcd = new Etcd3RegionEtcd(2500);
  private readonly redis = new IoRedisRegionRedis({
    commandTimeoutMs: 1000,
    syncTimeoutMs: 20_000,
  });
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly regions: Regions,
    private readonly policy: FailoverInput["policy"],
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.pass().catch((err) =>
          this.events.push({
            region: "*",
            type: "Warning",
            reason: "PassFailed",
            message: String(err),
            at: Date.now(),
          }),
        );
        await new Promise((r) => setTimeout(r, this.intervalMs));
      }
    })();
  }

  phase(region: string): AdoptionStatus | undefined {
    return this.adoption[region];
  }

  state(region: string): RegionFailoverStatus | undefined {
    return this.failover[region];
  }

  private async pass(): Promise<void> {
    const names = [...this.regions.byName.keys()];
    const members = await Promise.all(
      names.map((n) => this.etcd.members(this.regions.etcdTarget(n), n).catch(() => undefined)),
    );
    const now = new Date();
    const failover = decideFailover({
      policy: this.policy,
      now,
      health: names.map((n, i) => healthFromMembers(n, 3, 1000, members[i])),
      previous: this.failover,
      failRequested: new Set(),
      failbackRequested: new Set(),
    });
    const at = Date.now();
    for (const e of failover.events) this.events.push({ ...e, at });
    this.failover = failover.regions;
    const published = Object.fromEntries(
      Object.entries(failover.regions).map(([r, s]) => [r, publishedRecord(s)]),
    );
    const pass = await adoptionPass(this.redis, {
      regions: this.regions.replication(),
      failover: published,
      previous: this.adoption,
      now,
    });
    for (const e of pass.events) this.events.push({ ...e, at: Date.now() });
    this.adoption = pass.adoption;
    this.lagBytes = pass.lagBytes;
    await Promise.all(
      names.map((n, i) =>
        members[i] === undefined
          ? undefined
          : this.etcd.publishRegionStates(this.regions.etcdTarget(n), pass.records).catch(() => {}),
      ),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.etcd.close();
    await this.redis.close();
  }
}
