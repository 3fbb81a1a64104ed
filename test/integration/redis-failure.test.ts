/**
 * RedisStore when Redis fails: every operation rejects with StoreError, fast (nothing waits
 * for Redis to come back, nothing piles up), and the same store object works again once
 * Redis is back — standalone restart, stall, Sentinel failover, Cluster master restart.
 * Updates acknowledged as `stored` before the failure are still pending after it.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it, type TestContext } from "node:test";
import { keysOf } from "../../server/src/storage/redis-schema.js";
import { RedisStore, type RedisStoreOptions } from "../../server/src/storage/redis-store.js";
import { type MessageStore, StoreError } from "../../server/src/storage/store.js";
import {
  type RedisServer,
  redisCommand,
  startCluster,
  startRedis,
  startSentinel,
  until,
} from "../support/redis.js";

const DAY = 24 * 3600;
const id = () => randomUUID().replaceAll("-", "");

/** Opens a store that is closed when the test ends. */
async function openStore(t: TestContext, options: RedisStoreOptions): Promise<RedisStore> {
  const store = await RedisStore.open({ commandTimeoutMs: 500, ...options });
  t.after(() => store.close());
  return store;
}

/** Asserts that `call` rejects with StoreError within `withinMs`; returns how long it took. */
async function rejectsFast(call: () => Promise<unknown>, withinMs: number, what: string) {
  const start = performance.now();
  await assert.rejects(call(), StoreError, `${what} rejects with StoreError`);
  const ms = performance.now() - start;
  assert.ok(ms < withinMs, `${what} rejected after ${Math.round(ms)} ms (bound ${withinMs} ms)`);
  return ms;
}

/**
 * Every MessageStore operation, all on `uaid` (so on its slot in a cluster). Meant to fail:
 * were one to succeed, `dropUser` would drop the UAID and the test would notice.
 */
function everyOperation(store: MessageStore, uaid: string, ch: string) {
  return {
    hasUser: () => store.hasUser(uaid),
    addUser: () => store.addUser(uaid),
    dropUser: () => store.dropUser(uaid),
    register: () => store.register(uaid, ch),
    unregister: () => store.unregister(uaid, id()),
    channelCount: () => store.channelCount(uaid),
    savePending: () => store.savePending(uaid, ch, ch, 2n, DAY),
    pending: () => store.pending(uaid),
    ack: () => store.ack(uaid, [{ channel: ch, version: 0n }]),
  };
}

/** A UAID with `ch` registered and `version` stored as its pending update. */
async function withPending(store: MessageStore, ch: string, version: bigint): Promise<string> {
  const uaid = id();
  await store.register(uaid, ch);
  assert.equal(await store.savePending(uaid, ch, ch, version, DAY), "stored");
  return uaid;
}

/** Polls until `store` answers again (any StoreError meanwhile is expected). */
function recovered(store: MessageStore, deadlineMs: number): Promise<void> {
  return until(() => store.healthy(), deadlineMs, "the store answering again");
}

describe("RedisStore with standalone Redis down", () => {
  it("open() fails with StoreError within connectTimeoutMs when Redis is unreachable", async (t) => {
    const server = await startRedis({ t });
    await server.stop();
    await rejectsFast(
      () => RedisStore.open({ mode: "standalone", url: server.url, connectTimeoutMs: 300 }),
      1500,
      "open()",
    );
  });

  it("rejects every operation at once while Redis is down, then works again after a restart with the stored update intact", async (t) => {
    const server = await startRedis({ aof: true, t });
    const store = await openStore(t, { mode: "standalone", url: server.url });
    const ch = id();
    const uaid = await withPending(store, ch, 18446744073709551615n);

    await server.stop("SIGKILL"); // a crash: only what reached the AOF survives
    await until(async () => !(await store.healthy()), 2000, "healthy() turning false");
    for (const [name, call] of Object.entries(everyOperation(store, uaid, ch))) {
      await rejectsFast(call, 1000, name);
    }
    // No queue builds up while Redis is away: a burst fails as fast as one call.
    const burst = Array.from(
      { length: 1000 },
      () => () => store.savePending(uaid, ch, ch, 3n, DAY),
    );
    const start = performance.now();
    const results = await Promise.allSettled(burst.map((call) => call()));
    assert.ok(results.every((r) => r.status === "rejected" && r.reason instanceof StoreError));
    assert.ok(performance.now() - start < 1000, "1000 calls rejected within 1 s");

    await server.restart();
    await recovered(store, 5000);
    assert.deepEqual(await store.pending(uaid), [
      { channelID: ch, version: 18446744073709551615n },
    ]);
    assert.equal(await store.savePending(uaid, ch, ch, 4n, DAY), "stored");
    await store.ack(uaid, [{ channel: ch, version: 4n }]);
    assert.deepEqual(await store.pending(uaid), []);
  });

  it("times out with StoreError while Redis is stalled, and works again when it resumes", async (t) => {
    const server = await startRedis({ t });
    const store = await openStore(t, {
      mode: "standalone",
      url: server.url,
      commandTimeoutMs: 300,
    });
    const ch = id();
    const uaid = await withPending(store, ch, 1n);
    server.pause(); // Redis keeps its sockets open but answers nothing
    try {
      const ms = await rejectsFast(() => store.pending(uaid), 1500, "pending() on a stalled Redis");
      assert.ok(ms >= 250, `waited for the command timeout (${Math.round(ms)} ms)`);
      assert.equal(await store.healthy(), false);
    } finally {
      server.resume();
    }
    await recovered(store, 5000);
    assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 1n }]);
  });

  it("close() never rejects, even with Redis down, and later calls reject with StoreError", async (t) => {
    const server = await startRedis({ t });
    const store = await RedisStore.open({ mode: "standalone", url: server.url });
    await server.stop("SIGKILL");
    await store.close();
    await store.close();
    await rejectsFast(() => store.hasUser(id()), 500, "hasUser() after close()");
    assert.equal(await store.healthy(), false);
  });
});

describe("RedisStore through Sentinel", () => {
  it("follows a failover to the promoted replica, keeping updates that reached it", async (t) => {
    const setup = await startSentinel({ replicas: 1, downAfterMs: 500, t });
    const store = await openStore(t, {
      mode: "sentinel",
      sentinels: [...setup.sentinels],
      sentinelName: setup.name,
    });
    const ch = id();
    const uaid = await withPending(store, ch, 7n);
    // Replication is asynchronous: wait until the replica has the update before the crash.
    // (Not WAIT from another connection: it waits for that connection's writes, i.e. none.)
    const replica = setup.replicas[0]!;
    const key = keysOf("edition:", uaid).pending;
    await until(
      async () => (await redisCommand(replica.port, ["HEXISTS", key, ch])) === "1",
      5000,
      "the update replicated",
    );

    await setup.master.stop("SIGKILL");
    await rejectsFast(() => store.pending(uaid), 1000, "pending() with the master gone");
    await recovered(store, 30_000);
    const master = await redisCommand(setup.sentinel.port, [
      "SENTINEL",
      "GET-MASTER-ADDR-BY-NAME",
      setup.name,
    ]);
    assert.match(master, new RegExp(`${replica.port}`), "the replica was promoted");
    assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 7n }]);
    assert.equal(await store.savePending(uaid, ch, ch, 8n, DAY), "stored");
  });
});

describe("RedisStore on Redis Cluster", () => {
  it("rejects fast while a master is down, and works again when it restarts", async (t) => {
    const setup = await startCluster({ aof: true, t });
    const store = await openStore(t, { mode: "cluster", nodes: [...setup.seeds] });
    const ch = id();
    const uaid = await withPending(store, ch, 5n);
    const owner = await ownerOf(setup.nodes, keysOf("edition:", uaid).pending);

    await owner.stop("SIGKILL");
    for (const [name, call] of Object.entries(everyOperation(store, uaid, ch))) {
      await rejectsFast(call, 1500, name);
    }
    // The other masters declare the cluster down once the node timeout (2 s) has passed.
    await until(async () => !(await store.healthy()), 10_000, "healthy() turning false");
    await owner.restart();
    // While the node rejoins, calls fail with CLUSTERDOWN. Calling on (as traffic would)
    // must not turn that into other failures: a script refused during the rejoin used to
    // leave NOSCRIPT errors behind once the node was back.
    const failures: string[] = [];
    const served =
      <T>(call: () => Promise<T>) =>
      () =>
        call().then(
          () => true,
          (err: Error) => {
            failures.push(err.message);
            return false;
          },
        );
    await until(
      served(() => store.pending(uaid)),
      20_000,
      "the UAID's slot served again",
    );
    assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 5n }]);
    // Reads come back first; a write may still time out while the restarted master (AOF,
    // fsync always) settles. An app server retries a 503: so does this, with the same PUT.
    await until(
      served(() => store.savePending(uaid, ch, ch, 6n, DAY)),
      20_000,
      "the UAID's slot taking writes again",
    );
    assert.deepEqual(
      failures.filter((m) => m.includes("NOSCRIPT")),
      [],
      "no NOSCRIPT while recovering",
    );
    assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 6n }]);
    await store.ack(uaid, [{ channel: ch, version: 6n }]);
    assert.deepEqual(await store.pending(uaid), []);
    await until(() => store.healthy(), 5000, "healthy() true again");
  });
});

/** The master holding `key` (the others answer MOVED). */
async function ownerOf(nodes: readonly RedisServer[], key: string): Promise<RedisServer> {
  for (const n of nodes) {
    if ((await redisCommand(n.port, ["EXISTS", key]).catch(() => "moved")) === "1") return n;
  }
  throw new Error(`no master holds ${key}`);
}
