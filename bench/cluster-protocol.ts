/**
 * What the cluster bench parent (`cluster.ts`) and its client workers (`cluster-worker.ts`)
 * say to each other over the `fork` IPC channel: one `ClusterCommand` at a time to every
 * worker, exactly one `ClusterReport` (or `failed`) back from each.
 */
import type { LoadReport } from "./worker-protocol.js";

/** One push node of the cluster: its WebSocket and HTTP port (the same listener). */
export interface NodeAddress {
  readonly host: string;
  readonly port: number;
}

/** Handed to a worker at fork time (JSON in `BENCH_CLUSTER_WORKER`). */
export interface ClusterWorkerConfig {
  readonly index: number;
  readonly nodes: readonly NodeAddress[];
  /** 127.0.0.x addresses this worker binds its sockets to, round-robin. */
  readonly localAddresses: readonly string[];
  /** keep-alive sockets per node for this worker's PUTs. */
  readonly httpSockets: number;
}

export type ClusterCommand =
  /** Open `total` clients (hello + register one channel), spread round-robin over the nodes. */
  | {
      readonly cmd: "connect";
      readonly total: number;
      readonly concurrency: number;
      readonly timeoutMs: number;
    }
  /**
   * Closed loops of cross-node PUT → notification → ack for `durationMs` (`sameNode`: each
   * PUT through the node holding the client's socket, the baseline of the cross-node path).
   */
  | {
      readonly cmd: "closed-loop";
      readonly concurrency: number;
      readonly durationMs: number;
      readonly sameNode?: boolean;
      /** Stop once every client of this worker had one PUT (a warm-up), or at `durationMs`. */
      readonly onePerClient?: boolean;
    }
  /** Cross-node (or `sameNode`) PUTs on a fixed schedule, each timed to its notification. */
  | {
      readonly cmd: "open-loop";
      readonly ratePerSecond: number;
      readonly durationMs: number;
      readonly sameNode?: boolean;
    }
  /** Marks the clients now on node `victim` as the ones whose recovery is measured. */
  | { readonly cmd: "arm"; readonly victim: number }
  /** Waits (≤ `timeoutMs`) until every victim client reconnected and got its stored update. */
  | { readonly cmd: "recover"; readonly timeoutMs: number }
  | { readonly cmd: "stop" };

export interface ClusterConnectReport {
  readonly kind: "connected";
  readonly open: number;
  readonly failed: number;
  /** Ready clients per node index. */
  readonly perNode: readonly number[];
  readonly errors: readonly string[];
}

export interface RecoveryReport {
  readonly kind: "recovered";
  /** Clients that were on the victim when armed. */
  readonly victimClients: number;
  /** Epoch ms (Date.now()) at which each victim client's socket closed. */
  readonly droppedAt: readonly number[];
  /** Epoch ms of each victim client's answered hello on a surviving node. */
  readonly helloAt: readonly number[];
  /** Epoch ms at which each victim client was whole: reconnected, and its post-kill update (2xx) received. */
  readonly recoveredAt: readonly number[];
  /** Post-kill PUTs answered 2xx (one per victim client), and the extra attempts it took. */
  readonly putsAccepted: number;
  readonly putRetries: number;
  readonly putStatuses: Readonly<Record<string, number>>;
  /** Victim clients whose post-kill update never got a 2xx within the bound. */
  readonly putsRejected: number;
  /** Clients (all of them, whole run) that did not see the highest version answered 2xx. */
  readonly lostClients: number;
  /** 2xx-answered updates whose version never reached the client (whole run, all clients). */
  readonly lostUpdates: number;
  /** Sockets of non-victim clients that closed (should be none). */
  readonly otherDrops: number;
  readonly reconnectAttempts: number;
  readonly problems: readonly string[];
}

export type ClusterReport =
  | { readonly kind: "ready" }
  | ClusterConnectReport
  | LoadReport
  | { readonly kind: "armed"; readonly victimClients: number }
  | RecoveryReport
  | { readonly kind: "stopped" }
  | { readonly kind: "failed"; readonly message: string };

export type ClusterReportKind = ClusterReport["kind"];

export function isClusterReport(m: unknown): m is ClusterReport {
  return typeof m === "object" && m !== null && typeof (m as { kind?: unknown }).kind === "string";
}
