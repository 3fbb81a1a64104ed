/**
 * `Connections` in Web Push mode, driven through a fake `SocketOps` over the real memory
 * store and queue: hello without channelIDs, a keyed register (endpoint under /wpush/),
 * the hello flush (one frame per queued message, oldest first), acks by message id, and no
 * hello redirect for Web Push clients (Firefox cannot follow one).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { RedirectDecision } from "../balancer/redirect.js";
import { TokenCodec } from "../endpoint/token.js";
import { WebPushTokens } from "../endpoint/webpush-token.js";
import { createMetrics } from "../metrics.js";
import { LocalDirectory } from "../routing/directory.js";
import { MemoryStore } from "../storage/memory-store.js";
import { MemoryMessageQueue } from "../storage/message-queue-memory.js";
import { Connections } from "./connections.js";
import { type Conn, SendResult, type SocketOps } from "./socket.js";
import { WebPushSide } from "./webpush-side.js";

interface FakeSocket {
  readonly conn: Conn;
  readonly sent: string[];
  /** What `send` answers (uWS: ok, or buffered once backpressure builds up). */
  result?: (text: string) => SendResult;
}

const FIREFOX_HELLO = '{"messageType":"hello","broadcasts":{},"use_webpush":true}';
const CHID = "0f1e2d3c-4b5a-4697-8877-665544332211";
const KEY = Buffer.concat([Buffer.of(4), Buffer.alloc(64, 7)]).toString("base64url");

function setup(redirect?: () => RedirectDecision) {
  const store = new MemoryStore();
  const queue = new MemoryMessageQueue((u, c) => store.registration(u, c));
  const ops: SocketOps<FakeSocket> = {
    conn: (s) => s.conn,
    send: (s, text) => {
      s.sent.push(text);
      return s.result?.(text) ?? SendResult.ok;
    },
    close: (s, code) => connections.closed(s, code),
  };
  const codec = new TokenCodec([{ id: 1, key: Buffer.alloc(32, 5) }]);
  const metrics = createMetrics(new Registry());
  const log = pino({ level: "silent" });
  const tokens = new WebPushTokens(codec);
  const connections: Connections<FakeSocket> = new Connections<FakeSocket>({
    ops,
    store,
    directory: new LocalDirectory(),
    tokens: codec,
    metrics,
    log,
    limits: {
      pingMinIntervalMs: 0,
      pingBurst: 5,
      maxChannels: 100,
      maxNotificationBytes: 64 * 1024,
      helloTimeoutMs: 10_000,
    },
    region: "eu",
    endpointPrefix: () => "https://push.test/update/",
    mintUaid: () => "9f8e7d6c5b4a49382716a5b4c3d2e1f0",
    now: () => 1_800_000_000_000,
    ...(redirect ? { redirect } : {}),
    webpush: new WebPushSide({
      queue,
      tokens,
      region: "eu",
      endpointPrefix: () => "https://push.test/wpush/",
      metrics,
      log,
      now: () => 1_800_000_000_000,
    }),
  });
  const open = (): FakeSocket => {
    const s = { conn: connections.newConn(), sent: [] as string[] };
    connections.opened(s);
    return s;
  };
  return { store, queue, tokens, connections, open };
}

/** Lets the shell's awaited store calls run. */
const settle = () => new Promise((r) => setImmediate(r));
const frames = (s: FakeSocket) => s.sent.map((t) => JSON.parse(t) as Record<string, unknown>);

describe("Connections in Web Push mode", () => {
  it("hello, keyed register, flush one frame per message, ack by id", async () => {
    const { queue, tokens, connections, open } = setup();
    const s = open();
    connections.message(s, FIREFOX_HELLO);
    await settle();
    const [hello] = frames(s);
    assert.deepEqual(hello, {
      messageType: "hello",
      uaid: "9f8e7d6c5b4a49382716a5b4c3d2e1f0",
      status: 200,
      use_webpush: true,
      broadcasts: {},
    });
    connections.message(
      s,
      JSON.stringify({ messageType: "register", channelID: CHID, key: `${KEY}=` }),
    );
    await settle();
    const reg = frames(s)[1]!;
    assert.equal(reg.status, 200);
    const endpoint = reg.pushEndpoint as string;
    assert.ok(endpoint.startsWith("https://push.test/wpush/"));
    const target = tokens.decodeSubscription(endpoint.slice("https://push.test/wpush/".length));
    assert.ok(target?.keyHash !== undefined, "the key is sealed into the endpoint");

    const uaid = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
    const base = { channel: target.channel, channelID: CHID, headers: undefined, topic: undefined };
    for (const [i, id] of ["a".repeat(32), "b".repeat(32)].entries())
      await queue.save(
        uaid,
        { ...base, id, data: undefined, expiresAt: 1_800_000_060_000, at: i },
        { maxMessages: 10, maxBytes: 1000 },
      );
    connections.closed(s, 1000);
    const again = open();
    connections.message(again, `{"messageType":"hello","use_webpush":true,"uaid":"${uaid}"}`);
    await settle();
    await settle();
    const got = frames(again);
    assert.equal(got[0]!.uaid, uaid);
    assert.deepEqual(
      got.slice(1).map((f) => [f.messageType, f.version]),
      [
        ["notification", "a".repeat(32)],
        ["notification", "b".repeat(32)],
      ],
    );
    connections.message(
      again,
      JSON.stringify({
        messageType: "ack",
        updates: [{ channelID: CHID, version: "a".repeat(32), code: 100 }],
      }),
    );
    await settle();
    assert.deepEqual(
      (await queue.pending(uaid)).map((m) => m.id),
      ["b".repeat(32)],
    );
  });

  it("a flush never sends a socket a message it already got, directly or from an earlier flush", async () => {
    const { queue, tokens, connections, open } = setup();
    const uaid = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
    const s = open();
    connections.message(s, FIREFOX_HELLO);
    await settle();
    connections.message(s, JSON.stringify({ messageType: "register", channelID: CHID, key: KEY }));
    await settle();
    const endpoint = frames(s)[1]!.pushEndpoint as string;
    const target = tokens.decodeSubscription(endpoint.slice("https://push.test/wpush/".length))!;
    const base = { channel: target.channel, channelID: CHID, headers: undefined, topic: undefined };
    const save = (id: string, at: number) =>
      queue.save(
        uaid,
        { ...base, id, data: undefined, expiresAt: 1_800_000_060_000, at },
        { maxMessages: 10, maxBytes: 1000 },
      );
    const frame = (id: string) =>
      JSON.stringify({ messageType: "notification", channelID: CHID, version: id, ttl: 60 });
    const [a, b, c] = ["a".repeat(32), "b".repeat(32), "c".repeat(32)];
    // a: stored, then delivered directly (what a PUT does); b: stored only (its direct frame
    // went to a node that had lost the socket).
    await save(a, 0);
    assert.equal(connections.deliver(uaid, { kind: "webpush", frame: frame(a), stamp: a }), true);
    await save(b, 1);
    // A nudge or a confirmation flushes: only b goes; flushing again sends nothing.
    await connections.flush(s);
    await connections.flush(s);
    const versions = () =>
      frames(s)
        .filter((f) => f.messageType === "notification")
        .map((f) => f.version);
    assert.deepEqual(versions(), [a, b]);
    // b's direct frame arriving late (it was flushed first) is not sent again either.
    assert.equal(connections.deliver(uaid, { kind: "webpush", frame: frame(b), stamp: b }), true);
    assert.deepEqual(versions(), [a, b]);
    // Acked messages leave the queue and the socket's memory; a new one is flushed once.
    connections.message(
      s,
      JSON.stringify({
        messageType: "ack",
        updates: [
          { channelID: CHID, version: a, code: 100 },
          { channelID: CHID, version: b, code: 100 },
        ],
      }),
    );
    await settle();
    assert.equal(s.conn.webpushSent?.size, 0);
    await save(c, 2);
    await connections.flush(s);
    assert.deepEqual(versions(), [a, b, c]);
  });

  it("a flush that builds backpressure stops, and goes on once the client acked what it got", async () => {
    const { store, queue, connections, open } = setup();
    const uaid = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
    const channel = "0f1e2d3c4b5a46978877665544332211";
    await store.register(uaid, channel);
    const ids = ["1", "2", "3", "4", "5"].map((d) => d.repeat(32));
    for (const [i, id] of ids.entries())
      await queue.save(
        uaid,
        {
          id,
          channel,
          channelID: CHID,
          data: "QUJD",
          headers: { encoding: "aes128gcm" },
          topic: undefined,
          expiresAt: 1_800_000_060_000,
          at: i,
        },
        { maxMessages: 10, maxBytes: 1000 },
      );
    const s = open();
    // Every second notification frame builds backpressure.
    let n = 0;
    s.result = (t) =>
      t.includes('"notification"') && ++n % 2 === 0 ? SendResult.buffered : SendResult.ok;
    connections.message(s, `{"messageType":"hello","use_webpush":true,"uaid":"${uaid}"}`);
    await settle();
    await settle();
    const versions = () =>
      frames(s)
        .filter((f) => f.messageType === "notification")
        .map((f) => f.version);
    assert.deepEqual(versions(), ids.slice(0, 2), "stopped at the frame that built backpressure");
    const ack = (id: string) =>
      connections.message(
        s,
        JSON.stringify({
          messageType: "ack",
          updates: [{ channelID: CHID, version: id, code: 100 }],
        }),
      );
    ack(ids[0]!);
    await settle();
    assert.equal(versions().length, 2, "not before the whole batch is acked");
    ack(ids[1]!);
    for (let i = 0; i < 5; i++) await settle();
    assert.deepEqual(versions(), ids.slice(0, 4), "the next batch, without the acked ones");
    ack(ids[2]!);
    ack(ids[3]!);
    for (let i = 0; i < 5; i++) await settle();
    assert.deepEqual(versions(), ids);
    assert.equal(s.conn.gone, false, "never closed as a slow consumer");
  });

  it("never redirects a Web Push hello; a SimplePush hello still is", async () => {
    const { connections, open } = setup(() => ({ kind: "redirect", url: "ws://other:8080" }));
    const firefox = open();
    connections.message(firefox, FIREFOX_HELLO);
    await settle();
    assert.equal(frames(firefox)[0]!.status, 200);
    const legacy = open();
    connections.message(legacy, '{"messageType":"hello","channelIDs":[]}');
    await settle();
    assert.equal(frames(legacy)[0]!.status, 307);
  });
});
