/**
 * `global` durability (docs/multi-region.md): a PUT is answered 2xx only once a replica in
 * another region has the update. Redis's own replication carries it; `WAIT 1 <timeout>`
 * after the write tells us when the replica acknowledged the write's offset.
 *
 * - The writes that need confirming go through their own connection: `WAIT` blocks the
 *   connection it runs on, and hellos, flushes and acks must not queue behind it.
 * - The replica count is polled (`INFO replication`, twice a second): with no replica
 *   connected a `WAIT` can only time out, and on one connection those timeouts would be
 *   served one after another; so the write is answered at once as not replicated.
 * - Not replicated in time is `ReplicationTimeout` (a `StoreError`): the caller answers 503
 *   with Retry-After. The update stays stored locally and may still be delivered: a 503 from
 *   a `global` cluster means "not confirmed", not "discarded".
 */
import {
  closeClient,
  createClient,
  type RedisRun,
  type RedisStoreOptions,
  redisRunner,
  type StoreClient,
} from "./redis-client.js";
import { StoreError } from "./store.js";

/** The write was applied locally but no replica confirmed it within the timeout. */
export class ReplicationTimeout extends StoreError {
  override readonly name = "ReplicationTimeout";
  override readonly code = "NOT_CONFIRMED";
  readonly replication = true;
}

const POLL_MS = 500;

/** Replicas (in other regions) that must confirm a write; the cluster-wide setting is 1. */
const REPLICAS = 1;

export class ConfirmedWrites {
  private connected = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly client: StoreClient,
    private readonly timeoutMs: number,
    private readonly run: RedisRun,
  ) {
    this.timer = setInterval(() => void this.refresh(), POLL_MS);
    this.timer.unref();
  }

  /** A dedicated client with a command timeout past the WAIT timeout. */
  static open(options: RedisStoreOptions, timeoutMs: number): ConfirmedWrites {
    const own = { ...options, commandTimeoutMs: timeoutMs + 1000 };
    return new ConfirmedWrites(createClient(own), timeoutMs, redisRunner(own));
  }

  /** Replicas the primary reported connected at the last poll. */
  get replicas(): number {
    return this.connected;
  }

  /**
   * Resolves once `REPLICAS` replica(s) acknowledged everything written on `client` so
   * far; rejects with ReplicationTimeout otherwise (the write itself stays applied).
   */
  async confirm(): Promise<void> {
    let acked = 0;
    if (this.connected >= REPLICAS) {
      try {
        acked = await this.run(() => this.client.wait(REPLICAS, this.timeoutMs));
      } catch (err) {
        throw new ReplicationTimeout(`redis: WAIT failed: ${String(err)}`, { cause: err });
      }
    }
    if (acked < REPLICAS)
      throw new ReplicationTimeout(
        `redis: stored locally, not confirmed by a replica in another region within ${this.timeoutMs} ms (${this.connected} connected)`,
      );
  }

  /** Reads the connected replica count now (also done twice a second). */
  async refresh(): Promise<void> {
    try {
      const info = await this.run(() => this.client.info("replication"));
      const m = /connected_slaves:(\d+)/.exec(info);
      this.connected = m ? Number(m[1]) : 0;
    } catch {
      this.connected = 0;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await closeClient(this.client);
  }
}
