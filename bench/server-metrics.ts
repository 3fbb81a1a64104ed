/**
 * Reads a few series from the push node's Prometheus endpoint, outside the CPU-measured
 * windows: the server's own count of acks (to check the client's) and heap figures (to
 * tell JS heap from native memory in the per-connection slope).
 */
import http from "node:http";

export type Samples = ReadonlyMap<string, number>;

export function scrape(host: string, port: number, timeoutMs = 5000): Promise<Samples> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: "/metrics", timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => resolve(parseExposition(text)));
    });
    req.on("timeout", () => req.destroy(new Error("metrics scrape timed out")));
    req.on("error", reject);
  });
}

/** `name{labels} value` lines to a map keyed by `name{labels}` exactly as written. */
function parseExposition(text: string): Samples {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

export function sample(s: Samples, key: string): number | undefined {
  return s.get(key);
}

/**
 * Quantiles of a Prometheus histogram over a window (`after` − `before`), as the upper
 * bound of the bucket each falls in (so "≤ 1 ms" reads as 1). `before`/`after` may be one
 * scrape or one per node (the nodes' buckets are summed); `match` keeps the series whose
 * labels include it (`{ op: "route" }`). Undefined when the series is absent or empty.
 */
export function histogramQuantiles(
  before: Samples | readonly Samples[],
  after: Samples | readonly Samples[],
  name: string,
  quantiles: readonly number[],
  match: Readonly<Record<string, string>> = {},
): { readonly count: number; readonly upperBounds: readonly number[] } | undefined {
  const was = bucketCounts(before, name, match);
  const buckets = [...bucketCounts(after, name, match)]
    .map(([le, n]) => ({ le, n: n - (was.get(le) ?? 0) }))
    .sort((a, b) => a.le - b.le);
  const count = buckets[buckets.length - 1]?.n ?? 0;
  if (count <= 0) return undefined;
  return {
    count,
    upperBounds: quantiles.map((q) => buckets.find((b) => b.n >= q * count)?.le ?? Number.NaN),
  };
}

/** Cumulative count per bucket bound (`le`) of the matching series, summed over the scrapes. */
function bucketCounts(
  scrapes: Samples | readonly Samples[],
  name: string,
  match: Readonly<Record<string, string>>,
): Map<number, number> {
  const out = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  const wanted = Object.entries(match).map(([k, v]) => `${k}="${v}"`);
  const list: readonly Samples[] =
    scrapes instanceof Map ? [scrapes] : (scrapes as readonly Samples[]);
  for (const s of list) {
    for (const [key, v] of s) {
      if (!key.startsWith(prefix)) continue;
      const labels = key.slice(prefix.length, -1).split(",");
      if (!wanted.every((w) => labels.includes(w))) continue;
      const le = labels.find((l) => l.startsWith("le="))?.slice(4, -1);
      if (le === undefined) continue;
      const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
      out.set(bound, (out.get(bound) ?? 0) + v);
    }
  }
  return out;
}
