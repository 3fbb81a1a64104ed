import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStore } from "./memory-store.js";
import { storeContract } from "./store.contract.js";

/** A MemoryStore on a clock the test moves. */
function clocked(start = 1_700_000_000_000) {
  let t = start;
  const store = new MemoryStore(() => t);
  return {
    store,
    now: {
      advance(ms: number) {
        t += ms;
      },
    },
  };
}

storeContract("MemoryStore (contract)", async () => clocked());

const CH = (n: number) => n.toString(16).padStart(32, "0");
const UAID = (n: number) => `${"a".repeat(24)}${n.toString(16).padStart(8, "0")}`;

describe("MemoryStore.sweep", () => {
  it("removes expired updates and returns how many it removed", async () => {
    const { store, now } = clocked();
    const u = UAID(1);
    await store.register(u, CH(1));
    await store.register(u, CH(2));
    await store.savePending(u, CH(1), CH(1), 1n, 10);
    await store.savePending(u, CH(2), CH(2), 2n, 1000);
    assert.equal(store.sweep(100), 0, "nothing has expired yet");
    now.advance(10_000);
    assert.equal(store.sweep(100), 1);
    assert.equal(store.sweep(100), 0, "already removed");
    assert.deepEqual(await store.pending(u), [{ channelID: CH(2), version: 2n }]);
    now.advance(990_000);
    assert.equal(store.sweep(100), 1);
    assert.deepEqual(await store.pending(u), []);
  });

  it("visits at most `budget` UAIDs per call", async () => {
    const { store, now } = clocked();
    for (let i = 0; i < 5; i++) {
      await store.register(UAID(i), CH(1));
      await store.savePending(UAID(i), CH(1), CH(1), 1n, 1);
    }
    now.advance(1000);
    assert.equal(store.sweep(2), 2);
    assert.equal(store.sweep(2), 2);
    assert.equal(store.sweep(2), 1);
    assert.equal(store.sweep(2), 0);
    for (let i = 0; i < 5; i++) assert.deepEqual(await store.pending(UAID(i)), []);
  });

  it("a budget of 0 removes nothing", async () => {
    const { store, now } = clocked();
    await store.register(UAID(1), CH(1));
    await store.savePending(UAID(1), CH(1), CH(1), 1n, 1);
    now.advance(1000);
    assert.equal(store.sweep(0), 0);
    assert.equal(store.sweep(1), 1);
  });

  it("walks the UAIDs round-robin: live ones at the front do not starve expired ones behind", async () => {
    const { store, now } = clocked();
    // Two UAIDs with long-lived updates first, then one whose update expires.
    for (const [i, ttl] of [
      [1, 1000],
      [2, 1000],
      [3, 1],
    ] as const) {
      await store.register(UAID(i), CH(1));
      await store.savePending(UAID(i), CH(1), CH(1), 1n, ttl);
    }
    now.advance(1000);
    assert.equal(store.sweep(2), 0, "visits the two live UAIDs");
    assert.equal(store.sweep(2), 1, "then reaches the expired one");
    assert.deepEqual(await store.pending(UAID(1)), [{ channelID: CH(1), version: 1n }]);
    assert.deepEqual(await store.pending(UAID(2)), [{ channelID: CH(1), version: 1n }]);
  });

  it("leaves registrations alone", async () => {
    const { store, now } = clocked();
    await store.register(UAID(1), CH(1));
    await store.savePending(UAID(1), CH(1), CH(1), 1n, 1);
    now.advance(1000);
    assert.equal(store.sweep(10), 1);
    assert.equal(await store.channelCount(UAID(1)), 1);
    assert.equal(await store.savePending(UAID(1), CH(1), CH(1), 2n, 1), "stored");
  });
});

describe("MemoryStore channel representation", () => {
  /** The private per-UAID record, to check the memory-saving shape (string for one channel). */
  function record(store: MemoryStore, uaid: string): unknown {
    return (store as unknown as { users: Map<string, unknown> }).users.get(uaid);
  }

  async function saves(store: MemoryStore, uaid: string, channels: number[]) {
    const out: string[] = [];
    for (const c of channels) out.push(await store.savePending(uaid, CH(c), CH(c), 1n, 60));
    return out;
  }

  it("stays correct going 0 → 1 → 2 → 1 → 0 channels and back up", async () => {
    const store = new MemoryStore();
    const u = UAID(1);
    await store.addUser(u);
    assert.equal(await store.channelCount(u), 0);
    assert.deepEqual(await saves(store, u, [1, 2]), ["unregistered", "unregistered"]);
    assert.equal(typeof record(store, u), "string");

    await store.register(u, CH(1));
    assert.equal(await store.channelCount(u), 1);
    assert.equal(record(store, u), CH(1), "one channel is held as a plain string");
    assert.deepEqual(await saves(store, u, [1, 2]), ["stored", "unregistered"]);

    await store.register(u, CH(1));
    assert.equal(await store.channelCount(u), 1, "registering the same channel again");
    assert.equal(record(store, u), CH(1));

    await store.register(u, CH(2));
    assert.equal(await store.channelCount(u), 2);
    assert.ok(record(store, u) instanceof Set, "several channels are held as a Set");
    assert.deepEqual(await saves(store, u, [1, 2, 3]), ["stored", "stored", "unregistered"]);

    await store.register(u, CH(2));
    assert.equal(await store.channelCount(u), 2);

    await store.unregister(u, CH(3));
    assert.equal(await store.channelCount(u), 2, "unregistering an unknown channel");

    await store.unregister(u, CH(1));
    assert.equal(await store.channelCount(u), 1);
    assert.equal(record(store, u), CH(2), "back to a plain string at one channel");
    assert.deepEqual(await saves(store, u, [1, 2]), ["unregistered", "stored"]);

    await store.unregister(u, CH(1));
    assert.equal(await store.channelCount(u), 1);

    await store.unregister(u, CH(2));
    assert.equal(await store.channelCount(u), 0);
    assert.equal(await store.hasUser(u), true, "the UAID survives with no channels");
    assert.deepEqual(await saves(store, u, [1, 2]), ["unregistered", "unregistered"]);
    assert.deepEqual(await store.pending(u), [], "unregister removed both pending updates");

    await store.register(u, CH(3));
    await store.register(u, CH(4));
    await store.register(u, CH(5));
    assert.equal(await store.channelCount(u), 3);
    await store.unregister(u, CH(4));
    assert.equal(await store.channelCount(u), 2);
    assert.ok(record(store, u) instanceof Set, "several channels are held as a Set");
    assert.deepEqual(await saves(store, u, [3, 4, 5]), ["stored", "unregistered", "stored"]);
  });

  it("register on an unknown UAID creates it holding that one channel", async () => {
    const store = new MemoryStore();
    await store.register(UAID(2), CH(7));
    assert.equal(record(store, UAID(2)), CH(7));
    assert.equal(await store.channelCount(UAID(2)), 1);
  });
});

describe("MemoryStore UAID expiry", () => {
  it("forgets a UAID not seen for uaidTtlSeconds; hasUser and register restart its clock", async () => {
    let t = 1_700_000_000_000;
    const store = new MemoryStore(() => t, { uaidTtlSeconds: 10 });
    const a = UAID(1);
    const b = UAID(2);
    await store.register(a, CH(1));
    await store.register(b, CH(1));
    t += 9_000;
    assert.equal(await store.hasUser(a), true); // activity: a lives until +19 s
    assert.equal(await store.savePending(b, CH(1), CH(1), 1n, 3600), "stored"); // a PUT is not
    t += 2_000;
    assert.equal(await store.savePending(b, CH(1), CH(1), 2n, 3600), "gone");
    assert.equal(await store.hasUser(b), false);
    assert.equal(await store.savePending(a, CH(1), CH(1), 3n, 3600), "stored");
    t += 8_000;
    assert.equal(await store.hasUser(a), false);
  });

  it("sweep removes expired records at the front and stops at the first live one", async () => {
    let t = 1_700_000_000_000;
    const store = new MemoryStore(() => t, { uaidTtlSeconds: 10 });
    for (let i = 0; i < 1000; i++) await store.register(UAID(i), CH(1));
    t += 5_000;
    await store.addUser(UAID(7)); // touched: moves to the back
    t += 6_000;
    assert.equal(store.size, 1000);
    assert.equal(store.sweep(400), 400);
    assert.equal(store.size, 600);
    store.sweep(10_000);
    assert.equal(store.size, 1);
    assert.equal(await store.hasUser(UAID(7)), true);
  });
});
