import assert from "node:assert/strict";
import { test } from "node:test";
import { WorkQueue } from "./queue.js";

test("a key is queued once however often it is added", async () => {
  const q = new WorkQueue();
  q.add("a");
  q.add("b");
  q.add("a");
  assert.equal(q.length, 2);
  assert.equal(await q.get(), "a");
  assert.equal(await q.get(), "b");
  q.shutDown();
});

test("a key being processed is not handed out again until done, then once", async () => {
  const q = new WorkQueue();
  q.add("a");
  const k = await q.get();
  q.add("a");
  q.add("a");
  assert.equal(q.length, 0, "not queued while processing");
  q.done(k!);
  assert.equal(q.length, 1);
  assert.equal(await q.get(), "a");
  q.done("a");
  assert.equal(q.length, 0);
  q.shutDown();
});

test("a waiting worker is woken by an add; shutDown releases waiters", async () => {
  const q = new WorkQueue();
  const p = q.get();
  q.add("x");
  assert.equal(await p, "x");
  const p2 = q.get();
  q.shutDown();
  assert.equal(await p2, undefined);
});

test("rate-limited retries back off exponentially per key and forget resets", () => {
  const delays: number[] = [];
  let now = 0;
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50, now: () => now });
  const realAddAfter = q.addAfter.bind(q);
  q.addAfter = (key: string, ms: number) => {
    delays.push(ms);
    realAddAfter(key, ms);
  };
  for (let i = 0; i < 5; i++) q.addRateLimited("k");
  assert.deepEqual(delays, [10, 20, 40, 50, 50]);
  q.forget("k");
  q.addRateLimited("k");
  assert.equal(delays.at(-1), 10);
  now += 1;
  q.shutDown();
});

test("addAfter keeps the earliest pending add", async () => {
  const q = new WorkQueue();
  // The queue's timers are unref'd (they must not keep an operator alive); hold the event
  // loop open while this test waits on one.
  const hold = setInterval(() => {}, 1_000);
  try {
    q.addAfter("k", 10_000);
    q.addAfter("k", 5);
    assert.equal(await q.get(), "k");
  } finally {
    clearInterval(hold);
    q.shutDown();
  }
});
