/**
 * The Web Push endpoint and session mode of one real node, driven by a WebSocket client
 * speaking what Firefox speaks (`use_webpush`) and by plain HTTP requests: every message
 * kept until acked, TTL 0, Topic, DELETE, the refusals with their JSON errors, and a
 * SimplePush client beside it, unaffected. (The real Firefox: firefox.test.ts.)
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import webpush from "web-push";
import { connect, isType, type Message, type PushClient, raw } from "../support/client.js";
import { form, put } from "../support/http.js";
import { type PushNode, runNode, startNode } from "../support/node.js";

let node: PushNode;
before(async () => {
  node = await startNode({
    env: { EDITION_WEBPUSH_MAX_MESSAGES: "3", EDITION_PING_MIN_INTERVAL_MS: "0" },
  });
});
after(() => node.kill());

/** An RFC 8188-shaped body (header, 65-byte key id, one record) ending in `text`. */
function body(text: string): Buffer {
  return Buffer.concat([
    Buffer.alloc(16, 7),
    Buffer.from([0, 0, 16, 0, 65]),
    Buffer.concat([Buffer.of(4), Buffer.alloc(64, 1)]),
    Buffer.alloc(17),
    Buffer.from(text),
  ]);
}
const textOf = (m: Message) =>
  Buffer.from(m.data as string, "base64url")
    .subarray(103)
    .toString();

async function post(
  endpoint: string,
  text: string | undefined,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> | undefined }> {
  const res = await fetch(endpoint, {
    method: "POST",
    headers: {
      ttl: "60",
      ...(text === undefined ? {} : { "content-encoding": "aes128gcm" }),
      ...headers,
    },
    body: text === undefined ? undefined : body(text),
    signal: AbortSignal.timeout(10_000),
  });
  const t = await res.text();
  return { status: res.status, headers: res.headers, json: t === "" ? undefined : JSON.parse(t) };
}

/** A Firefox-like client: `use_webpush` hello (with `uaid` when it has subscriptions). */
async function firefoxLike(uaid?: string): Promise<PushClient> {
  const c = await connect(node.wsUrl, { protocols: ["push-notification"] });
  c.send({ messageType: "hello", broadcasts: {}, use_webpush: true, ...(uaid ? { uaid } : {}) });
  const reply = await c.next(isType("hello"));
  assert.equal(reply.status, 200, raw(reply));
  assert.equal(reply.use_webpush, true);
  c.uaid = reply.uaid as string;
  return c;
}

async function subscribe(c: PushClient): Promise<{ channelID: string; endpoint: string }> {
  const channelID = randomUUID();
  c.send({ channelID, messageType: "register" });
  const r = await c.next((m) => m.messageType === "register" && m.channelID === channelID);
  assert.equal(r.status, 200, raw(r));
  assert.match(r.pushEndpoint as string, /\/wpush\//);
  return { channelID, endpoint: r.pushEndpoint as string };
}

const ack = (c: PushClient, m: Message, code = 100) =>
  c.send({ messageType: "ack", updates: [{ channelID: m.channelID, version: m.version, code }] });

describe("Web Push endpoint and session (one node)", () => {
  it("delivers one notification per push; unacked ones come back at the next hello, acked ones do not", async () => {
    const c = await firefoxLike();
    const { channelID, endpoint } = await subscribe(c);
    const live = await post(endpoint, "live");
    assert.equal(live.status, 201);
    assert.match(live.headers.get("location") ?? "", /\/m\//);
    assert.equal(live.headers.get("ttl"), "60");
    const n = await c.notification();
    assert.equal(n.channelID, channelID);
    assert.match(n.version as string, /^[0-9a-f]{32}$/);
    assert.deepEqual(n.headers, { encoding: "aes128gcm" });
    assert.equal(textOf(n), "live");
    ack(c, n);
    await c.barrier();
    await c.close();

    for (const t of ["one", "two", "three"]) assert.equal((await post(endpoint, t)).status, 201);
    const back = await firefoxLike(c.uaid);
    const got = [await back.notification(), await back.notification(), await back.notification()];
    assert.deepEqual(
      got.map(textOf),
      ["one", "two", "three"],
      "all kept, in order, none collapsed",
    );
    ack(back, got[0]!);
    ack(back, got[1]!, 101);
    await back.barrier();
    await back.close();

    const again = await firefoxLike(c.uaid);
    const last = await again.notification();
    assert.equal(textOf(last), "three");
    assert.equal(last.version, got[2]!.version, "same message id on redelivery");
    await again.barrier();
    assert.equal(again.inbox.filter(isType("notification")).length, 0);
    await again.close();
  });

  it("a UAID the node does not know is replaced, so Firefox drops its dead subscriptions", async () => {
    const stranger = randomUUID().replaceAll("-", "");
    const c = await firefoxLike(stranger);
    assert.notEqual(c.uaid, stranger);
    await c.close();
  });

  it("an empty push has neither data nor headers", async () => {
    const c = await firefoxLike();
    const { endpoint } = await subscribe(c);
    assert.equal((await post(endpoint, undefined)).status, 201);
    const n = await c.notification();
    assert.equal("data" in n, false);
    assert.equal("headers" in n, false);
    await c.close();
  });

  it("TTL 0 is delivered to a connected client and dropped for an absent one (201 both ways)", async () => {
    const c = await firefoxLike();
    const { endpoint } = await subscribe(c);
    assert.equal((await post(endpoint, "now", { ttl: "0" })).status, 201);
    assert.equal(textOf(await c.notification()), "now");
    await c.close();
    const r = await post(endpoint, "missed", { ttl: "0" });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get("ttl"), "0");
    const back = await firefoxLike(c.uaid);
    await back.barrier();
    assert.equal(back.inbox.filter(isType("notification")).length, 0);
    await back.close();
  });

  it("a Topic replaces the pending message with the same Topic; DELETE removes one", async () => {
    const c = await firefoxLike();
    const { endpoint } = await subscribe(c);
    await c.close();
    assert.equal((await post(endpoint, "score 1-0", { topic: "score" })).status, 201);
    assert.equal((await post(endpoint, "score 2-0", { topic: "score" })).status, 201);
    const doomed = await post(endpoint, "retracted");
    const url = doomed.headers.get("location")!;
    assert.equal((await fetch(url, { method: "DELETE" })).status, 204);
    const twice = await fetch(url, { method: "DELETE" });
    assert.equal(twice.status, 404);
    assert.equal(((await twice.json()) as { errno: number }).errno, 121);
    const back = await firefoxLike(c.uaid);
    assert.equal(textOf(await back.notification()), "score 2-0");
    await back.barrier();
    assert.equal(back.inbox.filter(isType("notification")).length, 0);
    await back.close();
  });

  it("refuses with clear JSON errors: 400, 413, 404, 429 when full, 410 once unsubscribed", async () => {
    const c = await firefoxLike();
    const { channelID, endpoint } = await subscribe(c);
    const expect = async (
      r: Promise<{ status: number; json: Record<string, unknown> | undefined }>,
      status: number,
      errno: number,
    ) => {
      const { status: s, json } = await r;
      assert.equal(s, status, JSON.stringify(json));
      assert.equal(json?.code, status);
      assert.equal(json?.errno, errno);
      assert.equal(typeof json?.error, "string");
      assert.ok(String(json?.message ?? "").length > 0);
    };
    await expect(post(endpoint, "x", { ttl: "" }), 400, 111);
    await expect(post(endpoint, "x", { ttl: "soon" }), 400, 112);
    await expect(post(endpoint, "x", { "content-encoding": "gzip" }), 400, 110);
    await expect(post(endpoint, "x", { topic: "not a topic!" }), 400, 113);
    await expect(post(endpoint, "x".repeat(4000)), 413, 104);
    await expect(post(`${endpoint.slice(0, -4)}AAAA`, "x"), 404, 102);
    await c.close();
    for (let i = 0; i < 3; i++) assert.equal((await post(endpoint, `m${i}`)).status, 201);
    await expect(post(endpoint, "one too many"), 429, 120);

    const back = await firefoxLike(c.uaid);
    for (let i = 0; i < 3; i++) await back.notification();
    back.send({ messageType: "unregister", channelID, code: 200 });
    const u = await back.next(isType("unregister"));
    assert.equal(u.status, 200);
    await expect(post(endpoint, "after"), 410, 106);
    await back.close();
  });

  it("a subscription made with a key takes only pushes that key signed for this origin (RFC 8292)", async () => {
    const vapid = webpush.generateVAPIDKeys();
    const c = await firefoxLike();
    const channelID = randomUUID();
    c.send({ channelID, messageType: "register", key: `${vapid.publicKey}=` });
    const r = await c.next((m) => m.messageType === "register" && m.channelID === channelID);
    assert.equal(r.status, 200, raw(r));
    const endpoint = r.pushEndpoint as string;
    const origin = new URL(endpoint).origin;
    // Expiry and signature details are unit-tested (vapid.test.ts); here: what a user sees.
    const signed = (aud: string, keys = vapid) =>
      webpush.getVapidHeaders(
        aud,
        "mailto:t@example.invalid",
        keys.publicKey,
        keys.privateKey,
        "aes128gcm",
      ).Authorization as string;
    assert.equal((await post(endpoint, "unsigned")).status, 401);
    assert.equal(
      (await post(endpoint, "other aud", { authorization: signed("https://elsewhere.example") }))
        .status,
      401,
    );
    const other = webpush.generateVAPIDKeys();
    const wrong = await post(endpoint, "other key", { authorization: signed(origin, other) });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json?.errno, 109);
    assert.equal((await post(endpoint, "signed", { authorization: signed(origin) })).status, 201);
    assert.equal(textOf(await c.notification()), "signed");
    await c.barrier();
    assert.equal(c.inbox.filter(isType("notification")).length, 0, "only the signed push arrived");
    await c.close();
  });

  it("a SimplePush client beside it keeps today's protocol", async () => {
    const c = await connect(node.wsUrl);
    const hello = await c.hello(undefined, []);
    assert.equal("use_webpush" in hello, false);
    const endpoint = await c.register(randomUUID());
    assert.match(endpoint, /\/update\//);
    assert.equal((await put(endpoint, { body: form({ version: 7 }) })).status, 200);
    const n = await c.notification();
    assert.deepEqual(n.updates, [
      { channelID: (n.updates as Message[])[0]!.channelID, version: 7 },
    ]);
    c.send({ messageType: "nack", version: "x", code: 301 });
    const err = await c.next(isType("nack"));
    assert.equal(err.status, 401);
    assert.equal((await c.closed()).code, 1000);
  });
});

describe("TLS settings", () => {
  it("a node whose certificate file is missing says so and exits 1", async () => {
    const r = await runNode({
      env: { EDITION_TLS_CERT: "/nonexistent/cert.pem", EDITION_TLS_KEY: "/nonexistent/key.pem" },
    });
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /nonexistent\/cert\.pem/);
  });

  it("only one of the two files is a configuration error (exit 2)", async () => {
    const r = await runNode({ env: { EDITION_TLS_CERT: "/etc/hostname" } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /EDITION_TLS_KEY: required when EDITION_TLS_CERT is set/);
  });
});
