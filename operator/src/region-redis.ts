/**
 * The operator's hands on each region's Redis for adoption (`adoption.ts`): promote a
 * replica, hand a region's data back, and read replication lag. Redis's own replication
 * moves the data; every call is bounded in time, and a step that fails part-way is safe to
 * run again (the next reconcile pass does).
 */
import { Redis } from "ioredis";
import type { RedisStep } from "./adoption.js";

export interface RegionRedis {
  run(step: RedisStep): Promise<void>;
  /** Bytes the primary at `url` has written that its first replica has not acknowledged; undefined: no replica connected or unreachable. */
  lagBytes(url: string): Promise<number | undefined>;
  close(): Promise<void>;
}

export interface RedisAdminOptions {
  readonly password?: string;
  readonly commandTimeoutMs?: number;
  /** A hand-back waits this long at most for the home Redis to sync. */
  readonly syncTimeoutMs?: number;
  /** Writes on the promoted store are paused at most this long while roles swap. */
  readonly pauseMs?: number;
}

const info = (text: string, field: string): string | undefined =>
  new RegExp(`^${field}:(.*)$`, "m").exec(text)?.[1]?.trim();

export class IoRedisRegionRedis implements RegionRedis {
  private readonly clients = new Map<string, Redis>();

  constructor(private readonly o: RedisAdminOptions = {}) {}

  private client(url: string): Redis {
    let c = this.clients.get(url);
    if (!c) {
      c = new Redis(url, {
        password: this.o.password,
        lazyConnect: false,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: this.o.commandTimeoutMs ?? 2000,
        connectTimeout: this.o.commandTimeoutMs ?? 2000,
        retryStrategy: (n) => Math.min(n * 200, 2000),
      });
      c.on("error", () => {});
      this.clients.set(url, c);
    }
    return c;
  }

  private async ready(url: string): Promise<Redis> {
    const c = this.client(url);
    if (c.status === "ready") return c;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        c.off("ready", ok);
        reject(new Error(`redis ${url}: not reachable`));
      }, this.o.commandTimeoutMs ?? 2000);
      const ok = () => {
        clearTimeout(t);
        resolve();
      };
      c.once("ready", ok);
    });
    return c;
  }

  async run(step: RedisStep): Promise<void> {
    if (step.kind === "promote") {
      const r = await this.ready(step.replicaUrl);
      await r.call("REPLICAOF", "NO", "ONE");
      return;
    }
    await this.handBack(step.primaryUrl, step.replicaUrl);
  }

  /**
   * The promoted store (`replicaUrl`) holds the region's data; the home Redis
   * (`primaryUrl`) is back, empty or stale. Make home a replica of the promoted store, wait
   * for the full sync, pause writes on the promoted store, wait for home to have every
   * byte, then swap roles: nothing the promoted store accepted is left behind.
   */
  private async handBack(primaryUrl: string, replicaUrl: string): Promise<void> {
    const home = await this.ready(primaryUrl);
    const promoted = await this.ready(replicaUrl);
    const p = new URL(replicaUrl);
    const h = new URL(primaryUrl);
    const homeInfo = await home.info("replication");
    const pointed =
      info(homeInfo, "role") === "slave" &&
      info(homeInfo, "master_host") === p.hostname &&
      info(homeInfo, "master_port") === (p.port || "6379");
    if (info(await promoted.info("replication"), "role") === "master") {
      if (!pointed) await home.call("REPLICAOF", p.hostname, p.port || "6379");
      await this.until(async () => {
        const i = await home.info("replication");
        return info(i, "master_link_status") === "up" && info(i, "master_sync_in_progress") === "0";
      }, "home Redis synced from the promoted replica");
      await promoted.call("CLIENT", "PAUSE", String(this.o.pauseMs ?? 5000), "WRITE");
      try {
        const target = Number(info(await promoted.info("replication"), "master_repl_offset"));
        await this.until(
          async () =>
            Number(info(await home.info("replication"), "slave_repl_offset") ?? -1) >= target,
          "home Redis caught up with the paused promoted replica",
        );
        await home.call("REPLICAOF", "NO", "ONE");
        await promoted.call("REPLICAOF", h.hostname, h.port || "6379");
      } finally {
        await promoted.call("CLIENT", "UNPAUSE").catch(() => {});
      }
    } else {
      // A previous pass swapped already; finish what may be missing.
      if (info(homeInfo, "role") !== "master") await home.call("REPLICAOF", "NO", "ONE");
    }
  }

  private async until(cond: () => Promise<boolean>, what: string): Promise<void> {
    const end = Date.now() + (this.o.syncTimeoutMs ?? 30_000);
    for (;;) {
      if (await cond().catch(() => false)) return;
      if (Date.now() > end)
        throw new Error(`${what}: not within ${this.o.syncTimeoutMs ?? 30_000} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async lagBytes(url: string): Promise<number | undefined> {
    try {
      const i = await (await this.ready(url)).info("replication");
      if (info(i, "role") !== "master" || Number(info(i, "connected_slaves") ?? 0) === 0)
        return undefined;
      const master = Number(info(i, "master_repl_offset"));
      const m = /^slave0:.*offset=(\d+)/m.exec(i);
      return m ? Math.max(0, master - Number(m[1])) : undefined;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    for (const c of this.clients.values()) c.disconnect();
    this.clients.clear();
  }
}
