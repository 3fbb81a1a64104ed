/**
 * What each suite reached, for people (not criteria): rates, sizes, latencies. Computed
 * from the merged metrics of the suite's k6 processes and the parameters it ran with.
 */

import type { Params, Suite } from "./suites.js";
import { type Merged, type MergedMetrics, ms, pct } from "./summary.js";

export type Figure = readonly [label: string, value: string];

const NONE: Merged = { kind: "other", count: 0, passes: 0, rate: Number.NaN, stats: {}, shards: 0 };

function get(m: MergedMetrics, name: string): Merged {
  return m.get(name) ?? NONE;
}

function stat(m: MergedMetrics, name: string, key: string): string {
  const v = get(m, name).stats[key];
  return v === undefined || get(m, name).count === 0 ? "n/a" : ms(v);
}

function perSecond(n: number, seconds: number | undefined): string {
  return seconds === undefined || seconds <= 0 ? "n/a" : `${(n / seconds).toFixed(1)}/s`;
}

function putMix(m: MergedMetrics): string {
  const c = (n: string) => get(m, n).count;
  return `200: ${c("put_200")}, 202: ${c("put_202")}, 4xx: ${c("put_4xx")}, 5xx: ${c("put_5xx")}, no answer: ${c("put_error")}, skipped: ${c("put_skipped")}, retried: ${c("put_retried")}`;
}

function latencies(m: MergedMetrics, name: string): string {
  return `p50 ${stat(m, name, "med")}, p99 ${stat(m, name, "p(99)")}, max ${stat(m, name, "max")}`;
}

export function figures(
  suite: Suite,
  m: MergedMetrics,
  p: Params,
  extra: readonly Figure[],
): Figure[] {
  const delivered = get(m, "delivered");
  const out: Figure[] = [...extra];
  switch (suite) {
    case "connect-hold": {
      const held = get(m, "clients_held").count;
      const ramp = get(m, "ramp_done_s").stats.max;
      const first = get(m, "ramp_done_s").stats.min;
      // Each VU holds holdS after its own ramp: all overlap when the ramps end closer than that.
      const together = ramp !== undefined && first !== undefined && ramp - first < (p.holdS ?? 0);
      out.push(
        [
          together ? "connections held at once" : "connections held (NOT all at once)",
          `${held} of ${p.clients}`,
        ],
        ["handshakes/s (held ÷ slowest VU's ramp)", perSecond(held, ramp)],
        ["ramp took", ramp === undefined ? "n/a" : `${ramp.toFixed(1)} s (planned ${p.rampS} s)`],
        ["handshake", latencies(m, "handshake_ms")],
        ["hello", latencies(m, "hello_ms")],
        ["register", latencies(m, "register_ms")],
      );
      break;
    }
    case "notify":
      out.push(
        [
          "PUTs/s (target)",
          `${perSecond(get(m, "put_accepted").count, p.durationS)} (${p.putRate}/s)`,
        ],
        ["deliveries/s", perSecond(delivered.passes, p.durationS)],
        ["PUT statuses", putMix(m)],
        ["PUT → client", latencies(m, "put_to_client_ms")],
        ["ack round trip", latencies(m, "ack_rtt_ms")],
        ["PUT answer (http_req_duration)", latencies(m, "http_req_duration")],
      );
      break;
    case "offline-flush":
      out.push(
        ["updates stored while away", String(get(m, "put_accepted").passes)],
        [
          "channels flushed exactly",
          `${get(m, "flush_complete").passes} of ${get(m, "flush_complete").count}`,
        ],
        ["PUT statuses", putMix(m)],
        ["hello → flush", latencies(m, "flush_ms")],
        ["hello", latencies(m, "hello_ms")],
      );
      break;
    case "storm":
      out.push(
        [
          "clients knocked off / back",
          `${get(m, "clients_recovered").count} / ${get(m, "clients_recovered").passes}`,
        ],
        ["recovery (drop → hello 200)", latencies(m, "storm_recovery_ms")],
        ["reconnect retries", String(get(m, "reconnect_retries").count)],
        ["updates accepted / lost", `${delivered.count} / ${delivered.count - delivered.passes}`],
        ["PUT statuses", putMix(m)],
        ["hello during the run", latencies(m, "hello_ms")],
      );
      break;
    case "soak":
      out.push(
        ["duration", `${p.durationS} s`],
        ["deliveries/s", perSecond(delivered.passes, p.durationS)],
        ["delivered", `${pct(delivered.rate)} of ${delivered.count}`],
        ["reconnect flushes checked", String(get(m, "flush_complete").count)],
        ["PUT statuses", putMix(m)],
        ["PUT → client", latencies(m, "put_to_client_ms")],
        ["hello", latencies(m, "hello_ms")],
      );
      break;
  }
  return out;
}
