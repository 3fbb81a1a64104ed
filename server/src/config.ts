/**
 * The only reader of `process.env`'s contents: `loadConfig(env)` validates every
 * `EDITION_*` setting, reports every problem at once, and returns one frozen typed object.
 * Defaults give a self-contained node: memory storage and routing, public port 8080.
 */
import type { TokenKey } from "./endpoint/token.js";

export interface Config {
  readonly role: "node";
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
  readonly pingMinIntervalMs: number;
  readonly pingBurst: number;
  readonly pendingTtlSeconds: number;
  readonly idleTimeoutSeconds: number;
  readonly maxBackpressureBytes: number;
  /** Sockets this node holds at most; upgrades past it are refused with 503. */
  readonly maxConnections: number;
  readonly drainDeadlineSeconds: number;
  /** Sockets closed per second while draining. */
  readonly drainRate: number;
  /** CORS `Access-Control-Allow-Origin` for the endpoint; undefined = CORS off. */
  readonly corsOrigin: string | undefined;
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "CONFIG_INVALID";
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const KNOWN = new Set([
  "EDITION_ROLE",
  "EDITION_HOST",
  "EDITION_PORT",
  "EDITION_METRICS_PORT",
  "EDITION_PUBLIC_URL",
  "EDITION_REGION",
  "EDITION_TOKEN_KEYS",
  "EDITION_MAX_CHANNELS",
  "EDITION_PING_MIN_INTERVAL_MS",
  "EDITION_PING_BURST",
  "EDITION_PENDING_TTL_SECONDS",
  "EDITION_IDLE_TIMEOUT_SECONDS",
  "EDITION_MAX_BACKPRESSURE_BYTES",
  "EDITION_MAX_CONNECTIONS",
  "EDITION_DRAIN_DEADLINE_SECONDS",
  "EDITION_DRAIN_RATE",
  "EDITION_CORS_ORIGIN",
  "EDITION_LOG_LEVEL",
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

  const role = str("EDITION_ROLE", "node");
  if (role !== "node") problems.push(`EDITION_ROLE: "${role}" is not one of: node`);
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
    } catch {
      problems.push(`EDITION_PUBLIC_URL: "${publicUrl}" is not an http(s) URL`);
    }
  }

  const config: Config = {
    role: "node",
    host: str("EDITION_HOST", "0.0.0.0"),
    port: int("EDITION_PORT", 8080, 0, 65535),
    metricsPort: int("EDITION_METRICS_PORT", 9464, -1, 65535),
    publicUrl: publicUrl?.replace(/\/+$/, ""),
    region,
    tokenKeys: parseTokenKeys(env.EDITION_TOKEN_KEYS, problems),
    maxChannels: int("EDITION_MAX_CHANNELS", 1000, 1, 1_000_000),
    pingMinIntervalMs: int("EDITION_PING_MIN_INTERVAL_MS", 1000, 0, 3_600_000),
    pingBurst: int("EDITION_PING_BURST", 5, 1, 1000),
    pendingTtlSeconds: int("EDITION_PENDING_TTL_SECONDS", 3 * 24 * 3600, 1, 365 * 24 * 3600),
    idleTimeoutSeconds: int("EDITION_IDLE_TIMEOUT_SECONDS", 120, 8, 960),
    maxBackpressureBytes: int("EDITION_MAX_BACKPRESSURE_BYTES", 64 * 1024, 1024, 64 * 1024 * 1024),
    maxConnections: int("EDITION_MAX_CONNECTIONS", 1_000_000, 1, 100_000_000),
    drainDeadlineSeconds: int("EDITION_DRAIN_DEADLINE_SECONDS", 30, 0, 3600),
    drainRate: int("EDITION_DRAIN_RATE", 1000, 1, 1_000_000),
    corsOrigin: env.EDITION_CORS_ORIGIN || undefined,
    logLevel: logLevel as Config["logLevel"],
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** `EDITION_TOKEN_KEYS="<id>:<base64 of 32 bytes>,…"`, newest (minting) first. */
function parseTokenKeys(v: string | undefined, problems: string[]): TokenKey[] {
  if (v === undefined || v.trim() === "") return [];
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
      keys.push({ id, key });
    }
  }
  return keys;
}
