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
 * bound of the bucket each falls in (so "≤ 1 ms" reads as 1). Undefined when the series
 * is absent or empty.
 */
export function histogramQuantiles(
  before: Samples,
  after: Samples,
  name: string,
  quantiles: readonly number[],
): { readonly count: number; readonly upperBounds: readonly number[] } | undefined {
  const buckets: { le: number; n: number }[] = [];
  const prefix = `${name}_bucket{le="`;
  for (const [key, v] of after) {
    if (!key.startsWith(prefix)) continue;
    const le = key.slice(prefix.length, key.indexOf('"', prefix.length));
    buckets.push({
      le: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le),
      n: v - (before.get(key) ?? 0),
    });
  }
  buckets.sort((a, b) => a.le - b.le);
  const count = buckets[buckets.length - 1]?.n ?? 0;
  if (count <= 0) return undefined;
  return {
    count,
    upperBounds: quantiles.map((q) => buckets.find((b) => b.n >= q * count)?.le ?? Number.NaN),
  };
}
