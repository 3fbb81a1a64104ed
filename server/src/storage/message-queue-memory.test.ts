import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStore } from "./memory-store.js";
import { messageQueueContract } from "./message-queue.contract.js";
import { MemoryMessageQueue } from "./message-queue-memory.js";

function clock(start = 1_700_000_000_000) {
  let t = start;
  return {
    read: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function make() {
  const now = clock();
  const store = new MemoryStore(now.read);
  const queue = new MemoryMessageQueue((u, c) => store.registration(u, c), now.read);
  return { store, queue, now };
}

messageQueueContract("MemoryMessageQueue (contract)", async () => make());

describe("MemoryMessageQueue sweep", () => {
  it("removes expired messages of UAIDs never read again, within its budget", async () => {
    const { store, queue, now } = make();
    for (let i = 0; i < 3; i++) {
      const uaid = `${i}`.padStart(32, "0");
      const channel = `${i}`.padStart(32, "a");
      await store.register(uaid, channel);
      await queue.save(
        uaid,
        {
          id: `${i}`.padStart(32, "f"),
          channel,
          channelID: channel,
          data: undefined,
          headers: undefined,
          topic: undefined,
          expiresAt: now.read() + 1000,
          at: now.read(),
        },
        { maxMessages: 10, maxBytes: 10_000 },
      );
    }
    now.advance(1000);
    assert.equal(queue.sweep(2), 2);
    assert.equal(queue.sweep(10), 1);
    assert.equal(queue.sweep(10), 0);
  });
});
