import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AdoptingStore } from "./adopting-store.js";
import { MemoryStore } from "./memory-store.js";
import { StoreError } from "./store.js";

const U = (c: string) => c.repeat(32);

function setup() {
  const local = new MemoryStore();
  const a = new MemoryStore(); // region a's data (its replica, promoted or not)
  let adopted = false;
  const store = new AdoptingStore(local, {
    adopted: (r) => r === "a" && adopted,
    adoptedStore: (r) => (r === "a" && adopted ? a : undefined),
    locate: async (uaid) => ((await a.hasUser(uaid)) ? "a" : undefined),
  });
  return { local, a, store, adopt: (v: boolean) => (adopted = v) };
}

describe("AdoptingStore", () => {
  it("serves its own UAIDs locally and does not know strangers", async () => {
    const { local, store } = setup();
    await local.addUser(U("1"));
    assert.equal(await store.hasUser(U("1")), true);
    assert.equal(await store.hasUser(U("2")), false);
    assert.equal(store.regionOf(U("1")), undefined);
  });

  it("refuses another region's UAID while that region is not adopted (the client keeps it)", async () => {
    const { a, store } = setup();
    await a.register(U("a"), U("c"));
    await assert.rejects(store.hasUser(U("a")), StoreError);
  });

  it("serves an adopted region's UAID from its store: flush, register, ack go there", async () => {
    const { local, a, store, adopt } = setup();
    await a.register(U("a"), U("c"));
    await a.savePending(U("a"), U("c"), U("c"), 5n, 60);
    adopt(true);
    assert.equal(await store.hasUser(U("a")), true);
    assert.equal(store.regionOf(U("a")), "a");
    assert.deepEqual(
      (await store.pending(U("a"))).map((p) => p.version),
      [5n],
    );
    await store.register(U("a"), U("d"));
    assert.equal(await a.channelCount(U("a")), 2);
    assert.equal(await local.hasUser(U("a")), false, "nothing written to this region's store");
    await store.ack(U("a"), [{ channel: U("c"), version: 5n }]);
    assert.deepEqual(await a.pending(U("a")), []);
  });

  it("once handed back, operations on a remembered UAID fail instead of writing here", async () => {
    const { local, a, store, adopt } = setup();
    await a.register(U("a"), U("c"));
    adopt(true);
    await store.hasUser(U("a"));
    adopt(false);
    await assert.rejects(store.register(U("a"), U("d")), StoreError);
    assert.equal(await local.hasUser(U("a")), false);
    await assert.rejects(store.hasUser(U("a")), StoreError, "the next hello is refused: go home");
  });
});
