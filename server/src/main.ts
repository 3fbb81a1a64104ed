#!/usr/bin/env node
/**
 * Composition root: load config, pick adapters, wire narrow dependencies, start the
 * listeners, own shutdown. The only file that knows every part.
 *
 * - no EDITION_ETCD_ENDPOINTS: one self-contained node (memory presence and routing);
 * - with it: a cluster member (etcd registry, slot table, internal router);
 * - EDITION_REDIS_URL / sentinels: Redis store, else the in-memory store;
 * - EDITION_ROLE=balancer: only redirects first hellos to nodes with room.
 */
// First, before anything loads uWebSockets.js: refuse an unsupported Node with a clear message.
import "./node-version.js";
import { randomFillSync } from "node:crypto";
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { startBalancer } from "./balancer/balancer.js";
import { type Config, ConfigError, loadConfig, type RedisConfig, readRouterTls } from "./config.js";
import { Connections } from "./delivery/connections.js";
import { type DeliverDeps, deliverUpdate } from "./delivery/deliver.js";
import { stamps } from "./delivery/stamps.js";
import { deleteMessage, deliverPush } from "./delivery/webpush-deliver.js";
import { WebPushSide } from "./delivery/webpush-side.js";
import { foreignUpdates, forwardUpdate } from "./endpoint/forward.js";
import { randomTokenKey, TokenCodec } from "./endpoint/token.js";
import { WebPushTokens } from "./endpoint/webpush-token.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { Close } from "./protocol/errors.js";
import { mintUaid } from "./protocol/ids.js";
import { Adoption, closeAtRate } from "./routing/adoption.js";
import { ClusterRouting } from "./routing/cluster.js";
import { LocalDirectory } from "./routing/directory.js";
import { LocalRoute } from "./routing/local-route.js";
import { AdoptingStore } from "./storage/adopting-store.js";
import { MemoryStore } from "./storage/memory-store.js";
import type { MessageQueue } from "./storage/message-queue.js";
import { MemoryMessageQueue } from "./storage/message-queue-memory.js";
import { RedisMessageQueue } from "./storage/message-queue-redis.js";
import { RedisStore, type RedisStoreOptions } from "./storage/redis-store.js";
import type { MessageStore } from "./storage/store.js";
import { StoreLatency } from "./storage/store-latency.js";
import { timedQueue } from "./storage/timed-queue.js";
import { timedStore } from "./storage/timed-store.js";
import { attachAdmin } from "./transport/admin-http.js";
import { attachDemoPage, DEMO_PATH } from "./transport/demo-page.js";
import { attachEndpoint } from "./transport/endpoint-http.js";
import { IpLimits } from "./transport/ip-limits.js";
import {
  assertNativeUws,
  closeListener,
  listen,
  type us_listen_socket,
  uWS,
} from "./transport/uws.js";
import { attachWebPush } from "./transport/webpush-http.js";
import { attachWebSocket, type ClientSocket, uwsSocketOps } from "./transport/websocket.js";

/** How long a PUT forwarded to another region's endpoint may take before it is a 503. */
const FORWARD_TIMEOUT_MS = 5_000;

export interface RunningNode {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly publicUrl: string;
  /** Stops accepting, closes sockets at the configured rate with 1012, resolves when empty or at the deadline. */
  drain(): Promise<{ closed: number; leftAtDeadline: number }>;
}

const hostPort = (s: string) => {
  const i = s.lastIndexOf(":");
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
};

/**
 * Cluster seeds `host:port,…` or `redis://[user:password@]host:port,…`. A password in a seed
 * URL is used when EDITION_REDIS_PASSWORD is not set (it used to be parsed into the host
 * name and dropped, so a cluster with `requirepass` could not be reached).
 */
export function clusterSeeds(url: string): {
  nodes: { host: string; port: number }[];
  username: string | undefined;
  password: string | undefined;
} {
  let username: string | undefined;
  let password: string | undefined;
  const nodes = url
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
    .map((seed) => {
      if (!/^rediss?:\/\//.test(seed)) return hostPort(seed);
      const u = new URL(seed);
      if (u.password !== "") password ??= decodeURIComponent(u.password);
      if (u.username !== "") username ??= decodeURIComponent(u.username);
      return { host: u.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(u.port || 6379) };
    });
  return { nodes, username, password };
}

export function redisOptions(
  r: RedisConfig,
  log: Logger,
  uaidTtlSeconds: number,
  /** The store's batch sizes, for `edition_store_batch_operations`. */
  onBatch?: (operations: number) => void,
): RedisStoreOptions {
  const common = {
    password: r.password,
    keyPrefix: r.keyPrefix,
    uaidTtlSeconds,
    onBatch,
    onError: (err: Error) =>
      log.warn({ event: "redis_error", err: err.message }, "redis connection error"),
  };
  if (r.mode === "sentinel") {
    return {
      ...common,
      mode: "sentinel",
      sentinels: r.sentinels.map(hostPort),
      sentinelName: r.sentinelName!,
    };
  }
  if (r.mode === "cluster") {
    const seeds = clusterSeeds(r.url!);
    return {
      ...common,
      username: seeds.username,
      password: r.password ?? seeds.password,
      mode: "cluster",
      nodes: seeds.nodes,
    };
  }
  return { ...common, mode: "standalone", url: r.url! };
}

async function openStore(
  config: Config,
  log: Logger,
  onBatch: (operations: number) => void,
): Promise<MessageStore & { sweep?: (n: number) => number }> {
  const uaidTtlSeconds = config.limits.uaidTtlSeconds;
  if (config.redis === undefined) return new MemoryStore(Date.now, { uaidTtlSeconds });
  return RedisStore.open(
    redisOptions(config.redis, log, uaidTtlSeconds, onBatch),
    durabilityOf(config),
  );
}

const durabilityOf = (config: Config) =>
  config.durability.mode === "global"
    ? { confirmTimeoutMs: config.durability.timeoutMs }
    : undefined;

/** The Web Push queue beside the store: memory (asking the memory store for registrations) or Redis. */
async function openQueue(
  config: Config,
  log: Logger,
  store: MessageStore,
): Promise<MessageQueue & { sweep?: (n: number) => number }> {
  if (store instanceof MemoryStore)
    return new MemoryMessageQueue((uaid, channel) => store.registration(uaid, channel));
  return RedisMessageQueue.open(redisOptions(config.redis!, log, config.limits.uaidTtlSeconds));
}

/** uWS reads the PEM files itself and fails silently on a bad path: check them first. */
function publicApp(config: Config): ReturnType<typeof uWS.App> {
  if (config.tls === undefined) return uWS.App();
  for (const f of [config.tls.certFile, config.tls.keyFile]) readFileSync(f);
  return uWS.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile });
}

/**
 * Random bytes for UAIDs from a pool refilled by the CSPRNG 4 KiB at a time: one
 * `randomBytes(16)` per hello costs more than the rest of the UAID decision. Every byte is
 * handed out once.
 */
const RANDOM_POOL = Buffer.allocUnsafe(4096);
let randomAt = RANDOM_POOL.length;
function pooledRandom(n: number): Uint8Array {
  if (randomAt + n > RANDOM_POOL.length) {
    randomFillSync(RANDOM_POOL);
    randomAt = 0;
  }
  const out = Uint8Array.from(RANDOM_POOL.subarray(randomAt, randomAt + n));
  randomAt += n;
  return out;
}

export async function startNode(
  config: Config,
  log: Logger,
  registry: Registry,
  metrics: Metrics,
): Promise<RunningNode> {
  const onBatch = (operations: number) => metrics.storeBatchOperations.observe(operations);
  const rawStore = await openStore(config, log, onBatch);
  // Multi-region (docs/multi-region.md): other regions' replicas, adopted when they fail.
  let onHandback: (region: string) => void = () => {};
  const adoption = regionAdoption(config, log, (region) => onHandback(region), onBatch);
  const adopting = adoption ? new AdoptingStore(rawStore, adoption) : undefined;
  // Every store operation is timed into the histogram and into the shedding average.
  const storeLatency = new StoreLatency(config.shedStoreLatencyMs);
  // One observer per operation, made once: the store calls this on every PUT and ack.
  const observers = new Map<string, { observe(v: number): void }>();
  const storeSeconds = (op: string) => {
    let o = observers.get(op);
    if (o === undefined) {
      const h = metrics.bound.storeSeconds(op);
      o = {
        observe(v: number) {
          h.observe(v);
          storeLatency.observe(v);
        },
      };
      observers.set(op, o);
    }
    return o;
  };
  const store = timedStore(adopting ?? rawStore, storeSeconds);
  const queue = timedQueue(await openQueue(config, log, rawStore), storeSeconds);
  metrics.maxConnections.set(config.maxConnections);
  const keys = config.tokenKeys.length > 0 ? config.tokenKeys : [randomTokenKey()];
  if (config.tokenKeys.length === 0) {
    log.warn(
      { event: "ephemeral_token_key" },
      "EDITION_TOKEN_KEYS not set: endpoints minted now stop working when this process exits",
    );
  }
  const tokens = new TokenCodec(keys);
  const webpushTokens = new WebPushTokens(tokens);
  let endpointPrefix = "";
  let publicBase = "";
  /** The origin app servers name as VAPID `aud` (RFC 8292 §2). */
  let audience = "";
  let draining = false;

  // One direction only: the directory (socket-free) → the connections, which own the
  // sockets and announce to it → the route, which asks the directory where and hands
  // frames to the connections.
  const cluster =
    config.cluster === undefined
      ? undefined
      : new ClusterRouting({
          config: config.cluster,
          region: config.region,
          host: config.internalHost,
          capacity: config.maxConnections,
          log,
          metrics,
          storeOverloaded: () => storeLatency.overloaded(),
          routerTls:
            config.cluster.routerTls === undefined
              ? undefined
              : readRouterTls(config.cluster.routerTls),
        });
  const connections = new Connections<ClientSocket>({
    ops: uwsSocketOps,
    store,
    directory: cluster?.directory ?? new LocalDirectory(),
    tokens,
    metrics,
    log,
    limits: {
      pingMinIntervalMs: config.pingMinIntervalMs,
      pingBurst: config.pingBurst,
      maxChannels: config.maxChannels,
      json: { maxDigits: config.limits.maxJsonDigits, maxDepth: config.limits.maxJsonDepth },
      maxNotificationBytes: config.limits.maxNotificationBytes,
      helloTimeoutMs: config.limits.helloTimeoutSeconds * 1000,
      frameTimeoutMs: config.limits.frameTimeoutSeconds * 1000,
    },
    region: config.region,
    endpointPrefix: () => endpointPrefix,
    mintUaid: () => mintUaid(pooledRandom),
    now: Date.now,
    redirect: cluster ? () => cluster.redirect() : undefined,
    webpush: new WebPushSide({
      queue,
      tokens: webpushTokens,
      region: config.region,
      endpointPrefix: () => `${publicBase}/wpush/`,
      metrics,
      log,
      now: Date.now,
    }),
  });
  const conns = connections;
  onHandback = (region) =>
    void closeAtRate(
      () => conns.all(),
      (s) => adopting?.regionOf(uwsSocketOps.conn(s).uaid) === region,
      (s) => uwsSocketOps.close(s, Close.restart, "home region is back"),
      config.drainRate,
      config.drainDeadlineSeconds * 1000,
    );
  const route = cluster?.attach(conns) ?? new LocalRoute(conns, () => storeLatency.overloaded());

  const app = publicApp(config);
  const ipLimits = new IpLimits(config.limits);
  attachWebSocket(app, conns, metrics, {
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    maxBackpressureBytes: config.maxBackpressureBytes,
    admit: () => (draining ? "draining" : conns.size >= config.maxConnections ? "capacity" : "ok"),
    maxFrameBytes: config.limits.maxFrameBytes,
    ipLimits,
  });
  // Once a second: close sockets past their hello deadline or stuck mid-frame, forget idle
  // source addresses.
  const limitsTimer = setInterval(() => {
    conns.expireHellos(10_000);
    // Every socket visited about every 10 s, at most 100k per second.
    conns.expireStalled(Math.min(100_000, Math.max(1000, Math.ceil(conns.size / 10))));
    ipLimits.prune();
  }, 1000);
  limitsTimer.unref();
  const deliverDeps: DeliverDeps = {
    store,
    route,
    stamp: stamps(),
    tokens,
    metrics,
    log,
    region: config.region,
    pendingTtlSeconds: config.pendingTtlSeconds,
    nowSeconds: () => BigInt(Math.floor(Date.now() / 1000)),
    perfNow: () => performance.now(),
    foreign: adoption
      ? foreignUpdates({
          regions: adoption,
          deliverInto: (s, region, input) =>
            deliverUpdate({ ...deliverDeps, store: s, region, foreign: undefined }, input),
          timeoutMs: FORWARD_TIMEOUT_MS,
        })
      : undefined,
  };
  const webpushDeps = {
    queue,
    route,
    tokens: webpushTokens,
    metrics,
    log,
    region: config.region,
    bounds: config.webpushQueue,
    audience: () => audience,
    messagePrefix: () => `${publicBase}/m/`,
    now: Date.now,
    perfNow: () => performance.now(),
  };
  attachWebPush(
    app,
    {
      push: (input) => deliverPush(webpushDeps, input),
      remove: (token, id) => deleteMessage(webpushDeps, token, id),
    },
    metrics,
  );
  // Before the endpoint's catch-all 404, which would otherwise answer GET /demo.
  if (config.demoPage) attachDemoPage(app);
  attachEndpoint(app, (input) => endpointUpdate(adoption, deliverDeps, input), metrics, {
    corsOrigin: config.corsOrigin,
  });
  const pub = await listen(app, config.host, config.port);
  const localHost = config.host === "0.0.0.0" ? "localhost" : config.host;
  const scheme = config.tls === undefined ? "" : "s";
  const publicUrl = config.publicUrl ?? `http${scheme}://${localHost}:${pub.port}`;
  endpointPrefix = `${publicUrl}/update/`;
  publicBase = publicUrl;
  audience = new URL(publicUrl).origin;
  adoption?.start();
  const routerPort = cluster
    ? (await cluster.start(`ws${scheme}://${localHost}:${pub.port}`)).routerPort
    : undefined;

  let admin: { socket: us_listen_socket; port: number } | undefined;
  if (config.metricsPort >= 0) {
    const adminApp = uWS.App();
    attachAdmin(adminApp, {
      registry,
      ready: async () => {
        if (draining) return { ready: false, reason: "draining" };
        if (cluster && !cluster.ready())
          return { ready: false, reason: "not in the slot table yet" };
        return (await store.healthy())
          ? { ready: true }
          : { ready: false, reason: "store unreachable" };
      },
    });
    // Internal: the pod IP or loopback (EDITION_INTERNAL_HOST), not the public wildcard.
    admin = await listen(adminApp, config.internalHost, config.metricsPort);
  }

  // Expired updates, messages and UAID records; small batches often, so no sweep blocks for long.
  const records = () => (rawStore instanceof MemoryStore ? rawStore.size : 0);
  const sweep = store.sweep
    ? setInterval(() => {
        store.sweep?.(5_000);
        queue.sweep?.(5_000);
        metrics.storeRecords.set(records());
      }, 1_000)
    : undefined;
  sweep?.unref();
  const probeStore = () => store.healthy().then((ok) => metrics.storeUp.set(ok ? 1 : 0));
  void probeStore();
  const storeProbe = setInterval(probeStore, 5_000);
  storeProbe.unref();

  log.info(
    {
      event: "listening",
      port: pub.port,
      metricsPort: admin?.port,
      routerPort,
      nodeId: config.cluster?.nodeId,
      publicUrl,
      demoPage: config.demoPage ? `${publicUrl}${DEMO_PATH}` : undefined,
      region: config.region,
      store: config.redis ? `redis-${config.redis.mode}` : "memory",
      tls: config.tls !== undefined,
      routing: cluster ? "etcd" : "memory",
    },
    "push node ready",
  );

  return {
    port: pub.port,
    metricsPort: admin?.port,
    publicUrl,
    async drain() {
      draining = true;
      metrics.draining.set(1);
      closeListener(pub.socket);
      // Slots move away first, so the sockets we close re-announce to their new owners.
      cluster?.drain();
      const deadline = Date.now() + config.drainDeadlineSeconds * 1000;
      const tickMs = 100;
      const startedAt = Date.now();
      let closed = 0;
      log.info(
        { event: "drain_started", connections: conns.size, rate: config.drainRate },
        "draining",
      );
      while (conns.size > 0 && Date.now() < deadline) {
        // A budget that grows with elapsed time (one tick ahead), not a fixed count per
        // tick: a per-tick minimum of one closed 10/s whatever the rate, and timer drift
        // made large rates slower than configured.
        const budget =
          Math.ceil(((Date.now() - startedAt + tickMs) * config.drainRate) / 1000) - closed;
        let n = 0;
        for (const s of conns.all()) {
          if (n++ >= budget) break;
          uwsSocketOps.close(s, Close.restart, "draining");
          closed++;
        }
        if (conns.size > 0) await new Promise((r) => setTimeout(r, tickMs));
      }
      const left = conns.size;
      for (const s of [...conns.all()]) uwsSocketOps.close(s, Close.restart, "draining");
      if (sweep) clearInterval(sweep);
      clearInterval(storeProbe);
      clearInterval(limitsTimer);
      await cluster?.close();
      await adoption?.close();
      if (admin) closeListener(admin.socket);
      await store.close();
      await queue.close();
      log.info({ event: "drain_finished", closed, leftAtDeadline: left }, "drained");
      return { closed, leftAtDeadline: left };
    },
  };
}

/**
 * A PUT to this node: while this region is adopted by another (failed over, our Redis not
 * handed back yet), it is forwarded to the adopter, which serves our data meanwhile.
 */
function endpointUpdate(
  adoption: Adoption | undefined,
  deps: DeliverDeps,
  input: Parameters<typeof deliverUpdate>[1],
): ReturnType<typeof deliverUpdate> {
  const away = adoption?.adoptedElsewhere();
  return away === undefined
    ? deliverUpdate(deps, input)
    : forwardUpdate(away, input, FORWARD_TIMEOUT_MS);
}

/** With etcd and Redis: the other regions' records and replicas; otherwise none. */
function regionAdoption(
  config: Config,
  log: Logger,
  handedBack: (region: string) => void,
  onBatch: (operations: number) => void,
): Adoption | undefined {
  const { cluster, redis } = config;
  if (cluster === undefined || redis === undefined || redis.mode === "cluster") return undefined;
  return new Adoption({
    region: config.region,
    etcdEndpoints: cluster.etcdEndpoints,
    etcdPrefix: cluster.etcdPrefix,
    log,
    handedBack,
    openStore: (url) =>
      RedisStore.open(
        redisOptions(
          { ...redis, mode: "standalone", url },
          log,
          config.limits.uaidTtlSeconds,
          onBatch,
        ),
        durabilityOf(config),
      ),
  });
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`edition: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const registry = new Registry();
  const metrics = createMetrics(registry);
  metrics.info.labels(config.region, config.cluster?.nodeId ?? "", config.role).set(1);
  let stopNow: () => Promise<unknown>;
  try {
    assertNativeUws();
    if (config.role === "balancer") {
      const b = await startBalancer(config, log, registry, metrics);
      stopNow = () => b.stop();
    } else {
      const node = await startNode(config, log, registry, metrics);
      stopNow = () => node.drain();
    }
  } catch (err) {
    log.fatal({ event: "start_failed", err: String(err) }, "cannot start");
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: "signal", signal }, "shutting down");
    // A hard stop one second after the deadline, whatever is still pending.
    setTimeout(() => process.exit(1), (config.drainDeadlineSeconds + 2) * 1000).unref();
    stopNow().then(
      () => process.exit(0),
      (err) => {
        log.error({ event: "drain_failed", err: String(err) }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main();
