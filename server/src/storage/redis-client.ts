/**
 * Builds the ioredis client behind `RedisStore` for one of three deployments — standalone,
 * Sentinel, Cluster — with the same failure policy everywhere: fail fast, never queue.
 *
 * - `enableOfflineQueue: false`: a command issued while there is no connection rejects at
 *   once instead of waiting in an unbounded queue for Redis to come back.
 * - `maxRetriesPerRequest: 0` and `autoResendUnfulfilledCommands: false`: commands in
 *   flight when the connection drops reject with it; their callers have already answered
 *   5xx, so replaying them later would only add load.
 * - a command that gets no reply (Redis stalled, packets dropped) rejects after
 *   `commandTimeoutMs` (`redisRunner`), but never while its reply is already in the socket:
 *   after an event-loop stall (a starved CPU, a long GC) timers run before pending reads, and
 *   ioredis's own `commandTimeout` (kept, at twice that, only to free stuck commands) would
 *   fail a command whose answer had arrived.
 * - the connection itself is re-established in the background (bounded back-off), so the
 *   same client works again once Redis is back, with no restart.
 * - auto-pipelining (unless turned off): commands issued in the same tick share one write.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { SCRIPTS, type StoreScripts } from "./redis-scripts.js";
import { StoreError } from "./store.js";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Connection options, plus the store's own (prefix, clock, health), read by `RedisStore`. */
interface CommonOptions {
  readonly username?: string;
  readonly password?: string;
  /** Prepended to every key; default `edition:`. */
  readonly keyPrefix?: string;
  /** A command without a reply after this long rejects; default 1000. */
  readonly commandTimeoutMs?: number;
  /** Bounds each connection attempt and `RedisStore.open`; default 2000. */
  readonly connectTimeoutMs?: number;
  /** How long `healthy()` waits for an answer; default 500. */
  readonly healthTimeoutMs?: number;
  /** A UAID record expires after this long without hello or register; default 60 days. */
  readonly uaidTtlSeconds?: number;
  /** Clock for pending-update expiry (epoch ms); default `Date.now`. */
  readonly now?: () => number;
  /** Connection-level errors (the client reconnects by itself); for the shell to log. */
  readonly onError?: (err: Error) => void;
  /**
   * ioredis auto-pipelining (default on): calls made in the same tick share one write,
   * which saves Redis CPU under load (Redis is shared by the region) but adds a little
   * client CPU and latency when calls come one at a time.
   */
  readonly autoPipelining?: boolean;
  /**
   * Saves and acks made while the previous batch waits for its reply go to Redis as one
   * script call (group commit, `redis-batch.ts`; default on). Standalone and Sentinel only:
   * ignored in a cluster.
   */
  readonly batching?: boolean;
  /** Called with the number of saves and acks in each batch sent (for a histogram). */
  readonly onBatch?: (operations: number) => void;
}

export type RedisStoreOptions = CommonOptions &
  (
    | { readonly mode: "standalone"; readonly url: string }
    | {
        readonly mode: "sentinel";
        readonly sentinels: readonly HostPort[];
        /** The master group name the sentinels monitor. */
        readonly sentinelName: string;
        readonly sentinelPassword?: string;
      }
    | { readonly mode: "cluster"; readonly nodes: readonly HostPort[] }
  );

const CLUSTER_RETRY_DELAY_MS = 20;

/** How long a command may wait for its reply: `commandTimeoutMs`, 1 s by default. */
function replyTimeoutMs(options: RedisStoreOptions): number {
  return options.commandTimeoutMs ?? 1000;
}

/** `runRedis` with a fixed reply timeout. */
export type RedisRun = <T>(call: () => Promise<T>) => Promise<T>;

/**
 * The way to call a client made by `createClient(options)`: every command through it gets
 * the reply timeout of `options` (ioredis's own timeout, at twice that, is only a backstop).
 */
export function redisRunner(options: RedisStoreOptions): RedisRun {
  const ms = replyTimeoutMs(options);
  return (call) => runRedis(call, ms);
}

/**
 * `reply`, or a StoreError once `ms` have passed and one more poll of the sockets has not
 * brought it: the timer firing late after a stall is not taken as Redis being late.
 */
function replyWithin<T>(reply: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      // The check phase comes after the poll phase: a reply already in the socket is read
      // (and settles this) first.
      setImmediate(() => {
        if (settled) return;
        settled = true;
        reject(new StoreError(`redis: no reply within ${ms} ms`));
      });
    }, ms);
    reply.then(
      (v) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** A connected client with the store's scripts defined on it. */
export type StoreClient = (Redis | Cluster) & StoreScripts;

/** Creates the client for `options.mode`; it starts connecting at once. */
export function createClient(options: RedisStoreOptions): StoreClient {
  const node: RedisOptions = {
    username: options.username,
    password: options.password,
    commandTimeout: 2 * replyTimeoutMs(options),
    connectTimeout: options.connectTimeoutMs ?? 2000,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // After a Sentinel failover the old master may come back as a replica; reconnecting
    // makes ioredis ask the sentinels for the current master.
    reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 1 : false),
  };
  let client: Redis | Cluster;
  if (options.mode === "cluster") {
    const cluster: ClusterOptions = {
      enableOfflineQueue: false,
      enableAutoPipelining: options.autoPipelining ?? true,
      scripts: SCRIPTS,
      slotsRefreshTimeout: node.commandTimeout,
      // A command whose master is down or migrating is retried up to `maxRedirections`
      // (16) times after these delays. ioredis's defaults (100 ms) make that 1.6 s of
      // waiting; a real failover takes seconds longer anyway, so fail fast instead.
      retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
      retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
      retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
      redisOptions: node,
    };
    client = new Cluster(
      options.nodes.map(({ host, port }) => ({ host, port })),
      cluster,
    );
  } else {
    const common: RedisOptions = {
      ...node,
      enableOfflineQueue: false,
      enableAutoPipelining: options.autoPipelining ?? true,
      scripts: SCRIPTS,
      retryStrategy: (times) => Math.min(times * 100, 1000),
    };
    client =
      options.mode === "standalone"
        ? new Redis(options.url, common)
        : new Redis({
            ...common,
            sentinels: options.sentinels.map(({ host, port }) => ({ host, port })),
            name: options.sentinelName,
            sentinelPassword: options.sentinelPassword,
            sentinelCommandTimeout: node.commandTimeout,
            // No `failoverDetector`: ioredis 5 sets it up asynchronously after connecting,
            // and a client closed meanwhile leaks its sentinel connections (and their
            // reconnect timers). Failovers are followed anyway: a sentinel disconnects the
            // clients of a demoted master, and READONLY triggers a reconnect (above), each
            // of which asks the sentinels for the current master.
          });
  }
  // Without a listener ioredis prints every connection error to the console.
  const onError = options.onError ?? (() => {});
  client.on("error", onError);
  // `SCRIPTS` above defines exactly the commands `StoreScripts` names.
  return client as StoreClient;
}

/** Resolves once `client` is ready; StoreError (with the last connection error) past `timeoutMs`. */
export function waitReady(client: StoreClient, timeoutMs: number): Promise<void> {
  if (client.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (err: Error) => {
      lastError = err;
    };
    const onReady = () => {
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      const why = lastError === undefined ? "" : `: ${lastError.message}`;
      reject(new StoreError(`redis not ready within ${timeoutMs} ms${why}`, { cause: lastError }));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      client.off("ready", onReady);
      client.off("error", onError);
    };
    client.on("ready", onReady);
    client.on("error", onError);
  });
}

/**
 * Runs one Redis call, turning any failure (even a synchronous throw) into StoreError.
 *
 * NOSCRIPT: the script did not run, because the server does not have it (an EVAL refused
 * while a cluster node rejoined leaves ioredis believing it does). ioredis usually re-sends
 * such a call as EVAL itself, but not on that path (cluster with auto-pipelining). It has now
 * forgotten the script for this connection, so one retry sends EVAL. Safe: nothing was applied.
 */
export async function runRedis<T>(call: () => Promise<T>, timeoutMs?: number): Promise<T> {
  const attempt = () => (timeoutMs === undefined ? call() : replyWithin(call(), timeoutMs));
  try {
    return await attempt();
  } catch (err) {
    if (err instanceof Error && err.message.startsWith("NOSCRIPT")) {
      try {
        return await attempt();
      } catch (again) {
        throw storeError(again);
      }
    }
    throw storeError(err);
  }
}

/**
 * Quits politely (replies to calls already made arrive first), then drops whatever is left
 * (a reconnect in progress). Never rejects.
 */
export async function closeClient(client: Redis | Cluster): Promise<void> {
  try {
    await client.quit();
  } catch {
    // Redis is unreachable: nothing to be polite to.
  } finally {
    client.disconnect();
  }
}

function storeError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreError(`redis: ${message}`, { cause: err });
}
