/**
 * The only reader of `process.env`'s contents: `loadConfig(env)` validates every
 * `EDITION_*` setting, reports every problem at once, and returns one frozen typed object.
 * Defaults give a self-contained node: memory storage and routing, public port 8080.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { createSecureContext } from "node:tls";
import type { TokenKey } from "./endpoint/token.js";

export interface Config {
  /** `node` serves clients; `balancer` only answers hello with a redirect to a node with room. */
  readonly role: "node" | "balancer";
  readonly host: string;
  /** Public listener: WebSocket and app-server endpoint. 0 = any free port. */
  readonly port: number;
  /** Prometheus metrics, /health and /ready. 0 = any free port; -1 = disabled. */
  readonly metricsPort: number;
  /** Base of endpoint URLs; undefined = `http://<host or localhost>:<bound port>`. */
  readonly publicUrl: string | undefined;
  readonly region: string;
  /** First one mints; empty = one random key made at start-up (endpoints die with the process). */
  readonly tokenKeys: readonly TokenKey[];
  readonly maxChannels: number;
  /** Abuse bounds (docs/limits.md). */
  readonly limits: LimitsConfig;
  /** Where /metrics and the internal router listen: the pod IP or loopback, never a wildcard by default. */
  readonly internalHost: string;
  readonly pingMinIntervalMs: number;
  readonly pingBurst: number;
  readonly pendingTtlSeconds: number;
  /** PUTs are shed (503 + Retry-After) while store operations average this slow (0: never). */
  readonly shedStoreLatencyMs: number;
  readonly idleTimeoutSeconds: number;
  readonly maxBackpressureBytes: number;
  /** Sockets this node holds at most; upgrades past it are refused with 503. */
  readonly maxConnections: number;
  readonly drainDeadlineSeconds: number;
  /** Sockets closed per second while draining. */
  readonly drainRate: number;
  /** CORS `Access-Control-Allow-Origin` for the endpoint; undefined = CORS off. */
  readonly corsOrigin: string | undefined;
  /** Serve the browser demo client at `/demo` (docs: README "Your first notification"). */
  readonly demoPage: boolean;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Cluster settings; `undefined` (no EDITION_ETCD_ENDPOINTS) = one self-contained node. */
  readonly cluster: ClusterConfig | undefined;
  /** Redis store; `undefined` (no EDITION_REDIS_URL / sentinels) = in-memory store. */
  readonly redis: RedisConfig | undefined;
  /** PEM files: the public listener serves wss:// and https:// itself; undefined = plain. */
  readonly tls: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** Web Push messages pending per UAID at most (count, and payload bytes). */
  readonly webpushQueue: { readonly maxMessages: number; readonly maxBytes: number };
  /**
   * When a PUT is answered 2xx (docs/multi-region.md): `region` after the local Redis
   * applied it; `global` only once a replica in another region has it too (`WAIT`), a
   * 503 + Retry-After past `timeoutMs` (the update is kept locally and may still arrive).
   */
  readonly durability: { readonly mode: "region" | "global"; readonly timeoutMs: number };
}

/** Bounds against bad input and abuse; each has a safe default (docs/limits.md). */
export interface LimitsConfig {
  /** Text frames larger than this are refused with close 1009 (docs/protocol.md: at least 256 KiB; default 512 KiB). */
  readonly maxFrameBytes: number;
  /** Integer literals longer than this many characters make a frame invalid (close 1003). */
  readonly maxJsonDigits: number;
  /** Arrays/objects nested deeper than this make a frame invalid (close 1003). */
  readonly maxJsonDepth: number;
  /** A socket that has not said hello after this long is closed (4408). */
  readonly helloTimeoutSeconds: number;
  /**
   * A socket that completed no frame (message, ping or pong) for this long is closed (4408):
   * a frame kept half-sent by trickling bytes. Idle clients answer the server's pings, so
   * it must exceed the idle timeout; default 2 × idle timeout + 30 s.
   */
  readonly frameTimeoutSeconds: number;
  /** Open sockets per source IP (IPv6: per /64); 0 = no limit. Upgrades past it get 429. */
  readonly maxConnectionsPerIp: number;
  /** WebSocket upgrades per second per source IP (token bucket; burst = 2 s worth); 0 = no limit. */
  readonly handshakesPerIpPerSecond: number;
  /** A notification flushed at hello is cut into frames of at most this many bytes. */
  readonly maxNotificationBytes: number;
  /** A UAID (with its channels) not seen (hello, register, PUT) for this long is deleted. */
  readonly uaidTtlSeconds: number;
}

export interface ClusterConfig {
  /** Stable id of this node in its region (the pod name under Kubernetes). */
  readonly nodeId: string;
  readonly etcdEndpoints: readonly string[];
  readonly etcdPrefix: string;
  readonly leaseTtlSeconds: number;
  readonly slots: number;
  readonly routerPort: number;
  /** host:port other nodes use to reach this node's router; default `<host>:<bound port>`. */
  readonly routerUrl: string | undefined;
  /** ws:// URL clients are redirected to for this node; default `ws://<host>:<bound port>`. */
  readonly advertiseWsUrl: string | undefined;
  readonly clusterSecret: string;
  /** Percent of capacity above which a node redirects first hellos elsewhere. */
  readonly redirectThresholdPercent: number;
  /** Member record refresh interval (connection count), ms. */
  readonly memberRefreshMs: number;
  /** Where the operator's region-state ConfigMap is mounted (fallback to etcd). */
  readonly regionStateDir: string;
  /** PUTs are shed (503 + Retry-After) while a router queue to a peer is this deep. */
  readonly shedRouterDepth: number;
  /** UAID → holder entries the endpoint remembers for one-hop PUTs (0: off). */
  readonly holderCacheSize: number;
  /**
   * TLS for the internal router (PEM file paths, read at start-up by `readRouterTls`): every
   * node presents `certFile` and accepts only peers whose certificate `caFile` signed.
   */
  readonly routerTls: RouterTlsFiles | undefined;
}

export interface RouterTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface RedisConfig {
  readonly mode: "standalone" | "sentinel" | "cluster";
  /** redis:// or rediss:// URL (standalone), or the seed node list (cluster, comma-separated). */
  readonly url: string | undefined;
  readonly sentinels: readonly string[];
  readonly sentinelName: string | undefined;
  readonly password: string | undefined;
  readonly keyPrefix: string;
}

/** Its code is in `errors/catalogue.ts` (exit status 2, every problem on stderr). */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "CONFIG_INVALID";
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Settings that only a cluster member reads: set without etcd, they are a mistake. */
const CLUSTER_ONLY = [
  "EDITION_NODE_ID",
  "EDITION_ETCD_PREFIX",
  "EDITION_LEASE_TTL_SECONDS",
  "EDITION_SLOTS",
  "EDITION_ROUTER_PORT",
  "EDITION_ROUTER_URL",
  "EDITION_ADVERTISE_WS_URL",
  "EDITION_CLUSTER_SECRET",
  "EDITION_REDIRECT_THRESHOLD_PERCENT",
  "EDITION_MEMBER_REFRESH_MS",
  "EDITION_REGION_STATE_DIR",
  "EDITION_SHED_ROUTER_DEPTH",
  "EDITION_HOLDER_CACHE_SIZE",
  "EDITION_ROUTER_TLS_CERT",
  "EDITION_ROUTER_TLS_KEY",
  "EDITION_ROUTER_TLS_CA",
];

const KNOWN = new Set([
  "EDITION_ROLE",
  "EDITION_SHED_STORE_LATENCY_MS",
  "EDITION_HOST",
  "EDITION_PORT",
  "EDITION_METRICS_PORT",
  "EDITION_PUBLIC_URL",
  "EDITION_REGION",
  "EDITION_TOKEN_KEYS",
  "EDITION_MAX_CHANNELS",
  "EDITION_MAX_FRAME_BYTES",
  "EDITION_MAX_JSON_DIGITS",
  "EDITION_MAX_JSON_DEPTH",
  "EDITION_HELLO_TIMEOUT_SECONDS",
  "EDITION_FRAME_TIMEOUT_SECONDS",
  "EDITION_MAX_CONNECTIONS_PER_IP",
  "EDITION_HANDSHAKES_PER_IP_PER_SECOND",
  "EDITION_MAX_NOTIFICATION_BYTES",
  "EDITION_UAID_TTL_SECONDS",
  "EDITION_INTERNAL_HOST",
  "EDITION_PING_MIN_INTERVAL_MS",
  "EDITION_PING_BURST",
  "EDITION_PENDING_TTL_SECONDS",
  "EDITION_IDLE_TIMEOUT_SECONDS",
  "EDITION_MAX_BACKPRESSURE_BYTES",
  "EDITION_MAX_CONNECTIONS",
  "EDITION_DRAIN_DEADLINE_SECONDS",
  "EDITION_DRAIN_RATE",
  "EDITION_CORS_ORIGIN",
  "EDITION_DEMO_PAGE",
  "EDITION_LOG_LEVEL",
  "EDITION_ETCD_ENDPOINTS",
  ...CLUSTER_ONLY,
  "EDITION_REDIS_URL",
  "EDITION_REDIS_MODE",
  "EDITION_REDIS_SENTINELS",
  "EDITION_REDIS_SENTINEL_NAME",
  "EDITION_REDIS_PASSWORD",
  "EDITION_REDIS_KEY_PREFIX",
  "EDITION_TLS_CERT",
  "EDITION_TLS_KEY",
  "EDITION_WEBPUSH_MAX_MESSAGES",
  "EDITION_WEBPUSH_MAX_BYTES",
  "EDITION_DURABILITY",
  "EDITION_DURABILITY_TIMEOUT_MS",
]);

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith("EDITION_") && !KNOWN.has(name)) problems.push(`${name}: unknown setting`);
  }
  const str = (name: string, def: string): string => {
    const v = env[name];
    return v === undefined || v === "" ? def : v;
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = env[name];
    if (v === undefined || v === "") return def;
    if (!/^-?[0-9]+$/.test(v.trim())) {
      problems.push(`${name}: "${v}" is not an integer`);
      return def;
    }
    const n = Number(v);
    if (n < min || n > max) {
      problems.push(`${name}: ${n} is outside ${min}..${max}`);
      return def;
    }
    return n;
  };

  const flag = (name: string, def: boolean): boolean => {
    const v = env[name];
    if (v === undefined || v === "") return def;
    if (v === "1" || v === "true") return true;
    if (v === "0" || v === "false") return false;
    problems.push(`${name}: "${v}" is not one of: 1, 0, true, false`);
    return def;
  };

  const role = str("EDITION_ROLE", "node");
  if (role !== "node" && role !== "balancer") {
    problems.push(`EDITION_ROLE: "${role}" is not one of: node, balancer`);
  }
  const logLevel = str("EDITION_LOG_LEVEL", "info");
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`EDITION_LOG_LEVEL: "${logLevel}" is not one of: ${LOG_LEVELS.join(", ")}`);
  }
  const region = str("EDITION_REGION", "local");
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(region)) {
    problems.push(`EDITION_REGION: "${region}" must be a DNS label (a-z, 0-9, -; at most 63)`);
  }
  const publicUrl = env.EDITION_PUBLIC_URL || undefined;
  if (publicUrl !== undefined) {
    try {
      const u = new URL(publicUrl);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
      // Endpoints are `<public URL>/update/<token>`: a query or fragment would swallow the path.
      if (/[?#]/.test(publicUrl)) {
        problems.push(`EDITION_PUBLIC_URL: "${publicUrl}" must not have a query or fragment`);
      }
    } catch {
      problems.push(`EDITION_PUBLIC_URL: "${publicUrl}" is not an http(s) URL`);
    }
  }

  const host = str("EDITION_HOST", "0.0.0.0");
  const wildcard = host === "0.0.0.0" || host === "::";
  const internalHost = str("EDITION_INTERNAL_HOST", wildcard ? "127.0.0.1" : host);
  const config: Mutable<Config> = {
    role: role === "balancer" ? "balancer" : "node",
    host,
    internalHost,
    port: int("EDITION_PORT", 8080, 0, 65535),
    metricsPort: int("EDITION_METRICS_PORT", 9464, -1, 65535),
    publicUrl: publicUrl?.replace(/\/+$/, ""),
    region,
    tokenKeys: parseTokenKeys(env.EDITION_TOKEN_KEYS, problems),
    maxChannels: int("EDITION_MAX_CHANNELS", 1000, 1, 1_000_000),
    limits: Object.freeze({
      maxFrameBytes: int("EDITION_MAX_FRAME_BYTES", 512 * 1024, 4096, 16 * 1024 * 1024),
      maxJsonDigits: int("EDITION_MAX_JSON_DIGITS", 40, 20, 10_000),
      maxJsonDepth: int("EDITION_MAX_JSON_DEPTH", 32, 4, 10_000),
      helloTimeoutSeconds: int("EDITION_HELLO_TIMEOUT_SECONDS", 10, 1, 3600),
      frameTimeoutSeconds: 0, // set below, from the idle timeout
      maxConnectionsPerIp: int("EDITION_MAX_CONNECTIONS_PER_IP", 50_000, 0, 100_000_000),
      handshakesPerIpPerSecond: int("EDITION_HANDSHAKES_PER_IP_PER_SECOND", 1000, 0, 1_000_000),
      maxNotificationBytes: int(
        "EDITION_MAX_NOTIFICATION_BYTES",
        32 * 1024,
        1024,
        16 * 1024 * 1024,
      ),
      uaidTtlSeconds: int("EDITION_UAID_TTL_SECONDS", 60 * 24 * 3600, 1, 10 * 365 * 24 * 3600),
    }),
    pingMinIntervalMs: int("EDITION_PING_MIN_INTERVAL_MS", 1000, 0, 3_600_000),
    pingBurst: int("EDITION_PING_BURST", 5, 1, 1000),
    pendingTtlSeconds: int("EDITION_PENDING_TTL_SECONDS", 3 * 24 * 3600, 1, 365 * 24 * 3600),
    shedStoreLatencyMs: int("EDITION_SHED_STORE_LATENCY_MS", 1000, 0, 60_000),
    idleTimeoutSeconds: int("EDITION_IDLE_TIMEOUT_SECONDS", 120, 8, 960),
    maxBackpressureBytes: int("EDITION_MAX_BACKPRESSURE_BYTES", 64 * 1024, 1024, 64 * 1024 * 1024),
    maxConnections: int("EDITION_MAX_CONNECTIONS", 1_000_000, 1, 100_000_000),
    drainDeadlineSeconds: int("EDITION_DRAIN_DEADLINE_SECONDS", 30, 0, 3600),
    drainRate: int("EDITION_DRAIN_RATE", 1000, 1, 1_000_000),
    corsOrigin: env.EDITION_CORS_ORIGIN || undefined,
    demoPage: flag("EDITION_DEMO_PAGE", false),
    logLevel: logLevel as Config["logLevel"],
    cluster: undefined,
    redis: undefined,
    tls: undefined,
    webpushQueue: Object.freeze({
      maxMessages: int("EDITION_WEBPUSH_MAX_MESSAGES", 100, 1, 100_000),
      maxBytes: int("EDITION_WEBPUSH_MAX_BYTES", 1024 * 1024, 4096, 1024 * 1024 * 1024),
    }),
    durability: Object.freeze({
      mode: "region" as const,
      timeoutMs: int("EDITION_DURABILITY_TIMEOUT_MS", 500, 1, 60_000),
    }),
  };
  {
    const mode = str("EDITION_DURABILITY", "region");
    if (mode !== "region" && mode !== "global") {
      problems.push(`EDITION_DURABILITY: "${mode}" is not one of: region, global`);
    } else {
      config.durability = Object.freeze({ ...config.durability, mode });
    }
  }
  {
    const idle = config.idleTimeoutSeconds;
    const frame = int("EDITION_FRAME_TIMEOUT_SECONDS", 2 * idle + 30, 1, 24 * 3600);
    if (frame <= idle) {
      problems.push(
        `EDITION_FRAME_TIMEOUT_SECONDS: ${frame} must exceed EDITION_IDLE_TIMEOUT_SECONDS (${idle}): idle clients complete a frame (pong) only once per idle timeout`,
      );
    }
    config.limits = Object.freeze({ ...config.limits, frameTimeoutSeconds: frame });
  }
  const tlsCert = env.EDITION_TLS_CERT || undefined;
  const tlsKey = env.EDITION_TLS_KEY || undefined;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    problems.push(
      `${tlsCert === undefined ? "EDITION_TLS_CERT" : "EDITION_TLS_KEY"}: required when ${tlsCert === undefined ? "EDITION_TLS_KEY" : "EDITION_TLS_CERT"} is set (PEM file paths)`,
    );
  } else if (tlsCert !== undefined && tlsKey !== undefined) {
    config.tls = Object.freeze({ certFile: tlsCert, keyFile: tlsKey });
  }
  const list = (name: string): readonly string[] =>
    Object.freeze(
      (env[name] ?? "")
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    );

  const etcdEndpoints = list("EDITION_ETCD_ENDPOINTS");
  let cluster: ClusterConfig | undefined;
  if (etcdEndpoints.length > 0) {
    const secret = env.EDITION_CLUSTER_SECRET ?? "";
    if (secret.length < 16) {
      problems.push(
        "EDITION_CLUSTER_SECRET: required with EDITION_ETCD_ENDPOINTS, at least 16 characters",
      );
    } else if (secretBits(secret) < MIN_SECRET_BITS) {
      problems.push(
        `EDITION_CLUSTER_SECRET: too guessable (about ${Math.floor(secretBits(secret))} bits; at least ${MIN_SECRET_BITS} needed): use e.g. \`openssl rand -hex 24\``,
      );
    }
    if (role === "node" && !env.EDITION_TOKEN_KEYS?.trim()) {
      problems.push(
        "EDITION_TOKEN_KEYS: required with EDITION_ETCD_ENDPOINTS (every node must decode every other node's endpoints)",
      );
    }
    const nodeId = str("EDITION_NODE_ID", hostname());
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(nodeId)) {
      problems.push(`EDITION_NODE_ID: "${nodeId}" must be letters, digits, '.', '_' or '-'`);
    }
    for (const e of etcdEndpoints) {
      if (!/^https?:\/\/[^/\s]+$/.test(e))
        problems.push(`EDITION_ETCD_ENDPOINTS: "${e}" is not http(s)://host:port`);
    }
    const ws = advertiseWsUrl(env.EDITION_ADVERTISE_WS_URL || undefined, problems);
    const routerUrl = routerAddress(env.EDITION_ROUTER_URL || undefined, problems);
    const routerTls = routerTlsFiles(env, problems);
    cluster = {
      nodeId,
      etcdEndpoints,
      etcdPrefix: str("EDITION_ETCD_PREFIX", "/edition"),
      leaseTtlSeconds: int("EDITION_LEASE_TTL_SECONDS", 5, 2, 60),
      slots: int("EDITION_SLOTS", 4096, 16, 65536),
      routerPort: int("EDITION_ROUTER_PORT", 8081, 0, 65535),
      routerUrl,
      advertiseWsUrl: ws,
      clusterSecret: secret,
      redirectThresholdPercent: int("EDITION_REDIRECT_THRESHOLD_PERCENT", 90, 1, 100),
      memberRefreshMs: int("EDITION_MEMBER_REFRESH_MS", 1000, 100, 60_000),
      regionStateDir: str("EDITION_REGION_STATE_DIR", "/etc/edition/regions"),
      shedRouterDepth: int("EDITION_SHED_ROUTER_DEPTH", 10_000, 1, 1_000_000),
      holderCacheSize: int("EDITION_HOLDER_CACHE_SIZE", 100_000, 0, 10_000_000),
      routerTls,
    };
  } else if (role === "balancer") {
    problems.push(
      "EDITION_ROLE: balancer needs EDITION_ETCD_ENDPOINTS (it redirects to the region's nodes)",
    );
  } else {
    for (const name of CLUSTER_ONLY) {
      if (env[name]) problems.push(`${name}: only meaningful with EDITION_ETCD_ENDPOINTS`);
    }
  }

  let redis: RedisConfig | undefined;
  const redisMode = str("EDITION_REDIS_MODE", "standalone");
  if (!["standalone", "sentinel", "cluster"].includes(redisMode)) {
    problems.push(
      `EDITION_REDIS_MODE: "${redisMode}" is not one of: standalone, sentinel, cluster`,
    );
  }
  const redisUrl = env.EDITION_REDIS_URL || undefined;
  const sentinels = list("EDITION_REDIS_SENTINELS");
  if (redisUrl !== undefined || sentinels.length > 0) {
    if (redisMode === "sentinel" && (sentinels.length === 0 || !env.EDITION_REDIS_SENTINEL_NAME)) {
      problems.push(
        "EDITION_REDIS_SENTINELS and EDITION_REDIS_SENTINEL_NAME: both required in sentinel mode",
      );
    }
    if (redisMode !== "sentinel" && redisUrl === undefined) {
      problems.push(`EDITION_REDIS_URL: required in ${redisMode} mode`);
    }
    if (redisUrl !== undefined && redisMode === "standalone" && !/^rediss?:\/\//.test(redisUrl)) {
      problems.push(`EDITION_REDIS_URL: "${redisUrl}" must start with redis:// or rediss://`);
    }
    redis = {
      mode: redisMode as RedisConfig["mode"],
      url: redisUrl,
      sentinels,
      sentinelName: env.EDITION_REDIS_SENTINEL_NAME || undefined,
      password: env.EDITION_REDIS_PASSWORD || undefined,
      keyPrefix: str("EDITION_REDIS_KEY_PREFIX", "edition:"),
    };
  }
  if (config.durability.mode === "global" && (redis === undefined || redis.mode === "cluster")) {
    problems.push(
      "EDITION_DURABILITY: global needs a standalone or Sentinel Redis (not cluster mode) with a replica in another region",
    );
  }
  config.cluster = cluster === undefined ? undefined : Object.freeze(cluster);
  config.redis = redis === undefined ? undefined : Object.freeze(redis);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** A cluster secret must carry at least this much entropy (estimated by `secretBits`). */
const MIN_SECRET_BITS = 64;

/**
 * A conservative entropy estimate of a secret: its length times the Shannon entropy of its
 * character distribution. `aaaaaaaaaaaaaaaa` scores 0, `abababababababab` 16, 24 random hex
 * bytes (48 characters) about 190.
 */
export function secretBits(secret: string): number {
  const counts = new Map<string, number>();
  for (const ch of secret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const n = [...secret].length;
  let h = 0;
  for (const c of counts.values()) h -= (c / n) * Math.log2(c / n);
  return h * n;
}

/**
 * Where redirects send clients: `ws(s)://host[:port]`. A lone trailing `/` is the same URL
 * (the root path) and is what people write, so it is accepted and dropped; any other path is
 * refused, because the node would be addressed under a path no proxy is known to strip.
 */
function advertiseWsUrl(v: string | undefined, problems: string[]): string | undefined {
  if (v === undefined) return undefined;
  const m = /^(wss?:\/\/[^/\s?#]+)\/?$/.exec(v);
  if (!m)
    problems.push(`EDITION_ADVERTISE_WS_URL: "${v}" must be ws(s)://host[:port] with no path`);
  return m?.[1];
}

/**
 * The address other nodes dial for this node's router: `host:port`. The router speaks its
 * own line protocol over TCP, so `tcp://` and a trailing `/` are tolerated but `http://` is
 * refused: it names a protocol the port does not speak.
 */
function routerAddress(v: string | undefined, problems: string[]): string | undefined {
  if (v === undefined) return undefined;
  const m = /^(?:tcp:\/\/)?([^/\s:?#]+:[0-9]{1,5})\/?$/.exec(v);
  if (!m) {
    const hint =
      /^[a-z][a-z0-9+.-]*:\/\//i.test(v) && !v.startsWith("tcp://")
        ? " (the router speaks its own TCP protocol: drop the scheme)"
        : "";
    problems.push(`EDITION_ROUTER_URL: "${v}" must be host:port${hint}`);
  }
  return m?.[1];
}

/** `EDITION_TOKEN_KEYS="<id>:<base64 of 32 bytes>,…"`, newest (minting) first. */
function parseTokenKeys(v: string | undefined, problems: string[]): readonly TokenKey[] {
  if (v === undefined || v.trim() === "") return Object.freeze([]);
  const keys: TokenKey[] = [];
  const seen = new Set<number>();
  for (const [i, part] of v.split(",").entries()) {
    const m = /^\s*([0-9]{1,3}):([A-Za-z0-9+/_-]+={0,2})\s*$/.exec(part);
    const id = m ? Number(m[1]) : -1;
    const key = m
      ? Buffer.from(m[2]!, m[2]!.includes("-") || m[2]!.includes("_") ? "base64url" : "base64")
      : undefined;
    if (!m || id > 255 || key?.length !== 32) {
      problems.push(`EDITION_TOKEN_KEYS: entry ${i + 1} must be <id 0-255>:<base64 of 32 bytes>`);
    } else if (seen.has(id)) {
      problems.push(`EDITION_TOKEN_KEYS: key id ${id} appears twice`);
    } else {
      seen.add(id);
      keys.push(Object.freeze({ id, key }));
    }
  }
  return Object.freeze(keys);
}

const ROUTER_TLS_VARS = {
  certFile: "EDITION_ROUTER_TLS_CERT",
  keyFile: "EDITION_ROUTER_TLS_KEY",
  caFile: "EDITION_ROUTER_TLS_CA",
} as const;

/** Router TLS: all three files or none (half a TLS setup would silently fall back to none). */
function routerTlsFiles(env: Env, problems: string[]): RouterTlsFiles | undefined {
  const set = Object.values(ROUTER_TLS_VARS).filter((v) => env[v]);
  if (set.length === 0) return undefined;
  if (set.length < 3) {
    const missing = Object.values(ROUTER_TLS_VARS).filter((v) => !env[v]);
    problems.push(
      `${missing.join(", ")}: required when ${set.join(", ")} ${set.length === 1 ? "is" : "are"} set (router TLS needs certificate, key and CA, PEM file paths)`,
    );
    return undefined;
  }
  return Object.freeze({
    certFile: env.EDITION_ROUTER_TLS_CERT!,
    keyFile: env.EDITION_ROUTER_TLS_KEY!,
    caFile: env.EDITION_ROUTER_TLS_CA!,
  });
}

/**
 * Reads the router's TLS files (at start-up): a file that cannot be read, is not PEM, or a
 * key that does not match its certificate is a ConfigError naming the variable.
 */
export function readRouterTls(files: RouterTlsFiles): { cert: Buffer; key: Buffer; ca: Buffer } {
  const problems: string[] = [];
  const read = (k: keyof RouterTlsFiles): Buffer => {
    const path = files[k];
    try {
      const b = readFileSync(path);
      if (!b.includes("-----BEGIN ")) problems.push(`${ROUTER_TLS_VARS[k]}: "${path}" is not PEM`);
      return b;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      problems.push(`${ROUTER_TLS_VARS[k]}: cannot read "${path}" (${code})`);
      return Buffer.alloc(0);
    }
  };
  const pem = { cert: read("certFile"), key: read("keyFile"), ca: read("caFile") };
  if (problems.length === 0) {
    try {
      createSecureContext(pem);
    } catch (err) {
      problems.push(
        `EDITION_ROUTER_TLS_CERT, EDITION_ROUTER_TLS_KEY, EDITION_ROUTER_TLS_CA: not a usable certificate, key and CA (${(err as Error).message})`,
      );
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return pem;
}
