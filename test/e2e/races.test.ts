/**
 * Races a user would notice as lost or duplicated updates: PUTs racing disconnects and
 * hellos, acks racing closes, two sockets for one UAID, versions going down. Each race is
 * repeated a bounded number of times with the interleaving varied on purpose.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import {
  big,
  connect,
  disconnectAll,
  helloClient,
  isType,
  type Message,
  type PushClient,
  raw,
} from "../support/client.js";
import { channelID, preparePut, put } from "../support/http.js";
import { type PushNode, startNode } from "../support/node.js";

const T = { timeout: 60_000 };

let node: PushNode;
before(async () => {
  node = await startNode({ env: { EDITION_PING_MIN_INTERVAL_MS: "0" } });
});
after(() => node?.stop());
afterEach(disconnectAll);

type Up = { channelID: string; version: unknown; data?: unknown };

function updatesOf(m: Message): Up[] {
  return m.updates as Up[];
}

/** Waits for a notification carrying `version` on `ch` (in a flush or a direct delivery). */
async function receive(c: PushClient, ch: string, version: bigint): Promise<Message> {
  return c.next(
    (m) =>
      m.messageType === "notification" &&
      updatesOf(m).some((u) => u.channelID === ch && big(u.version) === version),
  );
}

test("a PUT racing a disconnect gets a 2xx and is flushed at the next hello", T, async (t) => {
  let c = await helloClient(node.wsUrl);
  const uaid = c.uaid!;
  const ch = channelID();
  const endpoint = await c.register(ch);
  const statuses = new Map<number, number>();
  for (let i = 1; i <= 40; i++) {
    const version = BigInt(1000 + i);
    const fire = await preparePut(endpoint, `version=${version}`);
    // Put the request and the disconnect on the wire in the same tick, in varied order and
    // both ways of leaving (closing handshake, dropped TCP connection).
    let pending: Promise<number>;
    switch (i % 4) {
      case 0:
        pending = fire();
        void c.terminate();
        break;
      case 1:
        void c.terminate();
        pending = fire();
        break;
      case 2:
        pending = fire();
        void c.close();
        break;
      default:
        void c.close();
        pending = fire();
    }
    const status = await pending;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    assert.ok(status === 200 || status === 202, `round ${i}: ${status}`);
    await c.closed();

    // Whatever the PUT was told, the update was not acked: it is flushed now.
    c = await connect(node.wsUrl);
    await c.hello(uaid, [ch]);
    const flush = await c.notification();
    assert.deepEqual(updatesOf(flush), [{ channelID: ch, version: Number(version) }], raw(flush));
    c.ack([{ channelID: ch, version }]);
    await c.barrier();
  }
  // Which side won each race is up to the scheduler; show the mix rather than assert it.
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
});

test("an ack immediately followed by a disconnect is not redelivered", T, async () => {
  let c = await helloClient(node.wsUrl);
  const uaid = c.uaid!;
  const ch = channelID();
  const endpoint = await c.register(ch);
  for (let i = 1; i <= 25; i++) {
    const version = BigInt(i);
    assert.equal((await put(endpoint, { body: `version=${version}` })).status, 200);
    const n = await receive(c, ch, version);
    c.ack(updatesOf(n) as { channelID: string; version: bigint }[]);
    // Close right behind the ack, and reconnect without waiting for the close to finish.
    void c.close();
    c = await connect(node.wsUrl);
    await c.hello(uaid, [ch]);
    await c.barrier();
    assert.deepEqual(
      c.inbox.filter(isType("notification")).map(raw),
      [],
      `round ${i}: acked update flushed again`,
    );
  }
});

test("a PUT racing a hello is delivered exactly once, directly or in the flush", T, async (t) => {
  let c = await helloClient(node.wsUrl);
  const statuses = new Map<number, number>();
  const uaid = c.uaid!;
  const ch = channelID();
  const endpoint = await c.register(ch);
  for (let i = 1; i <= 30; i++) {
    await c.close();
    const version = BigInt(i);
    c = await connect(node.wsUrl);
    const fire = await preparePut(endpoint, `version=${version}`);
    // hello() writes its frame synchronously: both requests leave in the same tick.
    let replyP: Promise<Message>;
    let statusP: Promise<number>;
    if (i % 2 === 0) {
      replyP = c.hello(uaid, [ch]);
      statusP = fire();
    } else {
      statusP = fire();
      replyP = c.hello(uaid, [ch]);
    }
    const status = await statusP;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    assert.ok(status === 200 || status === 202, `round ${i}: ${status}`);
    await replyP;
    await receive(c, ch, version);
    c.ack([{ channelID: ch, version }]);
    await c.barrier();
    assert.deepEqual(
      c.inbox.filter(isType("notification")).map(raw),
      [],
      `round ${i}: delivered twice`,
    );
  }
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
});

test("a second socket for the same UAID replaces the first (4000 replaced)", T, async () => {
  const old = await helloClient(node.wsUrl);
  const uaid = old.uaid!;
  const ch = channelID();
  const endpoint = await old.register(ch);

  const fresh = await connect(node.wsUrl);
  await fresh.hello(uaid, [ch]);
  assert.deepEqual(await old.closed(), { code: 4000, reason: "replaced" });

  assert.equal((await put(endpoint, { body: "version=42" })).status, 200);
  assert.deepEqual(updatesOf(await fresh.notification()), [{ channelID: ch, version: 42 }]);
  assert.deepEqual(old.inbox.filter(isType("notification")), []);

  // The replaced socket's close must not take the UAID away from the new one.
  assert.equal((await put(endpoint, { body: "version=43" })).status, 200);
  assert.deepEqual(updatesOf(await fresh.notification()), [{ channelID: ch, version: 43 }]);
});

test("many hellos for one UAID at once: one survivor, it gets the updates", T, async () => {
  const first = await helloClient(node.wsUrl);
  const uaid = first.uaid!;
  const ch = channelID();
  const endpoint = await first.register(ch);
  const clients = await Promise.all(Array.from({ length: 8 }, () => connect(node.wsUrl)));
  await Promise.all(clients.map((c) => c.hello(uaid, [ch]).catch(() => undefined)));
  const all = [first, ...clients];
  // Each socket either answers a round trip (alive) or is closed; never both, never neither.
  const closes = await Promise.all(
    all.map((c) =>
      Promise.race([
        c.closed(),
        c.barrier().then(
          () => undefined,
          () => c.closed(),
        ),
      ]),
    ),
  );
  const alive = all.filter((_, i) => closes[i] === undefined);
  assert.equal(alive.length, 1, "exactly one socket keeps the UAID");
  for (const [i, cl] of closes.entries()) {
    if (cl !== undefined) assert.deepEqual(cl, { code: 4000, reason: "replaced" }, `socket ${i}`);
  }
  assert.equal((await put(endpoint, { body: "version=7" })).status, 200);
  assert.deepEqual(updatesOf(await alive[0]!.notification()), [{ channelID: ch, version: 7 }]);
});

test("a direct update with a lower version than a previous one is still delivered", T, async () => {
  const c = await helloClient(node.wsUrl);
  const ch = channelID();
  const endpoint = await c.register(ch);
  for (const v of [100n, 50n, 18446744073709551615n, 1n, 1n]) {
    assert.equal((await put(endpoint, { body: `version=${v}` })).status, 200);
    const n = await c.notification();
    assert.equal(big(updatesOf(n)[0]!.version), v);
  }
});

test("unacked updates are not re-sent on the same socket, only at the next hello", T, async () => {
  const c = await helloClient(node.wsUrl);
  const uaid = c.uaid!;
  const ch = channelID();
  const endpoint = await c.register(ch);
  assert.equal((await put(endpoint, { body: "version=5" })).status, 200);
  await c.notification();
  c.send({ messageType: "hello", uaid, channelIDs: [ch] });
  assert.equal((await c.next(isType("hello"))).status, 200);
  await c.barrier();
  assert.deepEqual(c.inbox.filter(isType("notification")), [], "no re-send on this socket");
  await c.close();
  const again = await connect(node.wsUrl);
  await again.hello(uaid, [ch]);
  assert.deepEqual(updatesOf(await again.notification()), [{ channelID: ch, version: 5 }]);
});

test("concurrent PUTs to one client are each answered 200 and each delivered once", T, async () => {
  const c = await helloClient(node.wsUrl);
  const channels = [channelID(), channelID(), channelID(), channelID()];
  const endpoints = await Promise.all(channels.map((ch) => c.register(ch)));
  const sent: string[] = [];
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => {
      const k = i % channels.length;
      sent.push(`${channels[k]}:${i + 1}`);
      return put(endpoints[k]!, { body: `version=${i + 1}&data=d${i}` });
    }),
  );
  assert.deepEqual(
    results.map((r) => r.status).filter((s) => s !== 200),
    [],
  );
  await c.barrier();
  const got = c.inbox
    .filter(isType("notification"))
    .flatMap((m) => updatesOf(m).map((u) => `${u.channelID}:${big(u.version)}`));
  assert.deepEqual(got.sort(), sent.sort());
});
