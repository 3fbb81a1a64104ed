// soak: mixed steady load for `durationS` (override with the runner's --duration): direct
// PUTs at `putRate` to connected clients (acked), and every `churnEveryS` a
// `churnFraction` of each VU's clients goes away, gets one PUT on its first channel while
// away, comes back with its UAID (the flush must carry exactly that version, and nothing
// it acked before on its other channel) and rotates a channel (unregister the oldest,
// register a new one). At the end every client reconnects once more: nothing may be
// flushed. The criteria are those of notify and offline-flush, held for the whole run.

import { AppServer } from "./lib/appserver.js";
import { soak } from "./lib/criteria.js";
import {
  COMMON_OPTIONS,
  delay,
  elapsedMs,
  loadParams,
  scenarioOptions,
  vuShare,
} from "./lib/env.js";
import { Fleet } from "./lib/fleet.js";
import { uuid4 } from "./lib/frames.js";
import { Ledger } from "./lib/ledger.js";
import { m, touchCounters } from "./lib/metrics.js";
import { atRate, paced, until } from "./lib/pace.js";

const SUITE = "soak";
const P = loadParams(SUITE);
const CHANNELS = 2;

export const options = {
  ...COMMON_OPTIONS,
  scenarios: scenarioOptions(SUITE, P),
  thresholds: soak(),
};

export default async function () {
  touchCounters();
  const { clients, fraction } = vuShare(P);
  const t0 = Date.now() - elapsedMs();
  const ledger = new Ledger({ redeliveryIsDefect: true });
  const fleet = new Fleet({ ledger, timeoutMs: P.timeoutMs, channels: CHANNELS });
  const app = new AppServer(ledger, { maxInFlight: P.maxInFlight, timeoutS: P.timeoutMs / 1000 });
  const start = t0 + P.connectLimitS * 1000;
  const end = start + P.durationS * 1000;

  await paced(clients, P.connectRate * fraction, P.maxInFlight, start, () =>
    fleet.join(fleet.add()),
  );
  await delay(start - Date.now());

  const direct = atRate(P.putRate * fraction, end, () => {
    const t = fleet.pickTarget();
    if (t !== null) app.put(t.endpoint, t.chid);
  });
  // Churn cycles, staggered over the VUs so that they do not all churn at once.
  await delay(Math.random() * P.churnEveryS * 1000);
  while (Date.now() + P.churnEveryS * 1000 <= end) {
    const cycleEnd = Date.now() + P.churnEveryS * 1000;
    const count = Math.max(1, Math.round(fleet.members.length * P.churnFraction));
    await churn(fleet, app, count, fraction);
    await delay(cycleEnd - Date.now());
  }
  await direct;

  await until(() => app.idle() && ledger.outstanding() === 0, Date.now() + P.drainS * 1000);
  // Everything was acked: one more reconnect must flush nothing.
  await fleet.leaveAll();
  const joined = fleet.joined();
  await paced(
    joined.length,
    P.connectRate * fraction,
    P.maxInFlight,
    Date.now() + P.timeoutMs * 2,
    (i) => fleet.rejoin(joined[i]),
  );
  ledger.finalize(SUITE);
  await fleet.leaveAll();
}

/** `count` connected members leave, get one PUT per channel, come back, rotate a channel. */
async function churn(fleet, app, count, fraction) {
  const away = fleet.connected().slice(0, count);
  // Move them to the back so the next cycle picks others; no direct PUTs to them meanwhile
  // (one could race the unregister of the rotation and rightly get a 404).
  fleet.members = [...fleet.members.filter((mb) => !away.includes(mb)), ...away];
  for (const mb of away) mb.churning = true;
  await Promise.all(away.map((mb) => fleet.leave(mb)));
  // One PUT per channel at a time (see Ledger.busy): let direct PUTs to them finish first.
  await until(
    () => away.every((mb) => mb.channels.every((chid) => !fleet.ledger.busy(chid))),
    Date.now() + P.timeoutMs,
  );
  const expected = new Map();
  await Promise.all(
    away.map(async (mb) => {
      const chid = mb.channels[0];
      const r = await app.putAndWait(mb.endpoints.get(chid), chid);
      if (r.status >= 200 && r.status < 300) expected.set(`${mb.id}|${chid}`, r.version);
    }),
  );
  // Back at the connect pace, as real clients come back spread out, not in one burst.
  const pace = P.connectRate * fraction;
  await paced(away.length, pace, P.maxInFlight, Date.now() + P.timeoutMs * 2, async (i) => {
    const mb = away[i];
    if (!(await fleet.rejoin(mb))) return;
    for (const chid of mb.channels) {
      const want = expected.get(`${mb.id}|${chid}`);
      if (want === undefined) continue;
      m.flushComplete.add(mb.flushed.get(chid) === want);
    }
    try {
      await fleet.unregister(mb, mb.channels[0]);
      await fleet.register(mb, uuid4());
    } catch (err) {
      fleet.warn(`channel rotation failed: ${err.message}`);
    }
  });
  for (const mb of away) mb.churning = false;
}
