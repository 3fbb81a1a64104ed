// storm: many clients reconnect at once, while the app server keeps PUTting.
//
//   mass-reconnect (always available): at the storm moment every client closes its socket
//     and reconnects at once (spread over `jitterMs`, 0 = no spread) with its UAID.
//   node-kill (STORM_KILL=1, local targets that can kill a node): the runner kills a node
//     when asked through CONTROL_URL; the clients it held see their sockets drop and
//     reconnect to the cluster with back-off.
//
// Measured: recovery time per knocked-off client (drop → hello 200 again), whether every one
// is back before the deadline, hello latency during the storm, and loss: every update the
// cluster accepted (2xx) before, during or after the storm must reach its client. After
// the storm every client reconnects once more behind a flush barrier to collect what is
// still stored.
import http from "k6/http";
import { AppServer } from "./lib/appserver.js";
import { storm } from "./lib/criteria.js";
import {
  COMMON_OPTIONS,
  delay,
  elapsedMs,
  isLeader,
  loadParams,
  SHARD,
  scenarioOptions,
  vuShare,
} from "./lib/env.js";
import { Fleet } from "./lib/fleet.js";
import { Ledger } from "./lib/ledger.js";
import { m, touchCounters } from "./lib/metrics.js";
import { atRate, paced, until } from "./lib/pace.js";

const SUITE = "storm";
const P = loadParams(SUITE);
const NODE_KILL = __ENV.STORM_KILL === "1";
/** Drops are watched for at least this long after the kill before the storm may end early. */
const KILL_OBSERVE_MS = 3000;
const BACKOFF_MAX_MS = 2000;

export const options = {
  ...COMMON_OPTIONS,
  scenarios: scenarioOptions(SUITE, P),
  thresholds: storm(NODE_KILL, SHARD === 0),
};

export default async function () {
  touchCounters();
  const { clients, fraction } = vuShare(P);
  const t0 = Date.now() - elapsedMs();
  const stormAt = t0 + (P.connectLimitS + P.settleS) * 1000;
  const recoverEnd = stormAt + P.recoverLimitS * 1000;
  const ledger = new Ledger({ redeliveryIsDefect: !NODE_KILL });
  const knocked = new Map(); // member → Promise<boolean> of its recovery
  const fleet = new Fleet({
    ledger,
    timeoutMs: P.timeoutMs,
    channels: 1,
    onDrop: (mb) => {
      if (fleet.expectCloses && !knocked.has(mb)) knocked.set(mb, recover(fleet, mb, recoverEnd));
    },
  });
  const app = new AppServer(ledger, { maxInFlight: P.maxInFlight, timeoutS: P.timeoutMs / 1000 });

  await paced(clients, P.connectRate * fraction, P.maxInFlight, t0 + P.connectLimitS * 1000, () =>
    fleet.join(fleet.add()),
  );
  const members = fleet.joined();

  // PUTs go on through the storm, to connected and disconnected clients alike.
  let putsDone = false;
  const puts = atRate(
    P.putRate * fraction,
    recoverEnd,
    () => {
      const t = fleet.pickTarget(true);
      if (t !== null) app.put(t.endpoint, t.chid);
    },
    () => putsDone,
  );

  await delay(stormAt - Date.now());
  if (NODE_KILL) {
    fleet.expectCloses = true;
    if (isLeader()) await killNode();
    await delay(KILL_OBSERVE_MS);
  } else {
    for (const mb of members) {
      mb.droppedAt = Date.now();
      knocked.set(
        mb,
        fleet.leave(mb).then(() => recover(fleet, mb, recoverEnd)),
      );
    }
  }
  // Await every recovery, including those of drops noticed while waiting.
  for (let seen = 0; seen < knocked.size; ) {
    const batch = [...knocked.values()].slice(seen);
    seen += batch.length;
    for (const ok of await Promise.all(batch)) m.clientsRecovered.add(ok);
  }
  fleet.expectCloses = false;

  putsDone = true;
  await puts;
  await until(() => app.idle() && ledger.outstanding() === 0, Date.now() + P.drainS * 1000);
  await fleet.leaveAll();
  await paced(
    members.length,
    P.connectRate * fraction,
    P.maxInFlight,
    Date.now() + P.timeoutMs * 2,
    (i) => fleet.rejoin(members[i]),
  );
  ledger.finalize(SUITE);
  await fleet.leaveAll();
}

/** Reconnects a knocked-off member with jitter and back-off until `deadline`; true when back. */
async function recover(fleet, mb, deadline) {
  if (P.jitterMs > 0) await delay(Math.random() * P.jitterMs);
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    if (attempt > 0) m.reconnectRetries.add(1);
    if (await fleet.rejoin(mb)) {
      m.stormRecoveryMs.add(Date.now() - mb.droppedAt);
      return true;
    }
    const backoff = Math.min(BACKOFF_MAX_MS, 100 * 2 ** attempt);
    await delay(backoff * (0.5 + Math.random() / 2));
  }
  return false;
}

/** Asks the runner to kill a node (POST CONTROL_URL/kill); the drops that follow are the storm. */
async function killNode() {
  const res = await http.asyncRequest("POST", `${__ENV.CONTROL_URL}/kill`, null, {
    timeout: "30s",
    responseType: "text",
  });
  if (res.status === 200) {
    m.stormNodeKilled.add(1);
    console.log(`storm: node killed: ${res.body}`);
  } else {
    console.error(`storm: kill refused: ${res.status} ${res.body}`);
  }
}
