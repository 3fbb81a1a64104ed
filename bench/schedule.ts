/**
 * Load schedules shared by the single-node and cluster PUT generators: an open loop that
 * fires on a fixed schedule whatever the responses do (so queueing shows up as latency),
 * and a bounded wait.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";

export const GRACE_MS = 5000;

/** Waits for `p`, but no longer than `ms`. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p,
    new Promise<void>((r) => {
      timer = setTimeout(r, Math.max(0, ms));
    }),
  ]);
  clearTimeout(timer);
}

export interface OpenLoopResult {
  /** Fire → arrival, ms, one per completed operation. */
  readonly latencies: number[];
  /** How far behind its schedule the loop ever fell, ms. */
  readonly maxLagMs: number;
  /** This process's event-loop delay p99, ms (a loaded client inflates latencies). */
  readonly loopDelayP99Ms: number;
  readonly elapsedMs: number;
}

/**
 * Calls `fire` `rate × duration` times on a fixed schedule; `fire` returns a promise of the
 * arrival time (performance.now()) of what it sent. Waits at most GRACE_MS for stragglers.
 */
export async function openLoop(
  ratePerSecond: number,
  durationMs: number,
  fire: () => Promise<number>,
  onArrived: () => void,
): Promise<OpenLoopResult> {
  const latencies: number[] = [];
  const total = Math.max(1, Math.round((ratePerSecond * durationMs) / 1000));
  const interval = 1000 / ratePerSecond;
  const start = performance.now();
  let sent = 0;
  let maxLag = 0;
  const delay = monitorEventLoopDelay({ resolution: 2 });
  delay.enable();
  const inFlight: Promise<void>[] = [];
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - start) / interval) + 1);
      if (due > sent) maxLag = Math.max(maxLag, now - (start + sent * interval));
      while (sent < due) {
        sent++;
        const t0 = performance.now();
        inFlight.push(
          fire().then((at) => {
            latencies.push(at - t0);
            onArrived();
          }),
        );
      }
      if (sent < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await settleWithin(Promise.all(inFlight), GRACE_MS);
  delay.disable();
  return {
    latencies,
    maxLagMs: maxLag,
    loopDelayP99Ms: delay.percentile(99) / 1e6,
    elapsedMs: performance.now() - start,
  };
}
