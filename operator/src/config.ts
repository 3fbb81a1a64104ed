/**
 * The operator's settings, from `EDITION_OPERATOR_*` (and the downward-API POD_NAME /
 * POD_NAMESPACE): one frozen object, every problem reported at once. No other file reads
 * the environment.
 */

export interface OperatorConfig {
  /** Namespaces whose PushClusters are reconciled; empty: all namespaces. */
  readonly watchNamespaces: readonly string[];
  readonly leaderElection: boolean;
  readonly leaseName: string;
  readonly leaseNamespace: string;
  readonly identity: string;
  /** /metrics, /healthz, /readyz; 0 = any free port, -1 = off. */
  readonly metricsPort: number;
  readonly workers: number;
  readonly activeResyncSeconds: number;
  readonly idleResyncSeconds: number;
  readonly etcdTimeoutMs: number;
  readonly logLevel: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadOperatorConfig(env: Env): OperatorConfig {
  const problems: string[] = [];
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = env[name];
    if (v === undefined || v === "") return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}: "${v}" is not an integer in ${min}..${max}`);
      return def;
    }
    return n;
  };
  const bool = (name: string, def: boolean): boolean => {
    const v = env[name];
    if (v === undefined || v === "") return def;
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    problems.push(`${name}: "${v}" is not true or false`);
    return def;
  };
  const podNamespace = env.POD_NAMESPACE || "default";
  const config: OperatorConfig = {
    watchNamespaces: namespaces(env.EDITION_OPERATOR_WATCH_NAMESPACE, problems),
    leaderElection: bool("EDITION_OPERATOR_LEADER_ELECTION", true),
    leaseName: env.EDITION_OPERATOR_LEASE_NAME || "edition-operator",
    leaseNamespace: podNamespace,
    identity: env.POD_NAME || `edition-operator-${process.pid}`,
    metricsPort: int("EDITION_OPERATOR_METRICS_PORT", 9465, -1, 65535),
    workers: int("EDITION_OPERATOR_WORKERS", 2, 1, 64),
    activeResyncSeconds: int("EDITION_OPERATOR_ACTIVE_RESYNC_SECONDS", 5, 1, 3600),
    idleResyncSeconds: int("EDITION_OPERATOR_IDLE_RESYNC_SECONDS", 30, 1, 86400),
    etcdTimeoutMs: int("EDITION_OPERATOR_ETCD_TIMEOUT_MS", 3000, 100, 60000),
    logLevel: env.EDITION_OPERATOR_LOG_LEVEL || "info",
  };
  if (problems.length > 0)
    throw new Error(`invalid operator configuration:\n  - ${problems.join("\n  - ")}`);
  return Object.freeze(config);
}

/** `EDITION_OPERATOR_WATCH_NAMESPACE`: "" (all), one namespace, or a comma-separated list. */
function namespaces(v: string | undefined, problems: string[]): readonly string[] {
  const list = [
    ...new Set(
      (v ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  for (const ns of list)
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(ns))
      problems.push(`EDITION_OPERATOR_WATCH_NAMESPACE: "${ns}" is not a namespace name`);
  return Object.freeze(list);
}
