// The clients of one VU ("members"): joining as new clients, rejoining with their UAID,
// receiving and acking notifications into the ledger, noticing drops. A member outlives
// its sockets: it keeps its UAID, channels and endpoints across reconnects.
//
// Flush barrier: a rejoin sends hello and, right behind it, a ping. A node answers a
// client's frames in order and holds frames that arrive while a hello resolves until the
// hello's flush is sent, so every notification read before the ping's reply is the flush
// of pending updates; later ones are direct deliveries.
import { PushClient } from "./client.js";
import { assertAllowedHost, TARGET_WS } from "./env.js";
import { uuid4 } from "./frames.js";
import { m } from "./metrics.js";

/** Pings to time an ack are spaced at least this far apart per socket (server ping limit: 1/s). */
const ACK_RTT_GAP_MS = 2000;
/** Share of acks that are timed (each timing costs a ping and its reply). */
const ACK_RTT_SAMPLE = 0.1;
const MAX_REDIRECTS = 3;
const WARN_LIMIT = 5;

export class Fleet {
  /**
   * @param opts.ledger      the VU's Ledger
   * @param opts.timeoutMs   per request (handshake, hello, register, ping)
   * @param opts.channels    channels each new client registers
   * @param opts.onDrop      (member, code) called when a socket closes without us asking
   */
  constructor(opts) {
    this.ledger = opts.ledger;
    this.timeoutMs = opts.timeoutMs;
    this.channelsPerClient = opts.channels;
    this.onDrop = opts.onDrop;
    /** Set while closes are the point of the test (a node kill): not counted as unexpected. */
    this.expectCloses = false;
    this.members = [];
    this.warned = 0;
  }

  /** A new member, not yet connected. */
  add() {
    const member = {
      id: this.members.length,
      client: null,
      uaid: "",
      channels: [],
      endpoints: new Map(),
      connected: false,
      awaitingFlush: false,
      /** channelID → version of the last flush (rejoin with barrier). */
      flushed: new Map(),
      droppedAt: 0,
      /** Taken out of the PUT rotation for a while (soak churn). */
      churning: false,
    };
    this.members.push(member);
    return member;
  }

  connected() {
    return this.members.filter((mb) => mb.connected);
  }

  /** Members that joined once (have a UAID and channels), connected now or not. */
  joined() {
    return this.members.filter((mb) => mb.channels.length > 0);
  }

  warn(text) {
    if (this.warned++ < WARN_LIMIT) console.warn(text);
  }

  /** Opens a socket for the member (following hello redirects) and says hello. */
  async open(member, uaid, channelIDs, barrier) {
    let url = TARGET_WS;
    for (let hop = 0; ; hop++) {
      const client = new PushClient(url, {
        onNotification: (updates, readAt) => this.notified(member, client, updates, readAt),
        onClose: (code, reason) => this.dropped(member, client, code, reason),
      });
      member.client = client;
      m.handshakeMs.add(await client.connect(this.timeoutMs));
      m.handshakes.add(1);
      member.awaitingFlush = barrier;
      member.flushed = new Map();
      const hello = client.hello(uaid, channelIDs, this.timeoutMs);
      const ping = barrier ? client.ping(this.timeoutMs) : null;
      // A failed hello also fails the ping behind it: keep that rejection handled.
      ping?.catch(() => {});
      try {
        const h = await hello;
        m.helloMs.add(h.ms);
        if (ping !== null) await ping;
        return h.uaid;
      } catch (err) {
        await client.close(this.timeoutMs);
        if (err.status !== 307 || !err.redirect || hop >= MAX_REDIRECTS) throw err;
        url = err.redirect.replace(/\/*$/, "/");
        assertAllowedHost(url, "redirect");
      } finally {
        member.awaitingFlush = false;
      }
    }
  }

  /** Connects the member as a brand-new client: hello without UAID, register its channels. */
  async join(member) {
    try {
      member.uaid = await this.open(member, "", [], false);
      await this.registerAll(member, this.channelsPerClient);
      member.connected = true;
      m.connectOk.add(true);
      return true;
    } catch (err) {
      m.connectOk.add(false);
      this.warn(`join failed: ${err.message}`);
      if (member.client) await member.client.close(this.timeoutMs);
      return false;
    }
  }

  async registerAll(member, count) {
    for (let i = 0; i < count; i++) await this.register(member, uuid4());
  }

  async register(member, chid) {
    const r = await member.client.register(chid, this.timeoutMs);
    m.registerMs.add(r.ms);
    assertAllowedHost(r.endpoint, "pushEndpoint");
    if (!member.channels.includes(chid)) member.channels.push(chid);
    member.endpoints.set(chid, r.endpoint);
  }

  async unregister(member, chid) {
    await member.client.unregister(chid, this.timeoutMs);
    member.channels = member.channels.filter((c) => c !== chid);
    member.endpoints.delete(chid);
    this.ledger.unregistered(chid);
  }

  /**
   * Reconnects the member with its UAID and channels, collecting the flush behind a barrier
   * (member.flushed). A server that forgot the UAID answers with a new one: the member then
   * registers its channels again (what a real client does) and `uaid_kept` records the loss.
   */
  async rejoin(member) {
    try {
      const uaid = await this.open(member, member.uaid, member.channels, true);
      m.uaidKept.add(uaid === member.uaid);
      if (uaid !== member.uaid) {
        this.warn(`server replaced UAID ${member.uaid} with ${uaid}`);
        member.uaid = uaid;
        const channels = member.channels;
        member.channels = [];
        for (const chid of channels) await this.register(member, chid);
      }
      member.connected = true;
      m.connectOk.add(true);
      return true;
    } catch (err) {
      m.connectOk.add(false);
      this.warn(`rejoin failed: ${err.message}`);
      if (member.client) await member.client.close(this.timeoutMs);
      return false;
    }
  }

  /** Closes the member's socket (a close we asked for). */
  async leave(member) {
    member.connected = false;
    if (member.client) await member.client.close(this.timeoutMs);
  }

  notified(member, client, updates, readAt) {
    const flushed = member.awaitingFlush && member.client === client;
    if (flushed && member.flushed.size === 0) {
      m.flushMs.add(Math.max(0, readAt - client.helloSentAt));
    }
    const acks = [];
    for (const u of updates) {
      if (typeof u.channelID !== "string" || typeof u.version !== "string") {
        this.warn(`malformed update ${JSON.stringify(u)}`);
        continue;
      }
      if (flushed) {
        member.flushed.set(u.channelID, u.version);
        if (u.data !== undefined) m.flushDataLeak.add(1);
      }
      this.ledger.received(u.channelID, u.version, readAt, flushed);
      acks.push({ channelID: u.channelID, version: u.version });
    }
    if (acks.length === 0 || !client.open) return;
    client.ack(acks);
    for (const a of acks) this.ledger.acked(a.channelID, a.version);
    if (
      !flushed &&
      Math.random() < ACK_RTT_SAMPLE &&
      Date.now() - client.lastPingAt > ACK_RTT_GAP_MS
    ) {
      client.ping(this.timeoutMs).then(
        (ms) => m.ackRttMs.add(ms),
        () => {},
      );
    }
  }

  dropped(member, client, code, reason) {
    if (member.client !== client) return; // an old socket of a member that moved on
    member.connected = false;
    member.droppedAt = Date.now();
    if (!this.expectCloses) {
      m.unexpectedCloses.add(1);
      this.warn(`unexpected close ${code} ${reason}`);
    }
    if (this.onDrop) this.onDrop(member, code);
  }

  /**
   * A random member (connected ones only, unless `anyMember`) and one of its channels with
   * no PUT in flight, or null when a few tries find none.
   */
  pickTarget(anyMember = false) {
    for (let tries = 0; tries < 8; tries++) {
      const mb = this.members[Math.floor(Math.random() * this.members.length)];
      if (mb === undefined || mb.channels.length === 0 || mb.churning) continue;
      if (!(anyMember || mb.connected)) continue;
      const chid = mb.channels[Math.floor(Math.random() * mb.channels.length)];
      if (!this.ledger.busy(chid)) return { member: mb, chid, endpoint: mb.endpoints.get(chid) };
    }
    return null;
  }

  async leaveAll() {
    await Promise.all(this.members.map((mb) => this.leave(mb)));
  }
}
