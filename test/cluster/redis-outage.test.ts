/**
 * Redis, the region's store, stops and comes back with its AOF on the same port, while the
 * nodes keep running (docs/architecture.md "Storage", "The paths"): an app server is told to
 * retry (503 + Retry-After) rather than getting a 2xx that was never stored, a client's
 * register fails with an error reply of status 503 (docs/errors.md STORE_UNAVAILABLE), and once Redis is back the same nodes work again and flush
 * every update that was acknowledged before the outage.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { big, connect, disconnectAll, isType, type PushClient, raw } from "../support/client.js";
import { endpointVia, startLocalCluster, within } from "../support/cluster.js";
import { channelID, eventually, form, get, put } from "../support/http.js";
import type { PushNode } from "../support/node.js";

test("Redis stop + restart with AOF: 503 + Retry-After and register 503 while down; afterwards everything stored before is flushed", {
  timeout: 90_000,
}, async (t) => {
  t.after(disconnectAll);
  const c = await startLocalCluster({
    nodes: 3,
    t,
    aof: true,
    env: { EDITION_PING_MIN_INTERVAL_MS: "0" },
  });
  const [, n1, n2] = c.nodes as [PushNode, PushNode, PushNode];
  const name = (n: PushNode) => c.idOf(n);

  // Offline clients with updates stored before the outage: one per node, two channels each.
  const offline: {
    uaid: string;
    pending: Map<string, bigint>;
    endpoints: string[];
    home: PushNode;
  }[] = [];
  for (const [i, home] of c.nodes.entries()) {
    const client = await connect(home.wsUrl);
    await client.hello();
    const channels = [channelID(), channelID()];
    const endpoints = await Promise.all(channels.map((ch) => client.register(ch)));
    await client.close();
    const pending = new Map<string, bigint>();
    for (const [j, ch] of channels.entries()) {
      const version = BigInt(1000 * (i + 1) + j);
      const via = c.nodes[(i + j + 1) % 3]!;
      const r = await put(endpointVia(endpoints[j]!, via), { body: form({ version }) });
      assert.equal(r.status, 202, `stored for an offline client via ${name(via)}`);
      pending.set(ch, version);
    }
    offline.push({ uaid: client.uaid!, pending, endpoints, home });
  }
  // A connected client on node-2, and one on node-1 that will try to register.
  const online = await connect(n2.wsUrl);
  await online.hello();
  const onlineCh = channelID();
  const onlineEndpoint = await online.register(onlineCh);
  const registrar = await connect(n1.wsUrl);
  await registrar.hello();

  await c.redis.stop("SIGTERM");

  // Every node stops being ready, and says why.
  for (const n of c.nodes) {
    const r = await eventually(
      async () => {
        const res = await get(`${n.adminUrl}/ready`);
        return res.status === 503 ? res : undefined;
      },
      `${name(n)} /ready answering 503`,
    );
    assert.match(r.body, /store/);
  }
  // PUTs are refused with 503 + Retry-After, through every node, whether or not the
  // client is connected: nothing is acknowledged that was not stored.
  for (const via of c.nodes) {
    for (const endpoint of [offline[0]!.endpoints[0]!, onlineEndpoint]) {
      const r = await put(endpointVia(endpoint, via), { body: form({ version: 99_999 }) });
      assert.equal(r.status, 503, `PUT via ${name(via)} while Redis is down: ${r.body}`);
      const retry = r.headers.get("retry-after");
      assert.ok(retry !== null && Number(retry) > 0, `Retry-After: ${retry}`);
    }
  }
  await online.barrier();
  assert.deepEqual(online.inbox.filter(isType("notification")), [], "no update without storage");
  // A register fails with an error reply of status 503 (as a hello would), then the socket is closed.
  const ch = channelID();
  registrar.send({ messageType: "register", channelID: ch });
  const reply = await registrar.next(isType("register"));
  assert.equal(reply.status, 503, raw(reply));
  assert.equal(reply.channelID, ch, "the error reply echoes the request");
  await within(registrar.closed(), 5_000, "the socket closed after the register error");

  await c.redis.restart();

  // The same node processes recover by themselves.
  await c.converged(20_000);
  const registrar2 = await connect(n1.wsUrl);
  await registrar2.hello(registrar.uaid);
  const endpoint2 = await registrar2.register(ch);
  for (const [i, via] of c.nodes.entries()) {
    const version = BigInt(5000 + i);
    const r = await put(endpointVia(onlineEndpoint, via), { body: form({ version }) });
    assert.equal(r.status, 200, `PUT via ${name(via)} after the restart`);
    const note = await online.notification();
    assert.equal(big((note.updates as { version: unknown }[])[0]!.version), version);
    const r2 = await put(endpointVia(endpoint2, via), { body: form({ version }) });
    assert.equal(
      r2.status,
      200,
      `PUT to the channel registered after the restart via ${name(via)}`,
    );
    await registrar2.notification();
  }

  // Every update acknowledged before the outage is flushed, on a different node than before.
  for (const o of offline) {
    const back = c.nodes[(c.nodes.indexOf(o.home) + 1) % 3]!;
    const client: PushClient = await connect(back.wsUrl);
    await client.hello(o.uaid, [...o.pending.keys()]);
    assert.equal(client.uaid, o.uaid, "the UAID survived the restart");
    const note = await client.notification();
    const got = new Map(
      (note.updates as { channelID: string; version: unknown }[]).map((u) => [
        u.channelID,
        big(u.version),
      ]),
    );
    assert.deepEqual(
      got,
      o.pending,
      `flush on ${name(back)} for a client first on ${name(o.home)}`,
    );
    await client.close();
  }
});
