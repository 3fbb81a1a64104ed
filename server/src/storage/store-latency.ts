/**
 * How slow the store is now: an exponentially weighted average of operation durations that
 * also fades with time (half-life `halfLifeMs`), so a node that shed every PUT because the
 * store was slow starts accepting again once the store recovers, even if nothing else
 * measured it meanwhile. Feeds the endpoint's shedding (503 + Retry-After).
 */
export class StoreLatency {
  private avgMs = 0;
  private at = 0;

  constructor(
    private readonly thresholdMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly halfLifeMs = 1_000,
    private readonly weight = 0.1,
  ) {}

  /** One operation took `seconds` (the unit of the store histogram it rides along with). */
  observe(seconds: number): void {
    const ms = seconds * 1000;
    this.avgMs = this.current() * (1 - this.weight) + ms * this.weight;
    this.at = this.now();
  }

  /** The average now, faded since the last sample. */
  current(): number {
    if (this.avgMs === 0) return 0;
    return this.avgMs * 0.5 ** ((this.now() - this.at) / this.halfLifeMs);
  }

  /** Whether new PUTs should be refused (never when the threshold is 0). */
  overloaded(): boolean {
    return this.thresholdMs > 0 && this.current() >= this.thresholdMs;
  }
}
