/**
 * `deliverUpdate` (PUT /update/<token>) over the real MemoryStore, MemoryPresence routing,
 * `Connections`, metrics and a silent logger, with clients as fake sockets (plain objects
 * recording what they receive and how they close; like uWS's `end()`, the fake `close`
 * runs the close handler at once).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import { TokenCodec } from "../endpoint/token.js";
import { createMetrics } from "../metrics.js";
import { LocalDirectory } from "../routing/directory.js";
import { LocalRoute } from "../routing/local-route.js";
import type { Route } from "../routing/route.js";
import { MemoryStore } from "../storage/memory-store.js";
import { type MessageStore, StoreError } from "../storage/store.js";
import { Connections } from "./connections.js";
import { type DeliverDeps, deliverUpdate, type UpdateResult } from "./deliver.js";
import { type Conn, SendResult, type SocketOps } from "./socket.js";

const PREFIX = "https://push.test/update/";
const NOW_S = 1_700_000_000n;
const KEY = { id: 1, key: Buffer.alloc(32, 7) };
const CHID = "CCCCCCCC-0000-4000-8000-00000000000C";
const CHID_NORM = "cccccccc00004000800000000000000c";
const OTHER_CHID = "dddddddd00004000800000000000000d";

interface FakeSocket {
  readonly conn: Conn;
  readonly sent: string[];
  readonly closes: { code: number; reason: string | undefined }[];
  result: SendResult;
}

/** The MemoryStore, with the operations named in `failing` throwing StoreError. */
function withFailures(inner: MemoryStore, failing: Set<string>): MessageStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (failing.has(String(prop))) {
        return async () => {
          throw new StoreError(`${String(prop)}: backend unreachable`);
        };
      }
      return v.bind(target);
    },
  });
}

function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function node(opts: { route?: (local: Route) => Route } = {}) {
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const log = pino({ level: "silent" });
  const mem = new MemoryStore();
  const failing = new Set<string>();
  const store = withFailures(mem, failing);
  const tokens = new TokenCodec([KEY]);
  let connections: Connections<FakeSocket> | undefined;
  const ops: SocketOps<FakeSocket> = {
    conn: (s) => s.conn,
    send(s, text) {
      if (s.conn.gone) return SendResult.closed;
      if (s.result === SendResult.ok || s.result === SendResult.buffered) s.sent.push(text);
      return s.result;
    },
    close(s, code, reason) {
      if (s.conn.gone) return;
      s.closes.push({ code, reason });
      connections!.closed(s, code);
    },
  };
  let minted = 0;
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
      maxChannels: 100,
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
  let perf = 0;
  const deps: DeliverDeps = {
    store,
    route: opts.route ? opts.route(route) : route,
    tokens,
    metrics,
    log,
    region: "local",
    pendingTtlSeconds: 3600,
    nowSeconds: () => NOW_S,
    perfNow: () => perf,
  };

  function connect(): FakeSocket {
    const s: FakeSocket = { conn: c.newConn(), sent: [], closes: [], result: SendResult.ok };
    c.opened(s);
    return s;
  }

  return {
    registry,
    mem,
    failing,
    presence,
    connections: c,
    tokens,
    connect,
    setPerf(ms: number) {
      perf = ms;
    },
    async hello(s: FakeSocket, uaid = "", channelIDs: string[] = []): Promise<string> {
      c.message(s, JSON.stringify({ messageType: "hello", uaid, channelIDs }));
      await settle();
      const reply = JSON.parse(s.sent[0]!);
      assert.equal(reply.status, 200);
      return reply.uaid;
    },
    async register(s: FakeSocket, channelID: string): Promise<string> {
      c.message(s, JSON.stringify({ messageType: "register", channelID }));
      await settle();
      const reply = JSON.parse(s.sent.at(-1)!);
      assert.equal(reply.status, 200);
      return reply.pushEndpoint.slice(PREFIX.length);
    },
    /** A client that said hello and registered CHID; returns its socket, UAID and token. */
    async client() {
      const s = connect();
      const uaid = await this.hello(s);
      const token = await this.register(s, CHID);
      return { s, uaid, token, before: s.sent.length };
    },
    put(
      token: string,
      body: string,
      more: { contentType?: string; query?: string; startedAt?: number } = {},
    ): Promise<UpdateResult> {
      return deliverUpdate(deps, {
        token,
        contentType: more.contentType ?? "",
        body,
        query: more.query ?? "",
        startedAt: more.startedAt ?? 0,
      });
    },
  };
}

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const m = registry.getSingleMetric(name);
  assert.ok(m, name);
  const { values } = await m.get();
  const v = values.find(
    (x) =>
      Object.entries(labels).every(([k, l]) => x.labels[k] === l) &&
      (x as { metricName?: string }).metricName !== `${name}_bucket`,
  );
  return v?.value ?? 0;
}

const frame = (version: string, data?: string) =>
  `{"messageType":"notification","updates":[{"channelID":"${CHID}","version":${version}${
    data === undefined ? "" : `,"data":${JSON.stringify(data)}`
  }}]}`;

describe("deliverUpdate: a connected client", () => {
  it("200: the live socket gets one notification, and the update is stored until acked", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    n.setPerf(12);
    assert.deepEqual(await n.put(token, "version=5", { startedAt: 10 }), { status: 200 });
    assert.deepEqual(s.sent.slice(before), [frame("5")]);
    assert.deepEqual(await n.mem.pending(uaid), [{ channelID: CHID, version: 5n }]);
    assert.equal(
      await metric(n.registry, "edition_notifications_total", { outcome: "delivered" }),
      1,
    );
    const hist = await n.registry.getSingleMetric("edition_put_to_socket_seconds")!.get();
    const count = hist.values.find((v) =>
      (v as { metricName?: string }).metricName?.endsWith("_count"),
    );
    const sum = hist.values.find((v) =>
      (v as { metricName?: string }).metricName?.endsWith("_sum"),
    );
    assert.equal(count?.value, 1);
    assert.equal(sum?.value, 0.002, "PUT → socket latency in seconds");
  });

  it("includes data on direct delivery only, JSON-escaped; it is never stored", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    const data = 'say "hi" \\ é 😀\n</script>';
    const body = `version=7&data=${encodeURIComponent(data)}`;
    assert.equal((await n.put(token, body)).status, 200);
    assert.equal(s.sent[before], frame("7", data));
    assert.equal(JSON.parse(s.sent[before]!).updates[0].data, data);

    n.connections.closed(s, 1006);
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID]);
    assert.equal(s2.sent[1], frame("7"), "flushed later without data");
  });

  it("never drops a direct update whose version is lower than one sent before", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    await n.put(token, "version=10");
    assert.equal((await n.put(token, "version=5")).status, 200);
    assert.deepEqual(s.sent.slice(before), [frame("10"), frame("5")]);
    assert.deepEqual(await n.mem.pending(uaid), [{ channelID: CHID, version: 5n }]);
  });

  it("writes 2^64 − 1 digit for digit", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    await n.put(token, "version=18446744073709551615");
    assert.equal(s.sent[before], frame("18446744073709551615"));
    assert.deepEqual(await n.mem.pending(uaid), [
      { channelID: CHID, version: 18446744073709551615n },
    ]);
  });

  it("version missing, empty or 0 → the server's time in seconds", async () => {
    const n = node();
    const { s, token, before } = await n.client();
    for (const body of ["", "version=", "version=0"]) {
      assert.equal((await n.put(token, body)).status, 200);
    }
    assert.deepEqual(s.sent.slice(before), [
      frame("1700000000"),
      frame("1700000000"),
      frame("1700000000"),
    ]);
  });

  it("version from the query string; a non-form body is ignored", async () => {
    const n = node();
    const { s, token, before } = await n.client();
    assert.equal((await n.put(token, "", { query: "version=33" })).status, 200);
    assert.equal(
      (await n.put(token, "version=44&data=x", { contentType: "application/json" })).status,
      200,
    );
    assert.equal(
      (
        await n.put(token, "version=45&data=y", {
          contentType: "application/x-www-form-urlencoded; charset=utf-8",
        })
      ).status,
      200,
    );
    assert.deepEqual(s.sent.slice(before), [frame("33"), frame("1700000000"), frame("45", "y")]);
  });

  it("a buffered send still counts as delivered (200)", async () => {
    const n = node();
    const { s, token } = await n.client();
    s.result = SendResult.buffered;
    assert.equal((await n.put(token, "version=1")).status, 200);
    assert.deepEqual(s.closes, []);
  });

  it("the channelID in the frame is the client's spelling; an ack in another spelling clears it", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    await n.put(token, "version=3");
    assert.equal(JSON.parse(s.sent[before]!).updates[0].channelID, CHID);
    n.connections.message(
      s,
      JSON.stringify({ messageType: "ack", updates: [{ channelID: CHID_NORM, version: 3 }] }),
    );
    await settle();
    assert.deepEqual(await n.mem.pending(uaid), []);
  });
});

describe("deliverUpdate: no live socket", () => {
  it("202: stored, then flushed at the next hello", async () => {
    const n = node();
    const { s, uaid, token } = await n.client();
    n.connections.closed(s, 1006);
    assert.deepEqual(await n.put(token, "version=8&data=lost"), { status: 202 });
    assert.equal(await metric(n.registry, "edition_notifications_total", { outcome: "stored" }), 1);
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID]);
    assert.deepEqual(s2.sent.slice(1), [frame("8")]);
  });

  it("a socket closed by the transport → 202, nothing sent on it", async () => {
    const n = node();
    const { s, token, before } = await n.client();
    n.connections.closed(s, 1001);
    assert.equal((await n.put(token, "version=1")).status, 202);
    assert.equal(s.sent.length, before);
    assert.equal(n.presence.size, 0);
  });

  it("a PUT racing a disconnect (send reports the socket closed) → 202, still pending", async () => {
    const n = node();
    const { s, uaid, token } = await n.client();
    s.result = SendResult.closed;
    assert.equal((await n.put(token, "version=2")).status, 202);
    assert.deepEqual(s.closes, [], "a socket already closing is not closed again");
    assert.deepEqual(await n.mem.pending(uaid), [{ channelID: CHID, version: 2n }]);
  });

  it("backpressure: the socket is closed with 1013, the PUT gets 202, the update waits for the next hello", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    s.result = SendResult.dropped;
    assert.deepEqual(await n.put(token, "version=6"), { status: 202 });
    assert.deepEqual(s.closes, [{ code: 1013, reason: "slow consumer" }]);
    assert.equal(s.sent.length, before);
    assert.deepEqual(await n.mem.pending(uaid), [{ channelID: CHID, version: 6n }]);
    assert.equal(n.presence.find(uaid), undefined);
    assert.equal(await metric(n.registry, "edition_backpressure_events_total"), 1);
    assert.equal(
      await metric(n.registry, "edition_notifications_total", { outcome: "dropped" }),
      1,
    );
    assert.equal(
      await metric(n.registry, "edition_connections_closed_total", { reason: "slow_consumer" }),
      1,
    );

    // A later PUT before the client is back: stored, 202.
    assert.equal((await n.put(token, "version=7")).status, 202);
    const s2 = n.connect();
    await n.hello(s2, uaid, [CHID]);
    assert.deepEqual(s2.sent.slice(1), [frame("7")]);
  });

  it("a route that cannot reach the holder's node → 202 (stored)", async () => {
    const n = node({
      route: () => ({ route: () => "unreachable", shedding: () => false }),
    });
    const { s, uaid, token, before } = await n.client();
    assert.equal((await n.put(token, "version=4")).status, 202);
    assert.equal(s.sent.length, before);
    assert.deepEqual(await n.mem.pending(uaid), [{ channelID: CHID, version: 4n }]);
  });
});

describe("deliverUpdate: refusals", () => {
  it("404 for a token that does not decode", async () => {
    const n = node();
    const { token } = await n.client();
    for (const t of ["", "garbage", `${token}A`, token.slice(0, -1), "A".repeat(600)]) {
      assert.equal((await n.put(t, "version=1")).status, 404, t.slice(0, 20));
    }
  });

  it("404 for a token minted with a key this node does not have", async () => {
    const n = node();
    const { uaid } = await n.client();
    const foreign = new TokenCodec([{ id: 1, key: Buffer.alloc(32, 8) }]).encode({
      region: "local",
      uaid,
      channelID: CHID,
    });
    assert.equal((await n.put(foreign, "version=1")).status, 404);
  });

  it("404 for a token of another region", async () => {
    const n = node();
    const { s, uaid, before } = await n.client();
    const elsewhere = n.tokens.encode({ region: "eu-west-1", uaid, channelID: CHID });
    assert.equal((await n.put(elsewhere, "version=1")).status, 404);
    assert.equal(s.sent.length, before);
  });

  it("404 for a channel that was never registered; nothing is stored or sent", async () => {
    const n = node();
    const { s, uaid, before } = await n.client();
    const t = n.tokens.encode({ region: "local", uaid, channelID: OTHER_CHID });
    assert.equal((await n.put(t, "version=1")).status, 404);
    assert.equal(s.sent.length, before);
    assert.deepEqual(await n.mem.pending(uaid), []);
  });

  it("404 after unregister, and nothing for that channel reaches the socket", async () => {
    const n = node();
    const { s, uaid, token } = await n.client();
    await n.put(token, "version=1");
    n.connections.message(s, JSON.stringify({ messageType: "unregister", channelID: CHID }));
    await settle();
    const before = s.sent.length;
    assert.equal((await n.put(token, "version=2")).status, 404);
    assert.equal(s.sent.length, before);
    assert.deepEqual(await n.mem.pending(uaid), []);
  });

  it("410 for a UAID that has no record (reset)", async () => {
    const n = node();
    const { uaid, token } = await n.client();
    await n.mem.dropUser(uaid);
    assert.equal((await n.put(token, "version=1")).status, 410);
    const never = n.tokens.encode({
      region: "local",
      uaid: "eeeeeeee00004000800000000000000e",
      channelID: CHID,
    });
    assert.equal((await n.put(never, "version=1")).status, 410);
  });

  it("400 for a bad version, 413 for data over 4096 bytes; nothing stored or sent", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    for (const v of ["-1", "1.5", "0x1", "18446744073709551616", "%201"]) {
      const r = await n.put(token, `version=${v}`);
      assert.equal(r.status, 400, v);
      assert.ok(r.reason, "a reason for the error body");
    }
    assert.equal((await n.put(token, "", { query: "version=abc" })).status, 400);
    assert.equal((await n.put(token, `version=1&data=${"x".repeat(4097)}`)).status, 413);
    assert.equal((await n.put(token, `version=1&data=${"%C3%A9".repeat(2049)}`)).status, 413);
    assert.equal(s.sent.length, before);
    assert.deepEqual(await n.mem.pending(uaid), []);
    assert.equal((await n.put(token, `version=1&data=${"x".repeat(4096)}`)).status, 200);
  });

  it("503 when the store fails; nothing is sent", async () => {
    const n = node();
    const { s, uaid, token, before } = await n.client();
    n.failing.add("savePending");
    const r = await n.put(token, "version=1");
    assert.equal(r.status, 503);
    assert.ok(r.reason && !r.reason.includes(token), "a reason, without the token");
    assert.equal(s.sent.length, before);
    assert.deepEqual(s.closes, []);
    assert.equal(
      await metric(n.registry, "edition_store_errors_total", { operation: "save_pending" }),
      1,
    );
    n.failing.delete("savePending");
    assert.deepEqual(await n.mem.pending(uaid), []);
    assert.equal((await n.put(token, "version=2")).status, 200);
  });

  it("503 without storing when the route sheds load", async () => {
    const n = node({
      route: (local) => ({ route: (u, f) => local.route(u, f), shedding: () => true }),
    });
    const { s, uaid, token, before } = await n.client();
    assert.equal((await n.put(token, "version=1")).status, 503);
    assert.equal(s.sent.length, before);
    assert.deepEqual(await n.mem.pending(uaid), [], "a 503 means not accepted");
  });
});
