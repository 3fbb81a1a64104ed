/**
 * `Connections` driven through a fake `SocketOps` (plain objects as sockets, recording what
 * is sent and how they close) over the real MemoryStore, MemoryPresence, metrics and a
 * silent logger. Like uWS's `end()`, the fake `close` runs the close handler at once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import { TokenCodec } from "../endpoint/token.js";
import { createMetrics } from "../metrics.js";
import { LocalDirectory } from "../routing/directory.js";
import { LocalRoute } from "../routing/local-route.js";
import { MemoryStore } from "../storage/memory-store.js";
import {
  type AckUpdate,
  type MessageStore,
  type PendingUpdate,
  type RegisterOutcome,
  type SaveOutcome,
  StoreError,
} from "../storage/store.js";
import { Connections } from "./connections.js";
import { type DeliverDeps, deliverUpdate, type UpdateResult } from "./deliver.js";
import { type Conn, SendResult, type SocketOps } from "./socket.js";
import { stamps } from "./stamps.js";

const PREFIX = "https://push.test/update/";
const NOW_S = 1_700_000_000n;
const CHID_A = "AAAAAAAA-0000-4000-8000-00000000000A";
const CHID_A_NORM = "aaaaaaaa00004000800000000000000a";
const CHID_B = "bbbbbbbb00004000800000000000000b";
const KNOWN_UAID = "0123456789ABCDEF0123456789abcdef";

interface FakeSocket {
  readonly conn: Conn;
  /** Frames the client received. */
  readonly sent: string[];
  readonly closes: { code: number; reason: string | undefined }[];
  /** What `send` answers for a frame (uWS: ok, buffered, dropped by backpressure). */
  result: (text: string) => SendResult;
}

type Op = keyof MessageStore;

/** The MemoryStore with switches: an operation can be held until released, or made to fail. */
class ControlledStore implements MessageStore {
  readonly inner = new MemoryStore();
  readonly failing = new Set<Op>();
  private readonly held = new Map<Op, { done: Promise<void>; release: () => void }>();

  hold(op: Op): void {
    let release!: () => void;
    const done = new Promise<void>((r) => {
      release = r;
    });
    this.held.set(op, { done, release });
  }

  release(op: Op): void {
    this.held.get(op)?.release();
    this.held.delete(op);
  }

  private async gate(op: Op): Promise<void> {
    const h = this.held.get(op);
    if (h !== undefined) await h.done;
    if (this.failing.has(op)) throw new StoreError(`${op}: backend unreachable`);
  }

  async hasUser(uaid: string): Promise<boolean> {
    await this.gate("hasUser");
    return this.inner.hasUser(uaid);
  }
  async addUser(uaid: string): Promise<void> {
    await this.gate("addUser");
    return this.inner.addUser(uaid);
  }
  async dropUser(uaid: string): Promise<void> {
    await this.gate("dropUser");
    return this.inner.dropUser(uaid);
  }
  async register(uaid: string, channel: string, maxChannels?: number): Promise<RegisterOutcome> {
    await this.gate("register");
    return this.inner.register(uaid, channel, maxChannels);
  }
  async unregister(uaid: string, channel: string): Promise<void> {
    await this.gate("unregister");
    return this.inner.unregister(uaid, channel);
  }
  async channelCount(uaid: string): Promise<number> {
    await this.gate("channelCount");
    return this.inner.channelCount(uaid);
  }
  async savePending(
    uaid: string,
    channel: string,
    channelID: string,
    version: bigint,
    ttlSeconds: number,
  ): Promise<SaveOutcome> {
    await this.gate("savePending");
    return this.inner.savePending(uaid, channel, channelID, version, ttlSeconds);
  }
  async pending(uaid: string): Promise<PendingUpdate[]> {
    await this.gate("pending");
    return this.inner.pending(uaid);
  }
  async ack(uaid: string, updates: readonly AckUpdate[]): Promise<void> {
    await this.gate("ack");
    return this.inner.ack(uaid, updates);
  }
  async healthy(): Promise<boolean> {
    return !this.failing.has("healthy");
  }
  async close(): Promise<void> {}
}

/** Lets every store call that can complete complete (MemoryStore resolves in microtasks). */
function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function node(opts: { maxChannels?: number } = {}) {
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const log = pino({ level: "silent" });
  const store = new ControlledStore();
  let connections: Connections<FakeSocket> | undefined;
  // Local routing: the frame goes to the socket holding the UAID, through Connections.
  const tokens = new TokenCodec([{ id: 1, key: Buffer.alloc(32, 7) }]);
  let minted = 0;
  const ops: SocketOps<FakeSocket> = {
    conn: (s) => s.conn,
    send(s, text) {
      if (s.conn.gone) return SendResult.closed;
      const r = s.result(text);
      if (r === SendResult.ok || r === SendResult.buffered) s.sent.push(text);
      return r;
    },
    close(s, code, reason) {
      if (s.conn.gone) return;
      s.closes.push({ code, reason });
      connections!.closed(s, code);
    },
  };
  connections = new Connections<FakeSocket>({
    ops,
    store,
    directory: new LocalDirectory(),
    tokens,
    metrics,
    log,
    limits: {
      pingMinIntervalMs: 0,
      pingBurst: 5,
      maxChannels: opts.maxChannels ?? 100,
      maxNotificationBytes: 64 * 1024,
      helloTimeoutMs: 10_000,
    },
    region: "local",
    endpointPrefix: () => PREFIX,
    mintUaid: () => (++minted).toString(16).padStart(32, "0"),
    now: () => 0,
  });
  const c = connections;
  const presence = c.sockets;
  const route = new LocalRoute(c);
  const deliverDeps: DeliverDeps = {
    store,
    route,
    tokens,
    metrics,
    log,
    region: "local",
    pendingTtlSeconds: 3600,
    nowSeconds: () => NOW_S,
    perfNow: () => 0,
    stamp: stamps(),
  };

  function connect(): FakeSocket {
    const s: FakeSocket = {
      conn: c.newConn(),
      sent: [],
      closes: [],
      result: () => SendResult.ok,
    };
    c.opened(s);
    return s;
  }

  return {
    registry,
    store,
    presence,
    connections: c,
    connect,
    /** Sends one text frame from the client. */
    frame(s: FakeSocket, text: string | object): void {
      c.message(s, typeof text === "string" ? text : JSON.stringify(text));
    },
    /** hello, resolved; returns the UAID the server gave. */
    async hello(s: FakeSocket, uaid = "", channelIDs: string[] = []): Promise<string> {
      c.message(s, JSON.stringify({ messageType: "hello", uaid, channelIDs }));
      await settle();
      const hello = s.sent.map((t) => JSON.parse(t)).find((m) => m.messageType === "hello");
      assert.equal(hello?.status, 200, `hello reply: ${s.sent.join(" | ")}`);
      return hello.uaid;
    },
    /** register, resolved; returns the pushEndpoint. */
    async register(s: FakeSocket, channelID: string): Promise<string> {
      c.message(s, JSON.stringify({ messageType: "register", channelID }));
      await settle();
      const reply = JSON.parse(s.sent.at(-1)!);
      assert.equal(reply.messageType, "register");
      assert.equal(reply.status, 200, s.sent.at(-1));
      return reply.pushEndpoint;
    },
    put(endpoint: string, body: string, contentType = ""): Promise<UpdateResult> {
      assert.ok(endpoint.startsWith(PREFIX), endpoint);
      return deliverUpdate(deliverDeps, {
        token: endpoint.slice(PREFIX.length),
        contentType,
        body,
        query: "",
        startedAt: 0,
      });
    },
  };
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const m = registry.getSingleMetric(name);
  assert.ok(m, name);
  const { values } = await m.get();
  const v = values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

const json = (t: string | undefined) => JSON.parse(t ?? "null");

describe("Connections: the client's life", () => {
  it("hello → register → PUT → notification → ack", async () => {
    const n = node();
    const s = n.connect();
    n.frame(s, { messageType: "hello", uaid: "", channelIDs: [] });
    await settle();
    const uaid = "00000000000000000000000000000001";
    assert.deepEqual(s.sent, [`{"messageType":"hello","uaid":"${uaid}","status":200}`]);

    const endpoint = await n.register(s, CHID_A);
    const reg = json(s.sent[1]);
    assert.deepEqual(
      { ...reg, pushEndpoint: undefined },
      { messageType: "register", uaid, status: 200, channelID: CHID_A, pushEndpoint: undefined },
    );
    assert.match(endpoint, /^https:\/\/push\.test\/update\/[A-Za-z0-9_-]+$/);

    assert.deepEqual(await n.put(endpoint, "version=5"), { status: 200 });
    assert.equal(
      s.sent[2],
      `{"messageType":"notification","updates":[{"channelID":"${CHID_A}","version":5}]}`,
    );
    assert.deepEqual(await n.store.inner.pending(uaid), [{ channelID: CHID_A, version: 5n }]);

    // The client acks in its own (lower-case, undashed) spelling; ack gets no reply.
    n.frame(s, { messageType: "ack", updates: [{ channelID: CHID_A_NORM, version: 5 }] });
    await settle();
    assert.equal(s.sent.length, 3);
    assert.deepEqual(await n.store.inner.pending(uaid), []);
    assert.deepEqual(s.closes, []);

    // Reconnect: nothing to flush.
    n.connections.closed(s, 1006);
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID_A]);
    assert.deepEqual(s2.sent, [`{"messageType":"hello","uaid":"${uaid}","status":200}`]);
    assert.equal(await metric(n.registry, "edition_notifications_total", { outcome: "acked" }), 1);
  });

  it("an ack immediately followed by a disconnect is durable before the close is handled", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_B);
    await n.put(endpoint, "version=9");
    n.frame(s, { messageType: "ack", updates: [{ channelID: CHID_B, version: "9" }] });
    n.connections.closed(s, 1006);
    await settle();
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID_B]);
    assert.equal(s2.sent.length, 1, `no redelivery: ${s2.sent.join(" | ")}`);
  });

  it("a flush asked for again (routing change) never re-sends what the socket acked, even while the ack is still being stored", async () => {
    const n = node();
    const s = n.connect();
    await n.hello(s);
    const endpoint = await n.register(s, CHID_A);
    await n.put(endpoint, "version=100");
    n.store.hold("ack");
    n.frame(s, { messageType: "ack", updates: [{ channelID: CHID_A_NORM, version: 100 }] });
    await settle();
    const before = s.sent.length;
    // A flush after a new confirmation (routing change) before the ack landed.
    await n.connections.flush(s);
    assert.deepEqual(s.sent.slice(before), [], "the acked update is not handed back");
    n.store.release("ack");
    await settle();
    // A newer update for the channel still goes out.
    await n.put(endpoint, "version=101");
    assert.equal(
      s.sent.at(-1),
      `{"messageType":"notification","updates":[{"channelID":"${CHID_A}","version":101}]}`,
    );
  });

  it("a flush asked for again right after a direct delivery does not send that update twice", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_A);
    assert.equal((await n.put(endpoint, "version=100")).status, 200);
    const before = s.sent.length;
    // No ack yet: the update is still pending when the owner asks for a flush again.
    await n.connections.flush(s);
    assert.deepEqual(s.sent.slice(before), [], "not re-sent on the same socket");
    // A reconnecting client (a new socket) still gets it.
    n.connections.closed(s, 1006);
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID_A]);
    assert.equal(
      s2.sent.at(-1),
      `{"messageType":"notification","updates":[{"channelID":"${CHID_A}","version":100}]}`,
    );
  });

  it("a stored update the flush sent is not sent again when its own direct frame arrives later; a new PUT with the same version is", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    await n.register(s, CHID_A);
    // The PUT stored its update (stamp "p1") but its route has not reached the socket yet.
    assert.equal(
      await n.store.inner.savePending(uaid, CHID_A_NORM, CHID_A, 7n, 60, "p1"),
      "stored",
    );
    const before = s.sent.length;
    await n.connections.flush(s);
    const frame = `{"messageType":"notification","updates":[{"channelID":"${CHID_A}","version":7}]}`;
    assert.deepEqual(s.sent.slice(before), [frame]);
    // Its direct frame now arrives: the socket has that very update already.
    const push = (stamp: string, data?: string) =>
      ({ kind: "simplepush", channelID: CHID_A, version: 7n, data, stamp }) as const;
    assert.equal(n.connections.deliver(uaid, push("p1")), true);
    assert.deepEqual(s.sent.slice(before), [frame], "not sent twice on the same socket");
    // Another PUT with the same version is another update: it goes out.
    assert.equal(n.connections.deliver(uaid, push("p2")), true);
    assert.deepEqual(s.sent.slice(before), [frame, frame]);
    // A direct frame with data goes even when the flush sent its version: the data is new.
    const withData = `{"messageType":"notification","updates":[{"channelID":"${CHID_A}","version":7,"data":"hi"}]}`;
    await n.store.inner.savePending(uaid, CHID_A_NORM, CHID_A, 7n, 60, "p3");
    await n.connections.flush(s);
    assert.equal(n.connections.deliver(uaid, push("p3", "hi")), true);
    assert.deepEqual(s.sent.slice(before + 2), [frame, withData]);
    // And a later flush does not hand back any of them.
    await n.connections.flush(s);
    assert.equal(s.sent.length, before + 4);
  });

  it("an ack with a lower version than the pending one leaves it pending", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_B);
    await n.put(endpoint, "version=9");
    await n.put(endpoint, "version=12");
    n.frame(s, { messageType: "ack", updates: [{ channelID: CHID_B, version: 9 }] });
    await settle();
    assert.deepEqual(await n.store.inner.pending(uaid), [{ channelID: CHID_B, version: 12n }]);
  });

  it("flushes every pending update in one notification right after the hello reply", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const a = await n.register(s, CHID_A);
    const b = await n.register(s, CHID_B);
    n.connections.closed(s, 1006);

    assert.equal((await n.put(a, "version=18446744073709551615&data=hi")).status, 202);
    assert.equal((await n.put(b, "version=3")).status, 202);
    assert.equal((await n.put(b, "version=4")).status, 202);

    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID_A, CHID_B]);
    assert.equal(s2.sent.length, 2);
    assert.equal(s2.sent[0], `{"messageType":"hello","uaid":"${uaid}","status":200}`);
    const note = s2.sent[1]!;
    assert.ok(note.includes(`{"channelID":"${CHID_A}","version":18446744073709551615}`), note);
    assert.ok(!note.includes('"data"'), "stored updates carry no data");
    const parsed = json(note);
    assert.equal(parsed.messageType, "notification");
    assert.deepEqual(
      parsed.updates.map((u: { channelID: string }) => u.channelID).sort(),
      [CHID_A, CHID_B].sort(),
    );
    assert.equal(
      parsed.updates.find((u: { channelID: string }) => u.channelID === CHID_B).version,
      4,
    );
    assert.equal(
      await metric(n.registry, "edition_notifications_total", { outcome: "flushed" }),
      2,
    );
    // Unacked updates are not re-sent on the same socket, but flushed at the next hello.
    n.connections.closed(s2, 1000);
    const s3 = n.connect();
    await n.hello(s3, uaid, [CHID_A, CHID_B]);
    assert.equal(s3.sent.length, 2);
  });

  it("keeps a valid unknown UAID sent with no channels, echoing its spelling", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s, KNOWN_UAID, []);
    assert.equal(uaid, KNOWN_UAID);
    assert.equal(await n.store.inner.hasUser(KNOWN_UAID.toLowerCase()), true);
    await n.register(s, CHID_B);
    assert.equal(json(s.sent[1]).uaid, KNOWN_UAID);
  });

  it("mints a new UAID for an unknown one sent with channels", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s, KNOWN_UAID, [CHID_B]);
    assert.equal(uaid, "00000000000000000000000000000001");
    assert.equal(await n.store.inner.hasUser(KNOWN_UAID.toLowerCase()), false);
  });

  it("a known UAID over the channel limit gets a new UAID, and its old endpoints answer 410", async () => {
    const n = node({ maxChannels: 2 });
    const s = n.connect();
    const old = await n.hello(s);
    const endpoint = await n.register(s, CHID_B);
    n.connections.closed(s, 1000);
    const s2 = n.connect();
    const fresh = await n.hello(s2, old, [CHID_A, CHID_B, KNOWN_UAID]);
    assert.notEqual(fresh, old);
    assert.equal((await n.put(endpoint, "version=1")).status, 410);
  });

  it("a binary frame closes the socket with 1003", async () => {
    const n = node();
    const s = n.connect();
    await n.hello(s);
    n.connections.binary(s);
    assert.deepEqual(s.closes, [{ code: 1003, reason: undefined }]);
  });
});

describe("Connections: takeover", () => {
  it("a second socket for the same UAID wins; the older one is closed with 4000", async () => {
    const n = node();
    const s1 = n.connect();
    const uaid = await n.hello(s1);
    const endpoint = await n.register(s1, CHID_A);
    const s2 = n.connect();
    assert.equal(await n.hello(s2, uaid, [CHID_A]), uaid);
    assert.deepEqual(s1.closes, [{ code: 4000, reason: "replaced" }]);
    assert.deepEqual(s2.closes, []);

    const before = s1.sent.length;
    assert.equal((await n.put(endpoint, "version=2")).status, 200);
    assert.equal(s1.sent.length, before, "nothing more on the replaced socket");
    assert.equal(
      s2.sent.at(-1),
      `{"messageType":"notification","updates":[{"channelID":"${CHID_A}","version":2}]}`,
    );
    assert.equal(n.presence.find(uaid), s2, "the old socket's close did not release the new one");
    assert.equal(
      await metric(n.registry, "edition_connections_closed_total", { reason: "replaced" }),
      1,
    );
  });

  it("a third socket replaces the second, and the first's late close changes nothing", async () => {
    const n = node();
    const s1 = n.connect();
    const uaid = await n.hello(s1);
    const s2 = n.connect();
    await n.hello(s2, uaid);
    const s3 = n.connect();
    await n.hello(s3, uaid);
    assert.equal(s2.closes[0]?.code, 4000);
    n.connections.closed(s1, 1006); // already gone: a no-op for presence
    assert.equal(n.presence.find(uaid), s3);
  });
});

describe("Connections: frames that arrive while a hello resolves", () => {
  it("are queued and replayed in order after the hello reply", async () => {
    const n = node();
    n.store.hold("addUser");
    const s = n.connect();
    n.frame(s, { messageType: "hello", uaid: "", channelIDs: [] });
    n.frame(s, { messageType: "register", channelID: CHID_A });
    n.frame(s, "{}");
    n.frame(s, { messageType: "register", channelID: CHID_B });
    n.frame(s, { messageType: "unregister", channelID: CHID_A });
    await settle();
    assert.equal(s.sent.length, 0, "nothing answered before the hello");
    n.store.release("addUser");
    await settle();

    const uaid = "00000000000000000000000000000001";
    assert.equal(s.sent[0], `{"messageType":"hello","uaid":"${uaid}","status":200}`);
    assert.ok(s.sent.includes("{}"), "the ping was answered");
    const replies = s.sent
      .slice(1)
      .filter((t) => t !== "{}")
      .map(json);
    assert.deepEqual(
      replies.map((r) => [r.messageType, r.channelID, r.status]),
      [
        ["register", CHID_A, 200],
        ["register", CHID_B, 200],
        ["unregister", CHID_A, 200],
      ],
    );
    // The unregister ran after the register it followed.
    assert.equal(await n.store.inner.channelCount(uaid), 1);
    assert.equal((await n.put(replies[0].pushEndpoint, "version=1")).status, 404);
    assert.equal((await n.put(replies[1].pushEndpoint, "version=1")).status, 200);
    assert.deepEqual(s.closes, []);
  });

  it("a queued frame that ends the socket stops the replay there", async () => {
    const n = node();
    n.store.hold("addUser");
    const s = n.connect();
    n.frame(s, { messageType: "hello", channelIDs: [] });
    n.frame(s, { messageType: "register", channelID: CHID_A });
    n.frame(s, "not json");
    n.frame(s, { messageType: "register", channelID: CHID_B });
    n.store.release("addUser");
    await settle();
    assert.deepEqual(s.closes, [{ code: 1003, reason: undefined }]);
    const uaid = "00000000000000000000000000000001";
    assert.equal(await n.store.inner.savePending(uaid, CHID_B, CHID_B, 1n, 60), "unregistered");
  });

  it("32 queued frames are all replayed", async () => {
    const n = node();
    n.store.hold("addUser");
    const s = n.connect();
    n.frame(s, { messageType: "hello", channelIDs: [] });
    for (let i = 0; i < 32; i++) n.frame(s, "{}");
    n.store.release("addUser");
    await settle();
    assert.deepEqual(s.closes, []);
    assert.equal(s.sent.length, 33);
    assert.equal(s.sent.filter((t) => t === "{}").length, 32);
  });

  it("more than 32 queued frames close the socket, and the hello is never answered", async () => {
    const n = node();
    n.store.hold("addUser");
    const s = n.connect();
    n.frame(s, { messageType: "hello", channelIDs: [] });
    for (let i = 0; i < 33; i++) n.frame(s, "{}");
    assert.deepEqual(s.closes, [{ code: 1000, reason: undefined }]);
    n.store.release("addUser");
    await settle();
    assert.equal(s.sent.length, 0);
    assert.equal(n.presence.size, 0);
    assert.equal(n.connections.size, 0);
  });

  it("a client that leaves before its hello resolves is never claimed or answered", async () => {
    const n = node();
    n.store.hold("hasUser");
    const s = n.connect();
    n.frame(s, { messageType: "hello", uaid: KNOWN_UAID, channelIDs: [] });
    n.connections.closed(s, 1006);
    n.store.release("hasUser");
    await settle();
    assert.equal(s.sent.length, 0);
    assert.equal(n.presence.size, 0);
    assert.equal(n.connections.size, 0);
    assert.equal(await metric(n.registry, "edition_connections"), 0);
  });

  it("a PUT that lands after the hello reply but before the flush is delivered directly", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_B);
    n.connections.closed(s, 1006);
    await n.put(endpoint, "version=1");

    n.store.hold("pending");
    const s2 = n.connect();
    n.frame(s2, { messageType: "hello", uaid, channelIDs: [CHID_B] });
    await settle();
    assert.equal(json(s2.sent[0]).status, 200);
    assert.equal((await n.put(endpoint, "version=2")).status, 200);
    n.store.release("pending");
    await settle();
    // Direct delivery of 2; the flush (which now holds 2) does not send it again on this
    // socket: "unacked updates are not re-sent on the same socket".
    assert.deepEqual(
      s2.sent.slice(1).map((t) => json(t).updates),
      [[{ channelID: CHID_B, version: 2 }]],
    );
  });
});

describe("Connections: store failures", () => {
  for (const op of ["hasUser", "addUser"] as const) {
    it(`hello whose ${op} fails → 503 echo and close`, async () => {
      const n = node();
      n.store.failing.add(op);
      const s = n.connect();
      const hello = `{"messageType":"hello","uaid":"${op === "hasUser" ? KNOWN_UAID : ""}","channelIDs":[]}`;
      n.frame(s, hello);
      await settle();
      assert.deepEqual(s.sent, [
        `${hello.slice(0, -1)},"status":503,"error":"Service Unavailable"}`,
      ]);
      assert.deepEqual(s.closes, [{ code: 1000, reason: undefined }]);
      assert.equal(n.presence.size, 0);
      assert.equal(await metric(n.registry, "edition_hellos_total", { outcome: "store_error" }), 1);
    });
  }

  it("register whose store fails → 503 echo (as at hello) and close", async () => {
    const n = node();
    const s = n.connect();
    await n.hello(s);
    n.store.failing.add("register");
    const frame = `{"messageType":"register","channelID":"${CHID_A}"}`;
    n.frame(s, frame);
    await settle();
    assert.equal(s.sent[1], `${frame.slice(0, -1)},"status":503,"error":"Service Unavailable"}`);
    assert.deepEqual(s.closes, [{ code: 1000, reason: undefined }]);
    assert.equal(
      await metric(n.registry, "edition_store_errors_total", { operation: "register" }),
      1,
    );
  });

  it("unregister whose store fails → 503 echo and close; the registration stays", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_A);
    n.store.failing.add("unregister");
    const frame = `{"messageType":"unregister","channelID":"${CHID_A}"}`;
    n.frame(s, frame);
    await settle();
    assert.equal(s.sent[2], `${frame.slice(0, -1)},"status":503,"error":"Service Unavailable"}`);
    assert.deepEqual(s.closes, [{ code: 1000, reason: undefined }]);
    assert.equal((await n.put(endpoint, "version=1")).status, 202);
    assert.equal(await n.store.inner.channelCount(uaid), 1);
  });

  it("a failed flush at hello still answers 200 and keeps the socket usable", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_A);
    n.connections.closed(s, 1006);
    await n.put(endpoint, "version=1");
    n.store.failing.add("pending");
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID_A]);
    assert.equal(s2.sent.length, 1);
    assert.deepEqual(s2.closes, []);
    await n.register(s2, CHID_B);
    n.store.failing.delete("pending");
    n.connections.closed(s2, 1006);
    const s3 = n.connect();
    await n.hello(s3, uaid, [CHID_A, CHID_B]);
    assert.equal(json(s3.sent[1]).updates.length, 1, "the update was not lost");
  });

  it("a failed ack keeps the socket and the update, which is flushed at the next hello", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_A);
    await n.put(endpoint, "version=1");
    n.store.failing.add("ack");
    n.frame(s, { messageType: "ack", updates: [{ channelID: CHID_A, version: 1 }] });
    await settle();
    assert.deepEqual(s.closes, []);
    assert.equal(s.sent.length, 3, "no reply to an ack");
    n.connections.closed(s, 1006);
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID_A]);
    assert.deepEqual(json(s2.sent[1]).updates, [{ channelID: CHID_A, version: 1 }]);
  });
});

describe("Connections: slow clients", () => {
  it("a flush refused by backpressure closes the socket with 1013; the update stays pending", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_A);
    n.connections.closed(s, 1006);
    await n.put(endpoint, "version=1");
    const s2 = n.connect();
    s2.result = (t) => (t.includes('"notification"') ? SendResult.dropped : SendResult.ok);
    n.frame(s2, { messageType: "hello", uaid, channelIDs: [CHID_A] });
    await settle();
    assert.equal(json(s2.sent[0]).status, 200);
    assert.deepEqual(s2.closes, [{ code: 1013, reason: "slow consumer" }]);
    assert.deepEqual(await n.store.inner.pending(uaid), [{ channelID: CHID_A, version: 1n }]);
    assert.equal(await metric(n.registry, "edition_backpressure_events_total"), 1);
  });

  it("a buffered flush counts as sent", async () => {
    const n = node();
    const s = n.connect();
    const uaid = await n.hello(s);
    const endpoint = await n.register(s, CHID_A);
    n.connections.closed(s, 1006);
    await n.put(endpoint, "version=1");
    const s2 = n.connect();
    s2.result = () => SendResult.buffered;
    await n.hello(s2, uaid, [CHID_A]);
    assert.equal(s2.sent.length, 2);
    assert.deepEqual(s2.closes, []);
  });
});

describe("Connections: bookkeeping", () => {
  it("counts open sockets and lists them all for a drain, helloed or not", async () => {
    const n = node();
    const anon = n.connect();
    const helloed = n.connect();
    await n.hello(helloed);
    const gone = n.connect();
    await n.hello(gone);
    n.connections.closed(gone, 1001);
    assert.equal(n.connections.size, 2);
    assert.deepEqual(new Set(n.connections.all()), new Set([anon, helloed]));
    assert.equal(await metric(n.registry, "edition_connections"), 2);
    assert.equal(await metric(n.registry, "edition_connections_opened_total"), 3);
    assert.equal(
      await metric(n.registry, "edition_connections_closed_total", { reason: "going_away" }),
      1,
    );
  });
});
