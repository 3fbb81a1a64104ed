/**
 * `deliverPush` / `deleteMessage` (POST /wpush/<token>, DELETE /m/…) over the real memory
 * store and queue, real tokens and metrics, a silent logger, and a route the test controls.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Registry } from "prom-client";
import { TokenCodec } from "../endpoint/token.js";
import { WebPushTokens } from "../endpoint/webpush-token.js";
import { createMetrics } from "../metrics.js";
import type { Route, RouteResult } from "../routing/route.js";
import { MemoryStore } from "../storage/memory-store.js";
import type { MessageQueue } from "../storage/message-queue.js";
import { MemoryMessageQueue } from "../storage/message-queue-memory.js";
import { StoreError } from "../storage/store.js";
import {
  deleteMessage,
  deliverPush,
  type PushInput,
  type WebPushDeliverDeps,
} from "./webpush-deliver.js";

const UAID = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
const CHID = "0f1e2d3c-4b5a-4697-8877-665544332211";
const CHANNEL = "0f1e2d3c4b5a46978877665544332211";
const BODY = Buffer.concat([
  Buffer.alloc(16, 1),
  Buffer.from([0, 0, 16, 0, 65]),
  Buffer.alloc(65, 4),
  Buffer.alloc(20, 9),
]);

async function setup(
  opts: { route?: RouteResult; shedding?: boolean; failingQueue?: boolean } = {},
) {
  const store = new MemoryStore();
  await store.register(UAID, CHANNEL);
  const memory = new MemoryMessageQueue((u, c) => store.registration(u, c));
  const queue: MessageQueue = opts.failingQueue
    ? new Proxy(memory, {
        get: (t, p, r) =>
          p === "save" || p === "check"
            ? () => Promise.reject(new StoreError("down"))
            : Reflect.get(t, p, r),
      })
    : memory;
  const frames: string[] = [];
  const route: Route = {
    route: (_uaid, push) => {
      assert.equal(push.kind, "webpush");
      frames.push(push.kind === "webpush" ? push.frame : "");
      return opts.route ?? "delivered";
    },
    shedding: () => opts.shedding ?? false,
  };
  const tokens = new WebPushTokens(new TokenCodec([{ id: 1, key: Buffer.alloc(32, 3) }]));
  const d: WebPushDeliverDeps = {
    queue,
    route,
    tokens,
    metrics: createMetrics(new Registry()),
    log: pino({ level: "silent" }),
    region: "eu",
    bounds: { maxMessages: 10, maxBytes: 100_000 },
    audience: () => "https://push.test",
    messagePrefix: () => "https://push.test/m/",
    now: () => 1_800_000_000_000,
    perfNow: () => 0,
  };
  const token = tokens.subscription({
    region: "eu",
    uaid: UAID,
    channelID: CHID,
    keyHash: undefined,
  });
  const input = (over: Partial<PushInput> = {}): PushInput => ({
    token,
    ttl: "60",
    contentEncoding: "aes128gcm",
    encryption: "",
    cryptoKey: "",
    urgency: "",
    topic: "",
    authorization: "",
    body: BODY,
    startedAt: 0,
    ...over,
  });
  return { d, memory, frames, input, token };
}

describe("deliverPush", () => {
  it("stores, routes one notification frame, and answers 201 with the message URL", async () => {
    const { d, memory, frames, input, token } = await setup();
    const r = await deliverPush(d, input());
    assert.ok(r.ok);
    assert.equal(r.delivered, true);
    const [m] = await memory.pending(UAID);
    assert.equal(r.location, `https://push.test/m/${token}/${m!.id}`);
    assert.deepEqual(JSON.parse(frames[0]!), {
      messageType: "notification",
      channelID: CHID,
      version: m!.id,
      ttl: 60,
      data: BODY.toString("base64url"),
      headers: { encoding: "aes128gcm" },
    });
    assert.deepEqual(await deleteMessage(d, token, m!.id), { ok: true, status: 204 });
    assert.equal((await deleteMessage(d, token, m!.id)).ok, false);
    assert.equal((await deleteMessage(d, token, "../etc")).ok, false);
  });

  it("TTL 0 is routed but never stored", async () => {
    const { d, memory, frames, input } = await setup({ route: "absent" });
    const r = await deliverPush(d, input({ ttl: "0" }));
    assert.ok(r.ok);
    assert.equal(r.delivered, false);
    assert.equal(frames.length, 1);
    assert.deepEqual(await memory.pending(UAID), []);
  });

  it("refuses before storing when shedding, and answers 503 (nothing routed) when storage fails", async () => {
    const shed = await setup({ shedding: true });
    const a = await deliverPush(shed.d, shed.input());
    assert.equal(!a.ok && a.kind, "unavailable");
    assert.deepEqual(await shed.memory.pending(UAID), []);
    const failing = await setup({ failingQueue: true });
    const b = await deliverPush(failing.d, failing.input());
    assert.equal(!b.ok && b.kind, "storage");
    assert.equal(failing.frames.length, 0);
  });

  it("404 for another region's token, 410 for an unregistered channel", async () => {
    const { d, input } = await setup();
    const other = new WebPushTokens(new TokenCodec([{ id: 1, key: Buffer.alloc(32, 3) }]));
    const elsewhere = other.subscription({
      region: "us",
      uaid: UAID,
      channelID: CHID,
      keyHash: undefined,
    });
    const r = await deliverPush(d, input({ token: elsewhere }));
    assert.equal(!r.ok && r.kind, "noSuchEndpoint");
    const stranger = other.subscription({
      region: "eu",
      uaid: UAID,
      channelID: "11111111-2222-4333-8444-555555555555",
      keyHash: undefined,
    });
    const g = await deliverPush(d, input({ token: stranger }));
    assert.equal(!g.ok && g.kind, "gone");
  });
});
