/**
 * The rate limit every control message shares (ping, purge, a repeated hello): one token
 * bucket per socket, kept in the session's two scalars. A control message costs the node a
 * parse and a reply but changes nothing, so a client has no reason to send them faster than
 * the configured interval; past the burst it is closed with 4774 ("back off"). Before this,
 * purge and repeated hellos bypassed the ping limiter (2000 purges in a row, no close).
 */

export interface ControlLimits {
  /** Minimum average interval between control messages, ms (one token per interval); 0 = off. */
  readonly pingMinIntervalMs: number;
  /** Control messages allowed back to back before the interval applies. */
  readonly pingBurst: number;
}

/** The bucket's state, stored in the session (no per-socket object). */
export interface ControlBucket {
  pingTokens: number;
  pingAt: number;
}

/** Takes one token; false when the bucket is empty (the client must be closed with 4774). */
export function takeControlToken(b: ControlBucket, now: number, limits: ControlLimits): boolean {
  if (limits.pingMinIntervalMs <= 0) return true;
  const earned = Math.floor((now - b.pingAt) / limits.pingMinIntervalMs);
  if (earned > 0) {
    b.pingTokens = Math.min(limits.pingBurst, b.pingTokens + earned);
    b.pingAt += earned * limits.pingMinIntervalMs;
  }
  if (b.pingTokens <= 0) return false;
  b.pingTokens--;
  return true;
}
