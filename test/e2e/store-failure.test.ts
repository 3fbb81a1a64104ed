/**
 * A store failure answers the same wherever it happens (docs/errors.md STORE_UNAVAILABLE):
 * one real node on a real Redis that is then stopped. A hello, a register and an unregister
 * each get the error reply `503 "Service Unavailable"` echoing the command and a 1000 close;
 * a SimplePush PUT and a Web Push POST get 503 with Retry-After (and errno 201 for Web Push);
 * each is counted under the code's label.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { connect, disconnectAll, isType, type PushClient, raw } from "../support/client.js";
import { channelID, eventually, form, get, put, sample, scrape } from "../support/http.js";
import { startNode } from "../support/node.js";
import { startRedis } from "../support/redis.js";

/** The part of an error reply a client reads: the catalogue's, the same for every command. */
const STORE_REPLY = { status: 503, error: "Service Unavailable" };

async function refusedWith503(c: PushClient, command: Record<string, unknown>, type: string) {
  c.send(command);
  const reply = await c.next(isType(type));
  assert.deepEqual({ status: reply.status, error: reply.error }, STORE_REPLY, raw(reply));
  for (const [k, v] of Object.entries(command)) assert.deepEqual(reply[k], v, `echoes ${k}`);
  const closed = await c.closed();
  assert.equal(closed.code, 1000, `${type}: closed normally after the error reply`);
}

test("a store failure: hello, register and unregister get the same 503 reply; PUT and Web Push POST 503 + Retry-After", {
  timeout: 120_000,
}, async (t) => {
  t.after(disconnectAll);
  const redis = await startRedis({ t });
  const node = await startNode({
    env: { EDITION_REDIS_URL: redis.url, EDITION_PING_MIN_INTERVAL_MS: "0" },
    t,
  });

  // Before the outage: a registered SimplePush client, one to unregister, a Web Push one.
  const registrar = await connect(node.wsUrl);
  await registrar.hello();
  const endpoint = await registrar.register(channelID());
  const leaving = await connect(node.wsUrl);
  await leaving.hello();
  const leavingCh = channelID();
  await leaving.register(leavingCh);
  const wp = await connect(node.wsUrl);
  wp.send({ messageType: "hello", use_webpush: true });
  assert.equal((await wp.next(isType("hello"))).status, 200);
  const wpCh = randomUUID();
  wp.send({ messageType: "register", channelID: wpCh });
  const sub = await wp.next(isType("register"));
  assert.equal(sub.status, 200, raw(sub));
  const wpush = sub.pushEndpoint as string;
  const newcomer = await connect(node.wsUrl);

  await redis.stop("SIGTERM");
  await eventually(async () => {
    const r = await get(`${node.adminUrl}/ready`);
    return r.status === 503 ? r : undefined;
  }, "/ready answering 503 once Redis is gone");

  await refusedWith503(newcomer, { messageType: "hello", uaid: "", channelIDs: [] }, "hello");
  const ch = channelID();
  await refusedWith503(registrar, { messageType: "register", channelID: ch }, "register");
  await refusedWith503(leaving, { messageType: "unregister", channelID: leavingCh }, "unregister");

  const r = await put(endpoint, { body: form({ version: 7 }) });
  assert.equal(r.status, 503, r.body);
  assert.equal(r.headers.get("retry-after"), "5");
  assert.deepEqual(JSON.parse(r.body), {
    code: 503,
    error: "Service Unavailable",
    message: "storage unavailable",
  });

  const p = await fetch(wpush, {
    method: "POST",
    headers: { ttl: "60" },
    signal: AbortSignal.timeout(10_000),
  });
  const pBody = (await p.json()) as Record<string, unknown>;
  assert.equal(p.status, 503, JSON.stringify(pBody));
  assert.equal(p.headers.get("retry-after"), "5");
  assert.equal(pBody.errno, 201);
  assert.equal(pBody.error, "Service Unavailable");

  const m = await scrape(node.adminUrl);
  assert.equal(sample(m, 'edition_hellos_total{outcome="store_error"}'), 1);
  assert.equal(
    sample(m, 'edition_registrations_total{command="register",outcome="store_error"}'),
    1,
  );
  assert.equal(
    sample(m, 'edition_registrations_total{command="unregister",outcome="store_error"}'),
    1,
  );
  assert.equal(sample(m, 'edition_endpoint_refusals_total{code="store_error"}'), 2);
  assert.equal(sample(m, 'edition_endpoint_requests_total{status="503"}'), 2);
});
