/**
 * `global` durability on real redis-server processes (docs/multi-region.md): a PUT's
 * `stored` is reported only once a replica has the update (`WAIT`); with the replica gone
 * the write is refused as not replicated (ReplicationTimeout → 503) yet kept locally. And
 * `knows()` reads a UAID's record from a read-only replica (how another region's UAIDs are
 * recognised).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { RedisStore } from "../../server/src/storage/redis-store.js";
import { ReplicationTimeout } from "../../server/src/storage/replication.js";
import { storeContract } from "../../server/src/storage/store.contract.js";
import { startRedis, until } from "../support/redis.js";
import { linked } from "../support/regions.js";

const id = () => randomUUID().replaceAll("-", "");

describe("global durability (WAIT for a replica)", () => {
  it("confirms through the replica, refuses without it, and keeps the write", {
    timeout: 60_000,
  }, async (t) => {
    const primary = await startRedis({ t });
    const replica = await startRedis({
      t,
      args: () => ["--replicaof", "127.0.0.1", String(primary.port)],
    });
    await linked(replica);
    const store = await RedisStore.open(
      { mode: "standalone", url: primary.url },
      { confirmTimeoutMs: 300 },
    );
    t.after(() => store.close());
    const onReplica = await RedisStore.open({ mode: "standalone", url: replica.url });
    t.after(() => onReplica.close());
    const uaid = id();
    const channel = id();
    await store.register(uaid, channel);
    // The replica count is polled: wait until the store has seen the replica.
    await until(
      async () => (await store.savePending(uaid, channel, channel, 1n, 60)) === "stored",
      5_000,
      "a confirmed write",
    );
    assert.equal(await onReplica.knows(uaid), true, "the replica has the UAID (read-only read)");
    assert.equal(await onReplica.knows(id()), false);
    assert.deepEqual(
      (await onReplica.pending(uaid)).map((p) => p.version),
      [1n],
      "the replica has the update",
    );

    await replica.stop("SIGKILL");
    let refused: unknown;
    await until(
      async () => {
        try {
          await store.savePending(uaid, channel, channel, 2n, 60);
          return false;
        } catch (err) {
          refused = err;
          return true;
        }
      },
      5_000,
      "a write refused once the replica is gone",
    );
    assert.ok(refused instanceof ReplicationTimeout, String(refused));
    assert.deepEqual(
      (await store.pending(uaid)).map((p) => p.version),
      [2n],
      "the refused update is still stored locally (a 503 may still be delivered)",
    );
  });
});

// The whole store contract holds with `global` durability (writes on their own connection,
// each confirmed by the replica).
const deployment = (() => {
  let started: Promise<{ url: string; dispose(): Promise<void> }> | undefined;
  after(async () => {
    await (await started?.catch(() => undefined))?.dispose();
  });
  return () => {
    started ??= (async () => {
      const primary = await startRedis();
      const replica = await startRedis({
        args: () => ["--replicaof", "127.0.0.1", String(primary.port)],
      });
      await linked(replica);
      return {
        url: primary.url,
        dispose: async () => {
          await Promise.all([primary.dispose(), replica.dispose()]);
        },
      };
    })();
    return started;
  };
})();

storeContract("RedisStore with global durability", async () => {
  let t = Date.now();
  const store = await RedisStore.open(
    { mode: "standalone", url: (await deployment()).url, now: () => t },
    { confirmTimeoutMs: 2000 },
  );
  return {
    store,
    now: {
      advance: (ms: number) => {
        t += ms;
      },
    },
    cleanup: () => store.close(),
  };
});
