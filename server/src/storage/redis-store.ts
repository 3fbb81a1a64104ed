/**
 * The Redis adapter of `MessageStore`, for nodes that share storage (one Redis per region):
 * standalone, Sentinel or Cluster, through ioredis. Key layout: `redis-schema.ts`; scripts:
 * `redis-scripts.ts`; connection and failure policy: `redis-client.ts`.
 *
 * Every operation is one round trip (a single command or a Lua script on the UAID's slot;
 * on a single Redis, saves and acks share one script call with others, `redis-batch.ts`),
 * and every failure — Redis down, stalled, failing over, or this store closed — rejects
 * with `StoreError`, fast: nothing waits for Redis to come back. The client reconnects in
 * the background, so the same store works again once Redis does.
 *
 * Arguments are trusted (normalised ids, see `store.ts`); a version outside u64 or a
 * non-finite TTL is a caller bug and rejects with RangeError, not StoreError.
 *
 * Durability is Redis's: "stored" means the master applied it. Surviving a Redis crash
 * needs `appendonly yes` with `appendfsync always` (with `everysec`, Redis may answer before
 * the write reaches the file and a crash then loses up to about a second of updates);
 * surviving a failover needs the write to have reached the promoted replica, which `global`
 * durability (`replication.ts`) waits for before a PUT's "stored".
 */
import { Cluster } from "ioredis";
import { RedisBatch } from "./redis-batch.js";
import {
  closeClient,
  createClient,
  type RedisRun,
  type RedisStoreOptions,
  redisRunner,
  type StoreClient,
  waitReady,
} from "./redis-client.js";
import { decodePending, encodePending, keysOf, versionString } from "./redis-schema.js";
import { ConfirmedWrites } from "./replication.js";
import {
  type AckUpdate,
  type MessageStore,
  type PendingUpdate,
  type RegisterOutcome,
  type SaveOutcome,
  StoreError,
} from "./store.js";

/** Fields per HSCAN page of a flush, and pages at most (bounds one flush's reads). */
const PENDING_PAGE = 500;
const MAX_PENDING_PAGES = 2000;

export type { HostPort, RedisStoreOptions } from "./redis-client.js";

export class RedisStore implements MessageStore {
  /**
   * Connects and resolves once Redis answers. Rejects with StoreError if it does not
   * within `connectTimeoutMs` (the client is then closed: nothing keeps retrying).
   */
  static async open(
    options: RedisStoreOptions,
    durability?: { readonly confirmTimeoutMs: number },
  ): Promise<RedisStore> {
    const client = createClient(options);
    const confirmed =
      durability === undefined
        ? undefined
        : ConfirmedWrites.open(options, durability.confirmTimeoutMs);
    try {
      await waitReady(client, options.connectTimeoutMs ?? 2000);
      if (confirmed) {
        await waitReady(confirmed.client, options.connectTimeoutMs ?? 2000);
        // Known replicas from the first PUT on, not half a second later.
        await confirmed.refresh();
      }
    } catch (err) {
      client.disconnect();
      confirmed?.client.disconnect();
      await confirmed?.close();
      throw err;
    }
    return new RedisStore(
      client,
      options.keyPrefix ?? "edition:",
      options.now ?? Date.now,
      options.healthTimeoutMs ?? 500,
      Math.ceil((options.uaidTtlSeconds ?? 60 * 24 * 3600) * 1000),
      redisRunner(options),
      confirmed,
      options.batching ?? true,
      options.onBatch,
    );
  }

  /**
   * Saves and acks collected while the previous batch waits for its reply and sent as one
   * script call (`redis-batch.ts`); absent in a Redis Cluster, where one script can't span
   * UAIDs.
   */
  private readonly batch: RedisBatch | undefined;

  private constructor(
    private readonly client: StoreClient,
    private readonly prefix: string,
    private readonly now: () => number,
    private readonly healthTimeoutMs: number,
    private readonly ttlMs: number,
    private readonly run: RedisRun,
    /** `global` durability: PUTs are written there and confirmed by a remote replica. */
    private readonly confirmed: ConfirmedWrites | undefined,
    batching: boolean,
    onBatch: ((operations: number) => void) | undefined,
  ) {
    this.batch =
      batching && !(client instanceof Cluster)
        ? new RedisBatch(
            (n, keysThenArgs) => this.run(() => client.editionBatch(n, ...keysThenArgs)),
            { onSend: onBatch },
          )
        : undefined;
  }

  /**
   * Runs a command that is not batched, after sending what the batch holds: commands reach
   * Redis in the order they were issued.
   */
  private direct<T>(call: () => Promise<T>): Promise<T> {
    this.batch?.flush();
    return this.run(call);
  }

  /**
   * Whether a record exists for `uaid`, without touching it: a read, so it works on a
   * read-only replica (used to recognise another region's UAIDs, docs/multi-region.md).
   */
  async knows(uaid: string): Promise<boolean> {
    const k = keysOf(this.prefix, uaid);
    return (await this.direct(() => this.client.exists(k.registrations))) === 1;
  }

  /**
   * Whether a record exists for `uaid` (created by `addUser` or `register`); restarts its
   * expiry. One command: PEXPIRE answers 1 exactly when the key exists.
   */
  async hasUser(uaid: string): Promise<boolean> {
    const k = keysOf(this.prefix, uaid);
    return (await this.direct(() => this.client.pexpire(k.registrations, this.ttlMs))) === 1;
  }

  /** Creates the record for `uaid` (zero channels) if absent; an existing one is kept. */
  async addUser(uaid: string): Promise<void> {
    const k = keysOf(this.prefix, uaid);
    await this.direct(() => this.client.editionAddUser(k.registrations, k.pending, this.ttlMs));
  }

  /** Removes `uaid`'s registrations and pending updates in one command (same slot). */
  async dropUser(uaid: string): Promise<void> {
    const k = keysOf(this.prefix, uaid);
    await this.direct(() => this.client.del(k.registrations, k.pending));
  }

  /** Registers `channel` (idempotent, bounded by `maxChannels`), creating the UAID record if absent. */
  async register(uaid: string, channel: string, maxChannels = Infinity): Promise<RegisterOutcome> {
    const k = keysOf(this.prefix, uaid);
    const max = Number.isFinite(maxChannels) ? maxChannels : Number.MAX_SAFE_INTEGER;
    const r = await this.direct(() =>
      this.client.editionRegister(k.registrations, channel, max, this.ttlMs),
    );
    if (r === "registered" || r === "full") return r;
    throw new StoreError(`redis: unexpected register reply ${JSON.stringify(r)}`);
  }

  /** Removes the registration and any pending update of `channel`, atomically (idempotent). */
  async unregister(uaid: string, channel: string): Promise<void> {
    const k = keysOf(this.prefix, uaid);
    await this.direct(() => this.client.editionUnregister(k.registrations, k.pending, channel));
  }

  /** Number of channels registered for `uaid` (0 when unknown). */
  async channelCount(uaid: string): Promise<number> {
    const k = keysOf(this.prefix, uaid);
    const fields = await this.direct(() => this.client.hlen(k.registrations));
    return Math.max(0, fields - 1); // minus the marker
  }

  /**
   * Checks the registration and stores the update in one atomic script, replacing any
   * pending one for the channel: "stored" once the master has it, else "unregistered"
   * (UAID known, channel not) or "gone" (UAID unknown), with nothing written.
   */
  async savePending(
    uaid: string,
    channel: string,
    channelID: string,
    version: bigint,
    ttlSeconds: number,
    stamp?: string,
  ): Promise<SaveOutcome> {
    if (!Number.isFinite(ttlSeconds)) throw new RangeError(`ttlSeconds not finite: ${ttlSeconds}`);
    const k = keysOf(this.prefix, uaid);
    const ttlMs = Math.max(0, Math.ceil(ttlSeconds * 1000));
    const value = encodePending(this.now() + ttlMs, version, channelID, stamp);
    const confirmed = this.confirmed;
    const outcome = confirmed
      ? await this.run(() =>
          confirmed.client.editionSavePending(k.registrations, k.pending, channel, value, ttlMs),
        )
      : this.batch
        ? await this.batch.save(k, channel, value, ttlMs)
        : await this.run(() =>
            this.client.editionSavePending(k.registrations, k.pending, channel, value, ttlMs),
          );
    // `global`: stored is only reported once a replica in another region has it.
    if (outcome === "stored") await this.confirmed?.confirm();
    if (outcome === "stored" || outcome === "unregistered" || outcome === "gone") return outcome;
    throw new StoreError(`redis: unexpected savePending reply ${JSON.stringify(outcome)}`);
  }

  /**
   * Every unexpired pending update of `uaid`, read in HSCAN pages of about `PENDING_PAGE`
   * (HSCAN may return a field twice: kept once); expired ones are deleted on the way.
   */
  async pending(uaid: string): Promise<PendingUpdate[]> {
    const k = keysOf(this.prefix, uaid);
    const byChannel = new Map<string, string>();
    let cursor = "0";
    for (let page = 0; page < MAX_PENDING_PAGES; page++) {
      const c = cursor;
      const r = await this.direct(() =>
        this.client.editionPendingPage(k.pending, this.now(), c, PENDING_PAGE),
      );
      for (let i = 1; i + 1 < r.length; i += 2) byChannel.set(r[i]!, r[i + 1]!);
      cursor = r[0]!;
      if (cursor === "0") break;
    }
    return [...byChannel.values()].map(decodePending);
  }

  /**
   * Deletes each pending update whose version ≤ the acked version, in one atomic script;
   * a newer update saved meanwhile survives. Applied on the master when it resolves.
   */
  async ack(uaid: string, updates: readonly AckUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const k = keysOf(this.prefix, uaid);
    const args: string[] = [];
    for (const u of updates) args.push(u.channel, versionString(u.version));
    if (this.batch) await this.batch.ack(k, args);
    else await this.run(() => this.client.editionAck(k.pending, ...args));
  }

  /**
   * Whether Redis answers within `healthTimeoutMs`: PING, or in a cluster CLUSTER INFO
   * saying `cluster_state:ok` (a cluster missing a master answers PING but serves no
   * UAID in the missing slots). Never rejects.
   */
  async healthy(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.healthTimeoutMs);
    });
    try {
      const answer =
        this.client instanceof Cluster
          ? this.client.cluster("INFO").then((info) => info.includes("cluster_state:ok"))
          : this.client.ping().then((r) => r === "PONG");
      return await Promise.race([answer, late]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Quits politely (replies to calls already made arrive first), then drops whatever is
   * left (a reconnect in progress). Never rejects; later calls reject with StoreError.
   */
  async close(): Promise<void> {
    this.batch?.flush();
    await Promise.all([closeClient(this.client), this.confirmed?.close()]);
  }
}
