/**
 * Per-source-address limits on the public listener: open sockets and WebSocket upgrades
 * per second, per IPv4 address or IPv6 /64 (one host usually holds a whole /64). Checked
 * at upgrade, before any per-socket state exists; a refusal is HTTP 429 with Retry-After.
 *
 * Memory is bounded by the addresses active now: an entry lives while it has open sockets
 * or a bucket that is refilling, and `prune` (called on a timer) drops the rest. Behind
 * an L4 balancer that hides client addresses every socket shares one key, which is why the
 * defaults are generous (docs/limits.md).
 */

export type IpVerdict = "ok" | "connections" | "rate";

interface Entry {
  open: number;
  tokens: number;
  at: number;
}

export interface IpLimitOptions {
  /** Open sockets per address; 0 = no limit. */
  readonly maxConnectionsPerIp: number;
  /** Upgrades per second per address (burst: two seconds' worth); 0 = no limit. */
  readonly handshakesPerIpPerSecond: number;
}

/** The key of a remote address as uWS prints it: IPv4 as is, IPv6 cut to its /64. */
export function ipKey(address: string): string {
  if (!address.includes(":")) return address;
  const v4 =
    /^(?:0{1,4}:){5}ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address) ??
    /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  const groups = expand(address);
  return `${groups.slice(0, 4).join(":")}::/64`;
}

function expand(a: string): string[] {
  const [head, tail] = a.split("::") as [string, string | undefined];
  const h = head === "" ? [] : head.split(":");
  if (tail === undefined) return h.map(norm);
  const t = tail === "" ? [] : tail.split(":");
  return [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill("0"), ...t].map(norm);
}

function norm(g: string): string {
  return (Number.parseInt(g, 16) || 0).toString(16);
}

export class IpLimits {
  private readonly entries = new Map<string, Entry>();
  private readonly burst: number;

  constructor(
    private readonly opts: IpLimitOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.burst = 2 * opts.handshakesPerIpPerSecond;
  }

  get enabled(): boolean {
    return this.opts.maxConnectionsPerIp > 0 || this.opts.handshakesPerIpPerSecond > 0;
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.entries.size;
  }

  /** Decides an upgrade from `key`; an admitted one counts as open until `closed(key)`. */
  admit(key: string): IpVerdict {
    let e = this.entries.get(key);
    const now = this.now();
    if (e === undefined) {
      e = { open: 0, tokens: this.burst, at: now };
      this.entries.set(key, e);
    }
    const max = this.opts.maxConnectionsPerIp;
    if (max > 0 && e.open >= max) return "connections";
    const rate = this.opts.handshakesPerIpPerSecond;
    if (rate > 0) {
      e.tokens = Math.min(this.burst, e.tokens + ((now - e.at) * rate) / 1000);
      e.at = now;
      if (e.tokens < 1) return "rate";
      e.tokens -= 1;
    }
    e.open++;
    return "ok";
  }

  /** An admitted socket from `key` closed (or its upgrade did not complete). */
  closed(key: string): void {
    const e = this.entries.get(key);
    if (e !== undefined && e.open > 0) e.open--;
  }

  /** Drops entries with no open socket and a full bucket; returns how many. */
  prune(): number {
    const now = this.now();
    const rate = this.opts.handshakesPerIpPerSecond;
    let n = 0;
    for (const [key, e] of this.entries) {
      if (e.open > 0) continue;
      if (rate > 0 && e.tokens + ((now - e.at) * rate) / 1000 < this.burst) continue;
      this.entries.delete(key);
      n++;
    }
    return n;
  }
}
