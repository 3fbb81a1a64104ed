/**
 * The contract every `MessageQueue` adapter passes: memory (beside it) and Redis (against a
 * real redis-server, test/integration/message-queue-redis.test.ts). Registrations come from
 * the matching `MessageStore` (the queue refuses pushes for unregistered channels), so
 * `make()` returns both. Each adapter reads an injected clock the tests move.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { MessageQueue, QueueBounds, QueuedMessage } from "./message-queue.js";
import type { MessageStore } from "./store.js";

export interface QueueUnderTest {
  readonly queue: MessageQueue;
  readonly store: MessageStore;
  readonly now: { read(): number; advance(ms: number): void };
  readonly cleanup?: () => Promise<void>;
}

const id = () => randomUUID().replaceAll("-", "");
const BOUNDS: QueueBounds = { maxMessages: 100, maxBytes: 1024 * 1024 };

export function messageQueueContract(name: string, make: () => Promise<QueueUnderTest>): void {
  describe(name, () => {
    let q: QueueUnderTest;
    beforeEach(async () => {
      q = await make();
    });
    afterEach(async () => {
      await q.cleanup?.();
    });

    const msg = (channel: string, over: Partial<QueuedMessage> = {}): QueuedMessage => ({
      id: id(),
      channel,
      channelID: `${channel.slice(0, 8)}-${channel.slice(8, 12)}-${channel.slice(12, 16)}-${channel.slice(16, 20)}-${channel.slice(20)}`,
      data: Buffer.from(`payload ${Math.random()}`).toString("base64url"),
      headers: { encoding: "aes128gcm" },
      topic: undefined,
      expiresAt: q.now.read() + 60_000,
      at: q.now.read(),
      ...over,
    });

    async function registered(): Promise<{ uaid: string; channel: string }> {
      const uaid = id();
      const channel = id();
      await q.store.register(uaid, channel);
      return { uaid, channel };
    }

    it("refuses a push for an unknown UAID (gone) or an unregistered channel", async () => {
      const uaid = id();
      assert.equal(await q.queue.save(uaid, msg(id()), BOUNDS), "gone");
      assert.equal(await q.queue.check(uaid, id()), "gone");
      await q.store.addUser(uaid);
      const channel = id();
      assert.equal(await q.queue.save(uaid, msg(channel), BOUNDS), "unregistered");
      assert.equal(await q.queue.check(uaid, channel), "unregistered");
      await q.store.register(uaid, channel);
      assert.equal(await q.queue.check(uaid, channel), "stored");
      assert.deepEqual(await q.queue.pending(uaid), []);
    });

    it("keeps every message with its payload and headers, oldest first (no collapsing)", async () => {
      const { uaid, channel } = await registered();
      const sent: QueuedMessage[] = [];
      for (let i = 0; i < 3; i++) {
        const m = msg(channel, {
          at: q.now.read() + i,
          headers:
            i === 1
              ? { encoding: "aesgcm", crypto_key: "dh=BAbc", encryption: "salt=xyz" }
              : { encoding: "aes128gcm" },
        });
        sent.push(m);
        assert.equal(await q.queue.save(uaid, m, BOUNDS), "stored");
      }
      const empty = msg(channel, { data: undefined, headers: undefined, at: q.now.read() + 5 });
      sent.push(empty);
      assert.equal(await q.queue.save(uaid, empty, BOUNDS), "stored");
      assert.deepEqual(await q.queue.pending(uaid), sent);
    });

    it("acks remove exactly the acked ids", async () => {
      const { uaid, channel } = await registered();
      const a = msg(channel, { at: 1 });
      const b = msg(channel, { at: 2 });
      await q.queue.save(uaid, a, BOUNDS);
      await q.queue.save(uaid, b, BOUNDS);
      await q.queue.ack(uaid, [a.id, id()]);
      assert.deepEqual(
        (await q.queue.pending(uaid)).map((m) => m.id),
        [b.id],
      );
      await q.queue.ack(uaid, [b.id]);
      assert.deepEqual(await q.queue.pending(uaid), []);
    });

    it("drops a message once its TTL is over", async () => {
      const { uaid, channel } = await registered();
      const short = msg(channel, { expiresAt: q.now.read() + 1_000, at: 1 });
      const long = msg(channel, { expiresAt: q.now.read() + 10_000, at: 2 });
      await q.queue.save(uaid, short, BOUNDS);
      await q.queue.save(uaid, long, BOUNDS);
      q.now.advance(999);
      assert.equal((await q.queue.pending(uaid)).length, 2);
      q.now.advance(1);
      assert.deepEqual(
        (await q.queue.pending(uaid)).map((m) => m.id),
        [long.id],
      );
      assert.equal(
        await q.queue.remove(uaid, short.id),
        false,
        "an expired message is not pending",
      );
    });

    it("a Topic replaces the pending message with that Topic on that channel only", async () => {
      const { uaid, channel } = await registered();
      const other = id();
      await q.store.register(uaid, other);
      const first = msg(channel, { topic: "weather", at: 1 });
      const elsewhere = msg(other, { topic: "weather", at: 2 });
      const untopiced = msg(channel, { at: 3 });
      const second = msg(channel, { topic: "weather", at: 4 });
      for (const m of [first, elsewhere, untopiced, second])
        assert.equal(await q.queue.save(uaid, m, BOUNDS), "stored");
      assert.deepEqual(
        (await q.queue.pending(uaid)).map((m) => m.id),
        [elsewhere.id, untopiced.id, second.id],
      );
    });

    it("refuses past the count or byte bound, storing nothing, and counts a replaced Topic out", async () => {
      const { uaid, channel } = await registered();
      const bounds = { maxMessages: 2, maxBytes: 1000 };
      const a = msg(channel, { topic: "t", at: 1 });
      const b = msg(channel, { at: 2 });
      assert.equal(await q.queue.save(uaid, a, bounds), "stored");
      assert.equal(await q.queue.save(uaid, b, bounds), "stored");
      assert.equal(await q.queue.save(uaid, msg(channel, { at: 3 }), bounds), "full");
      const a2 = msg(channel, { topic: "t", at: 4 });
      assert.equal(await q.queue.save(uaid, a2, bounds), "stored", "a replacement fits");
      const big = msg(channel, { data: "x".repeat(990), at: 5 });
      await q.queue.ack(uaid, [b.id]);
      assert.equal(await q.queue.save(uaid, big, bounds), "full", "over the byte bound");
      assert.deepEqual(
        (await q.queue.pending(uaid)).map((m) => m.id),
        [a2.id],
      );
      await q.queue.ack(uaid, [a2.id]);
      assert.equal(await q.queue.save(uaid, big, bounds), "stored", "room again after acks");
    });

    it("remove (DELETE) says whether the message was pending", async () => {
      const { uaid, channel } = await registered();
      const m = msg(channel);
      await q.queue.save(uaid, m, BOUNDS);
      assert.equal(await q.queue.remove(uaid, m.id), true);
      assert.equal(await q.queue.remove(uaid, m.id), false);
      assert.deepEqual(await q.queue.pending(uaid), []);
    });

    it("drops a channel's messages, or a UAID's", async () => {
      const { uaid, channel } = await registered();
      const other = id();
      await q.store.register(uaid, other);
      const keep = msg(other, { at: 2 });
      await q.queue.save(uaid, msg(channel, { at: 1 }), BOUNDS);
      await q.queue.save(uaid, keep, BOUNDS);
      await q.queue.dropChannel(uaid, channel);
      assert.deepEqual(
        (await q.queue.pending(uaid)).map((m) => m.id),
        [keep.id],
      );
      await q.queue.dropUser(uaid);
      assert.deepEqual(await q.queue.pending(uaid), []);
    });
  });
}
