import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RedisBatch } from "./redis-batch.js";
import { keysOf } from "./redis-schema.js";
import { StoreError } from "./store.js";

const k = (uaid: string) => keysOf("e:", uaid);

describe("RedisBatch", () => {
  it("sends the operations of one event-loop turn as one call, keys first, in the order made", async () => {
    const calls: [number, string[]][] = [];
    const batch = new RedisBatch(async (n, a) => {
      calls.push([n, a]);
      return ["stored", 1];
    });
    const results = await Promise.all([
      batch.save(k("a"), "c1", "v", 5),
      batch.ack(k("b"), ["c2", "7"]),
    ]);
    assert.deepEqual(results, ["stored", 1]);
    assert.deepEqual(calls, [
      [4, ["e:{a}:u", "e:{a}:p", "e:{b}:u", "e:{b}:p", "s", "c1", "v", "5", "a", "1", "c2", "7"]],
    ]);
  });

  it("collects what is made while a batch waits for its reply and sends it together when it returns", async () => {
    const sizes: number[] = [];
    const replies: (() => void)[] = [];
    const batch = new RedisBatch((n) => {
      sizes.push(n / 2);
      return new Promise((resolve) => {
        replies.push(() => resolve(Array.from({ length: n / 2 }, () => "stored")));
      });
    });
    const first = batch.save(k("a"), "c", "v", 1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(sizes, [1]);
    const later = [2, 3, 4].map((i) => batch.save(k(`u${i}`), "c", "v", 1));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(sizes, [1], "nothing more is sent while the first batch is unanswered");
    replies[0]!();
    assert.equal(await first, "stored");
    assert.deepEqual(sizes, [1, 3]);
    replies[1]!();
    assert.deepEqual(await Promise.all(later), ["stored", "stored", "stored"]);
  });

  it("sends at once when it holds its maximum, so what it collects stays bounded", async () => {
    const sizes: number[] = [];
    const batch = new RedisBatch(
      async (n) => {
        sizes.push(n / 2);
        return Array.from({ length: n / 2 }, () => "stored");
      },
      { maxOperations: 3 },
    );
    const all = Array.from({ length: 7 }, (_, i) => batch.save(k(`u${i}`), "c", "v", 1));
    assert.deepEqual(sizes, [3, 3]); // the seventh waits for the end of the turn
    await Promise.all(all);
    assert.deepEqual(sizes, [3, 3, 1]);
  });

  it("fails one operation on its error reply and the rest of the call keeps its replies", async () => {
    const batch = new RedisBatch(async () => ["stored", "error:WRONGTYPE bad key"]);
    const [a, b] = await Promise.allSettled([
      batch.save(k("a"), "c", "v", 1),
      batch.save(k("b"), "c", "v", 1),
    ]);
    assert.deepEqual(a, { status: "fulfilled", value: "stored" });
    assert.ok(b.status === "rejected" && b.reason instanceof StoreError);
    assert.match(String(b.reason), /WRONGTYPE bad key/);
  });

  it("fails every operation of a call that fails, or answers a wrong number of replies", async () => {
    const down = new StoreError("redis: down");
    const failing = new RedisBatch(() => Promise.reject(down));
    const r = await Promise.allSettled([
      failing.save(k("a"), "c", "v", 1),
      failing.ack(k("b"), []),
    ]);
    assert.deepEqual(
      r.map((x) => x.status === "rejected" && x.reason),
      [down, down],
    );
    const short = new RedisBatch(async () => ["stored"]);
    const s = await Promise.allSettled([
      short.save(k("a"), "c", "v", 1),
      short.save(k("b"), "c", "v", 1),
    ]);
    for (const x of s) assert.ok(x.status === "rejected" && x.reason instanceof StoreError);
  });

  it("flush sends what it holds now, and nothing when it holds nothing", async () => {
    let calls = 0;
    const batch = new RedisBatch(async (n) => {
      calls++;
      return Array.from({ length: n / 2 }, () => 0);
    });
    batch.flush();
    assert.equal(calls, 0);
    const p = batch.ack(k("a"), ["c", "1"]);
    batch.flush();
    assert.equal(calls, 1);
    assert.equal(await p, 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls, 1); // the end of the turn finds nothing left to send
  });
});
