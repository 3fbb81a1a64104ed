// notify: app-server PUTs at `putRate` a second to connected clients for `durationS`.
// Every client acks what it receives. Measures the PUT status mix, PUT → client latency,
// the delivery ratio (every 2xx-accepted update must arrive) and the ack round trip.
// Afterwards every client reconnects with its UAID behind a flush barrier: anything still
// pending must be an update it never received (delivered late), never one it acked.
//
// Timeline: connect (until connectLimitS at the latest) → PUTs from connectLimitS for
// durationS → wait up to drainS for answers and deliveries → reconnect check → close.

import { AppServer } from "./lib/appserver.js";
import { notify } from "./lib/criteria.js";
import {
  COMMON_OPTIONS,
  delay,
  elapsedMs,
  loadParams,
  scenarioOptions,
  vuShare,
} from "./lib/env.js";
import { Fleet } from "./lib/fleet.js";
import { Ledger } from "./lib/ledger.js";
import { touchCounters } from "./lib/metrics.js";
import { atRate, paced, until } from "./lib/pace.js";

const SUITE = "notify";
const P = loadParams(SUITE);

export const options = {
  ...COMMON_OPTIONS,
  scenarios: scenarioOptions(SUITE, P),
  thresholds: notify(),
};

export default async function () {
  touchCounters();
  const { clients, fraction } = vuShare(P);
  const t0 = Date.now() - elapsedMs();
  const ledger = new Ledger({ redeliveryIsDefect: true });
  const fleet = new Fleet({ ledger, timeoutMs: P.timeoutMs, channels: 1 });
  const app = new AppServer(ledger, { maxInFlight: P.maxInFlight, timeoutS: P.timeoutMs / 1000 });
  const putStart = t0 + P.connectLimitS * 1000;

  await paced(clients, P.connectRate * fraction, P.maxInFlight, putStart, () =>
    fleet.join(fleet.add()),
  );
  await delay(putStart - Date.now()); // every VU starts PUTting at the same time

  await atRate(P.putRate * fraction, putStart + P.durationS * 1000, () => {
    const t = fleet.pickTarget();
    if (t !== null) app.put(t.endpoint, t.chid);
  });

  const drainEnd = Date.now() + P.drainS * 1000;
  await until(() => app.idle() && ledger.outstanding() === 0, drainEnd);

  await fleet.leaveAll();
  const joined = fleet.joined();
  await paced(joined.length, Infinity, P.maxInFlight, Date.now() + P.timeoutMs, (i) =>
    fleet.rejoin(joined[i]),
  );
  ledger.finalize(SUITE);
  await fleet.leaveAll();
}
