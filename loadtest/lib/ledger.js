// The delivery ledger of one VU: every update it PUT, whether the endpoint accepted it
// (2xx), whether its client received it, and what each channel acked. It turns that into
// the delivery criteria:
//   delivered          one sample per 2xx-accepted update: received (directly or flushed at
//                      a hello), or superseded: its client received a newer version of the
//                      same channel (a version event means "go check"; the cluster keeps only
//                      a channel's latest, so an older one may rightly never arrive)
//   acked_redelivered  a flush carried a version ≤ what that channel already acked
//   duplicates         the same update received twice
//   put_to_client_ms   PUT sent → notification read, for direct deliveries
import { compareVersions, sentAtMs } from "./frames.js";
import { m } from "./metrics.js";

const LOST_LOG_LIMIT = 5;

export class Ledger {
  /** @param opts.redeliveryIsDefect false where a redelivery is allowed (acks lost in a node kill) */
  constructor(opts) {
    this.redeliveryIsDefect = opts.redeliveryIsDefect;
    /** key "chid|version" → { chid, version, accepted, received } while not settled. */
    this.open = new Map();
    /** chid → { ackedMax, openKeys: Set, inFlight: PUTs not answered yet } */
    this.channels = new Map();
    this.lostLogged = 0;
  }

  channel(chid) {
    let c = this.channels.get(chid);
    if (c === undefined) {
      c = { ackedMax: null, openKeys: new Set(), inFlight: 0 };
      this.channels.set(chid, c);
    }
    return c;
  }

  /** A PUT for `version` on `chid` is about to be sent. */
  issued(chid, version) {
    const key = `${chid}|${version}`;
    this.open.set(key, { chid, version, accepted: false, received: false, status: 0 });
    const c = this.channel(chid);
    c.openKeys.add(key);
    c.inFlight++;
  }

  /**
   * Whether a PUT to `chid` is still unanswered. Generators send one PUT per channel at a
   * time, as an app server would: two in flight could be stored in either order, and which
   * one a channel's pending slot then holds is not something a client can rely on.
   */
  busy(chid) {
    return (this.channels.get(chid)?.inFlight ?? 0) > 0;
  }

  /** The PUT got an answer: 2xx means the cluster now owes the client this update. */
  answered(chid, version, status) {
    const c = this.channels.get(chid);
    if (c !== undefined) c.inFlight--;
    const key = `${chid}|${version}`;
    const e = this.open.get(key);
    if (e === undefined) return;
    if (status >= 200 && status < 300) {
      e.accepted = true;
      e.status = status;
      if (e.received) this.settle(key, e, true);
    } else {
      this.forget(key, e);
    }
  }

  /** One update read by the client; `flushed` when it came in the notification after a hello. */
  received(chid, version, readAtMs, flushed) {
    m.deliveries.add(1);
    const key = `${chid}|${version}`;
    const c = this.channel(chid);
    const e = this.open.get(key);
    if (e === undefined || e.received) {
      // Not an open update: a repeat of one already settled, or something never sent here.
      const old = c.ackedMax !== null && compareVersions(version, c.ackedMax) <= 0;
      if (e !== undefined || (old && !flushed)) m.duplicates.add(1);
      else if (old) {
        if (this.redeliveryIsDefect) m.ackedRedelivered.add(1);
      } else m.unexpectedUpdates.add(1);
      return;
    }
    e.received = true;
    if (!flushed) m.putToClientMs.add(Math.max(0, readAtMs - sentAtMs(version)));
    if (e.accepted) this.settle(key, e, true);
    this.supersede(c, version);
  }

  /** The client acked `version` on `chid`. */
  acked(chid, version) {
    const c = this.channel(chid);
    if (c.ackedMax === null || compareVersions(version, c.ackedMax) > 0) c.ackedMax = version;
  }

  /** The client unregistered `chid`: nothing still open on it is owed any more. */
  unregistered(chid) {
    const c = this.channel(chid);
    for (const key of c.openKeys) this.open.delete(key);
    c.openKeys.clear();
  }

  /** Accepted, unreceived updates of the channel older than a received version: superseded. */
  supersede(c, flushedVersion) {
    for (const key of c.openKeys) {
      const e = this.open.get(key);
      if (e?.accepted && !e.received && compareVersions(e.version, flushedVersion) < 0) {
        this.settle(key, e, true);
      }
    }
  }

  settle(key, e, delivered) {
    m.delivered.add(delivered);
    this.forget(key, e);
  }

  forget(key, e) {
    this.open.delete(key);
    this.channels.get(e.chid)?.openKeys.delete(key);
  }

  /** Accepted updates still not received. */
  outstanding() {
    let n = 0;
    for (const e of this.open.values()) if (e.accepted && !e.received) n++;
    return n;
  }

  /** End of the run: every accepted update not received counts as lost. */
  finalize(suite) {
    for (const [key, e] of this.open) {
      if (!e.accepted) {
        this.forget(key, e); // never answered: the PUT itself failed and is counted as such
        continue;
      }
      if (this.lostLogged++ < LOST_LOG_LIMIT) {
        console.warn(
          `${suite}: lost update: channel ${e.chid} version ${e.version} (PUT answered ${e.status})`,
        );
      }
      this.settle(key, e, false);
    }
  }
}
