/**
 * Reconnect delays: exponential with full jitter, capped, so that thousands of clients of a
 * dead node do not come back in lockstep (docs/architecture.md "Failure and change").
 */
export interface BackoffPolicy {
  /** Upper bound of the first delay. */
  readonly baseMs: number;
  /** No delay is ever longer than this. */
  readonly capMs: number;
  /** Consecutive failed attempts before the client gives up. */
  readonly maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000, maxAttempts: 20 };

/**
 * The delay before reconnect attempt `attempt` (1-based): uniform in
 * [ceiling / 2, ceiling], ceiling = min(cap, base · 2^(attempt-1)). Half-jitter rather than
 * full: never an instant retry, still spread.
 */
export function backoffDelayMs(p: BackoffPolicy, attempt: number, random: () => number): number {
  const exp = Math.min(Math.max(attempt - 1, 0), 30);
  const ceiling = Math.min(p.capMs, p.baseMs * 2 ** exp);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
