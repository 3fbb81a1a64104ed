/**
 * A keyed work queue with client-go's guarantees: a key is queued at most once however
 * often it is added, is never handed to two workers at once (an add while it is processed
 * queues it again after `done`), and failures are retried with per-key exponential backoff
 * bounded overall by a token bucket (client-go's default controller rate limiter).
 */

export interface QueueHooks {
  depth?(n: number): void;
  added?(): void;
  retried?(): void;
  /** Seconds a key waited in the queue before a worker took it. */
  waited?(seconds: number): void;
}

export interface QueueOptions {
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Overall retry rate (per second) and burst. */
  readonly qps?: number;
  readonly burst?: number;
  readonly hooks?: QueueHooks;
  readonly now?: () => number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly addedAt = new Map<string, number>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private closed = false;
  private tokens: number;
  private lastRefill: number;
  private readonly now: () => number;

  constructor(private readonly opts: QueueOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.tokens = opts.burst ?? 100;
    this.lastRefill = this.now();
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: string): void {
    if (this.closed || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, this.now());
    this.opts.hooks?.added?.();
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `ms`; an earlier pending add for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.closed) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.now() + ms;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds after the key's backoff (doubling per consecutive failure) or the bucket's delay. */
  addRateLimited(key: string): void {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const base = this.opts.baseDelayMs ?? 100;
    const backoff = Math.min(base * 2 ** (n - 1), this.opts.maxDelayMs ?? 300_000);
    this.opts.hooks?.retried?.();
    this.addAfter(key, Math.max(backoff, this.bucketDelay()));
  }

  /** Clears the key's failure count (call after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process; undefined once shut down. Call `done(key)` when finished. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) return Promise.resolve(this.take(key));
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
  }

  shutDown(): void {
    this.closed = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve(undefined);
  }

  private take(key: string): string {
    this.dirty.delete(key);
    this.processing.add(key);
    const at = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (at !== undefined) this.opts.hooks?.waited?.((this.now() - at) / 1000);
    this.opts.hooks?.depth?.(this.queue.length);
    return key;
  }

  private push(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(this.take(key));
      return;
    }
    this.queue.push(key);
    this.opts.hooks?.depth?.(this.queue.length);
  }

  private bucketDelay(): number {
    const qps = this.opts.qps ?? 10;
    const burst = this.opts.burst ?? 100;
    const t = this.now();
    this.tokens = Math.min(burst, this.tokens + ((t - this.lastRefill) / 1000) * qps);
    this.lastRefill = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / qps) * 1000);
  }
}
