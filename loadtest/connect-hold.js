// connect-hold: ramp to `clients` connections (hello + register each), hold them all at
// once, check every held client still answers, close. Measures the handshake rate, the
// hello/register latency and failures; any close the server makes is a failure.
//
// Timeline: every VU opens its clients at the same even pace over `rampS` (no later than
// `rampLimitS`), holds them for `holdS` after its own ramp, then each held client pings
// once. VUs ramp in parallel at one pace, so their ramps end close together; the runner
// reports whether all connections overlapped (ramp ends spread less than holdS).
import { connectHold } from "./lib/criteria.js";
import {
  COMMON_OPTIONS,
  delay,
  elapsedMs,
  layout,
  loadParams,
  scenarioOptions,
  vuShare,
} from "./lib/env.js";
import { Fleet } from "./lib/fleet.js";
import { Ledger } from "./lib/ledger.js";
import { m, touchCounters } from "./lib/metrics.js";
import { paced } from "./lib/pace.js";

const SUITE = "connect-hold";
const P = loadParams(SUITE);

export const options = {
  ...COMMON_OPTIONS,
  scenarios: scenarioOptions(SUITE, P),
  thresholds: connectHold(layout(P).processClients),
};

export default async function () {
  touchCounters();
  const { clients } = vuShare(P);
  const t0 = Date.now() - elapsedMs();
  const fleet = new Fleet({
    ledger: new Ledger({ redeliveryIsDefect: true }),
    timeoutMs: P.timeoutMs,
    channels: 1,
  });

  await paced(clients, clients / P.rampS, P.maxInFlight, t0 + P.rampLimitS * 1000, () =>
    fleet.join(fleet.add()),
  );
  m.rampDoneS.add(elapsedMs() / 1000);
  const held = fleet.connected();
  m.clientsHeld.add(held.length);

  await delay(P.holdS * 1000);

  // Still there? Each held client pings once (paced: the server limits pings per socket,
  // and the answer is what matters, not how fast a thousand arrive at once).
  await paced(held.length, Infinity, P.maxInFlight, Date.now() + P.timeoutMs, async (i) => {
    const mb = held[i];
    if (!mb.connected) {
      m.heldAlive.add(false);
      return;
    }
    try {
      await mb.client.ping(P.timeoutMs);
      m.heldAlive.add(true);
    } catch {
      m.heldAlive.add(false);
    }
  });
  await fleet.leaveAll();
}
