/**
 * The decoded-token cache, admitting by frequency (TinyLFU, simplified): a count-min sketch
 * of 4-bit counters estimates how often each token was asked for lately (counters halve
 * every `10 × capacity` requests, so "lately" slides). When the cache is full a newcomer
 * enters only if it was asked for more often than the entry it would evict (the least
 * recently used). A flood of freshly minted tokens — each asked for once — therefore
 * never pushes out the endpoints app servers PUT to again and again; with oldest-first
 * eviction it emptied the cache of hot tokens.
 *
 * Memory: the map (≤ capacity entries) plus a sketch of 4 rows of 8 × capacity (rounded up
 * to a power of two) bytes: wide enough that one window's tokens rarely share a counter.
 */

const ROWS = 4;
const SEEDS = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f] as const;

export class TokenCache<V> {
  private readonly map = new Map<string, V>();
  private readonly sketch: Uint8Array;
  private readonly mask: number;
  private additions = 0;
  private readonly resetAt: number;

  constructor(private readonly capacity: number) {
    let width = 16;
    while (width < 8 * capacity) width *= 2;
    this.sketch = new Uint8Array(ROWS * width);
    this.mask = width - 1;
    this.resetAt = 10 * capacity;
  }

  get size(): number {
    return this.map.size;
  }

  /** The cached value, counting the request; a hit becomes the most recently used. */
  get(key: string): V | undefined {
    this.record(key);
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** Offers a value just computed for `key` (after a `get` miss); kept only if it earns it. */
  offer(key: string, value: V): void {
    if (this.map.size < this.capacity) {
      this.map.set(key, value);
      return;
    }
    const victim = this.map.keys().next().value!;
    if (this.estimate(key) <= this.estimate(victim)) return;
    this.map.delete(victim);
    this.map.set(key, value);
  }

  /** Conservative update: only the counters at the key's minimum grow (less overcounting). */
  private record(key: string): void {
    const h = hash(key);
    const at = [0, 0, 0, 0];
    let min = 15;
    for (let r = 0; r < ROWS; r++) {
      at[r] = r * (this.mask + 1) + (mix(h, SEEDS[r]!) & this.mask);
      if (this.sketch[at[r]!]! < min) min = this.sketch[at[r]!]!;
    }
    if (min < 15) for (const i of at) if (this.sketch[i] === min) this.sketch[i]!++;
    if (++this.additions >= this.resetAt) {
      for (let i = 0; i < this.sketch.length; i++) this.sketch[i]! >>= 1;
      this.additions = 0;
    }
  }

  private estimate(key: string): number {
    const h = hash(key);
    let min = 15;
    for (let r = 0; r < ROWS; r++) {
      const v = this.sketch[r * (this.mask + 1) + (mix(h, SEEDS[r]!) & this.mask)]!;
      if (v < min) min = v;
    }
    return min;
  }
}

/** FNV-1a over the UTF-16 units (tokens are base64url ASCII). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(h: number, seed: number): number {
  let x = Math.imul(h ^ seed, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
