// offline-flush: clients register `channels` channels each and disconnect; the app server
// PUTs `putsPerChannel` updates to every channel while they are away (the last one with
// data, which must not be stored); the clients reconnect with their UAID and the flush at
// hello must carry, for every channel, exactly the last accepted version, without data.
// Flushed updates are acked; the next round's reconnect must not bring them back. After
// the last round a final reconnect must flush nothing at all.

import { AppServer } from "./lib/appserver.js";
import { offlineFlush } from "./lib/criteria.js";
import { COMMON_OPTIONS, elapsedMs, loadParams, scenarioOptions, vuShare } from "./lib/env.js";
import { Fleet } from "./lib/fleet.js";
import { compareVersions } from "./lib/frames.js";
import { Ledger } from "./lib/ledger.js";
import { m, touchCounters } from "./lib/metrics.js";
import { paced, until } from "./lib/pace.js";

const SUITE = "offline-flush";
const P = loadParams(SUITE);

export const options = {
  ...COMMON_OPTIONS,
  scenarios: scenarioOptions(SUITE, P),
  thresholds: offlineFlush(),
};

export default async function () {
  touchCounters();
  const { clients, fraction } = vuShare(P);
  const t0 = Date.now() - elapsedMs();
  const ledger = new Ledger({ redeliveryIsDefect: true });
  const fleet = new Fleet({ ledger, timeoutMs: P.timeoutMs, channels: P.channels });
  const app = new AppServer(ledger, { maxInFlight: P.maxInFlight, timeoutS: P.timeoutMs / 1000 });

  await paced(clients, P.connectRate * fraction, P.maxInFlight, t0 + P.connectLimitS * 1000, () =>
    fleet.join(fleet.add()),
  );
  const members = fleet.joined();

  for (let round = 0; round < P.rounds; round++) {
    await fleet.leaveAll();
    const expected = await putWhileAway(app, members, fraction);
    const rejoinEnd = deadline(members.length, P.connectRate * fraction);
    await paced(members.length, P.connectRate * fraction, P.maxInFlight, rejoinEnd, async (i) => {
      const mb = members[i];
      if (!(await fleet.rejoin(mb))) return;
      for (const [chid, version] of expected.get(mb) ?? []) {
        const got = mb.flushed.get(chid);
        m.flushComplete.add(got === version);
        if (got !== version) fleet.warn(`flush of ${chid}: got ${got}, expected ${version}`);
      }
    });
  }

  // Everything flushed was acked: one more reconnect must flush nothing.
  await fleet.leaveAll();
  const finalEnd = deadline(members.length, P.connectRate * fraction);
  await paced(members.length, P.connectRate * fraction, P.maxInFlight, finalEnd, (i) =>
    fleet.rejoin(members[i]),
  );
  ledger.finalize(SUITE);
  await fleet.leaveAll();
}

/** A phase of `count` operations at `perSecond` gets twice its planned time, plus a timeout. */
function deadline(count, perSecond) {
  return Date.now() + (count / perSecond) * 2000 + P.timeoutMs;
}

/**
 * PUTs `putsPerChannel` versions to every channel of every (disconnected) member, at
 * `putRate`, one at a time per channel so that the last accepted is the newest; resolves
 * with, per member, channelID → last accepted version.
 */
async function putWhileAway(app, members, fraction) {
  const expected = new Map();
  const jobs = [];
  for (const mb of members) for (const chid of mb.channels) jobs.push({ mb, chid });
  for (let k = 0; k < P.putsPerChannel; k++) {
    const last = k === P.putsPerChannel - 1;
    const end = deadline(jobs.length, P.putRate * fraction);
    await paced(jobs.length, P.putRate * fraction, P.maxInFlight, end, async (i) => {
      const { mb, chid } = jobs[i];
      const r = await app.putAndWait(mb.endpoints.get(chid), chid, last ? `data-${k}` : undefined);
      if (r.status < 200 || r.status >= 300) return;
      let perChannel = expected.get(mb);
      if (perChannel === undefined) {
        perChannel = new Map();
        expected.set(mb, perChannel);
      }
      const prev = perChannel.get(chid);
      if (prev === undefined || compareVersions(r.version, prev) > 0)
        perChannel.set(chid, r.version);
    });
  }
  await until(() => app.idle(), Date.now() + P.timeoutMs);
  return expected;
}
