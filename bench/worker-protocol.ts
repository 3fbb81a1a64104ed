/**
 * What the bench parent and its client workers say to each other over the `fork` IPC
 * channel: the parent sends one `Command` at a time to every worker, each worker answers
 * with exactly one `Report` (or `failed`).
 */

/** `bare`: connect and stay idle (the uWS baseline). `push`: connect, hello, register one channel. */
export type Target = "bare" | "push";

/** Handed to a worker at fork time (JSON in `BENCH_WORKER`). */
export interface WorkerConfig {
  readonly index: number;
  readonly host: string;
  readonly port: number;
  readonly target: Target;
  /** 127.0.0.x addresses this worker binds its sockets to, round-robin. */
  readonly localAddresses: readonly string[];
  /** keep-alive sockets this worker's HTTP agent may open for PUTs. */
  readonly httpSockets: number;
}

export type Command =
  /** Open sockets until this worker holds `total` ready ones (bounded in time). */
  | {
      readonly cmd: "connect";
      readonly total: number;
      readonly concurrency: number;
      readonly timeoutMs: number;
    }
  /** `concurrency` PUT → notification → ack loops back to back for `durationMs`. */
  | { readonly cmd: "closed-loop"; readonly concurrency: number; readonly durationMs: number }
  /** PUTs started on a fixed schedule (`ratePerSecond`) for `durationMs`, latency recorded. */
  | { readonly cmd: "open-loop"; readonly ratePerSecond: number; readonly durationMs: number }
  | { readonly cmd: "stop" };

export interface ConnectReport {
  readonly kind: "connected";
  /** Ready sockets held now (cumulative). */
  readonly open: number;
  /** Sockets that failed to become ready during this command. */
  readonly failed: number;
  /** Ready sockets that closed since the previous report. */
  readonly lost: number;
  /** The first few failure reasons. */
  readonly errors: readonly string[];
}

export interface LoadReport {
  readonly kind: "load";
  readonly puts: number;
  /** PUTs answered 200 whose notification arrived (and was acked). */
  readonly completed: number;
  /** Acks this worker sent during the command (one per notification received). */
  readonly acks: number;
  /** PUTs that failed (non-200 status or transport error) or whose notification never came. */
  readonly failed: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  /** Open loop only: PUT start → notification received, ms, one per completed PUT. */
  readonly latenciesMs: readonly number[];
  /** Open loop only: how far behind schedule the worker fell at worst (client saturation). */
  readonly maxScheduleLagMs: number;
  /** Open loop only: this worker's event-loop delay p99 (ms): how late the client itself ran. */
  readonly loopDelayP99Ms: number;
}

export type Report =
  | { readonly kind: "ready" }
  | ConnectReport
  | LoadReport
  | { readonly kind: "stopped" }
  | { readonly kind: "failed"; readonly message: string };

export type ReportKind = Report["kind"];

export function isReport(m: unknown): m is Report {
  return typeof m === "object" && m !== null && typeof (m as { kind?: unknown }).kind === "string";
}
