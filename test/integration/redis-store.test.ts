/**
 * RedisStore on real redis-server processes: the shared MessageStore contract in every
 * deployment mode (standalone, Sentinel, Cluster), then what is specific to Redis — where
 * keys land, what they hold, how versions compare, in what order writes apply.
 * Failure and recovery: `redis-failure.test.ts`.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { keysOf } from "../../server/src/storage/redis-schema.js";
import { RedisStore, type RedisStoreOptions } from "../../server/src/storage/redis-store.js";
import { storeContract } from "../../server/src/storage/store.contract.js";
import { StoreError } from "../../server/src/storage/store.js";
import {
  type ClusterSetup,
  type RedisServer,
  redisCommand,
  startCluster,
  startRedis,
  startSentinel,
  until,
} from "../support/redis.js";

const DAY = 24 * 3600;
const MAX_U64 = 18446744073709551615n;

const id = () => randomUUID().replaceAll("-", "");

/** A clock the test moves by hand. */
function manualClock(start = Date.now()) {
  let t = start;
  return {
    read: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/**
 * Stores that the contract made and did not clean up: node 20 skips `afterEach` for a test
 * that calls `t.skip()`, and an open store would keep this process alive (it reconnects).
 * Registered first, so they close before the servers go away.
 */
const unclosed = new Set<RedisStore>();
after(() => Promise.all([...unclosed].map((s) => s.close())));

/** Starts a deployment on first use (once per file) and disposes it when the file ends. */
function lazily<T extends { dispose(): Promise<void> }>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  after(async () => {
    await (await started?.catch(() => undefined))?.dispose();
  });
  return () => {
    started ??= start();
    return started;
  };
}

const standalone = lazily(() => startRedis());
const sentinel = lazily(() => startSentinel());
const cluster = lazily(() => startCluster());

type Connection =
  | { mode: "standalone"; url: string }
  | { mode: "sentinel"; sentinels: { host: string; port: number }[]; sentinelName: string }
  | { mode: "cluster"; nodes: { host: string; port: number }[] };

/** The contract's `make`: a fresh store per test on the shared deployment. */
function maker(connect: () => Promise<Connection>, clock: "injected" | "real") {
  return async () => {
    const c = clock === "injected" ? manualClock() : undefined;
    const options: RedisStoreOptions = { ...(await connect()), now: c?.read };
    const store = await RedisStore.open(options);
    unclosed.add(store);
    return {
      store,
      ...(c && { now: { advance: c.advance } }),
      cleanup: async () => {
        unclosed.delete(store);
        await store.close();
      },
    };
  };
}

const standaloneConn = async (): Promise<Connection> => ({
  mode: "standalone",
  url: (await standalone()).url,
});
storeContract("RedisStore standalone (injected clock)", maker(standaloneConn, "injected"));
storeContract("RedisStore standalone (real clock)", maker(standaloneConn, "real"));
storeContract(
  "RedisStore sentinel",
  maker(async () => {
    const s = await sentinel();
    return { mode: "sentinel", sentinels: [...s.sentinels], sentinelName: s.name };
  }, "injected"),
);
storeContract(
  "RedisStore cluster",
  maker(async () => ({ mode: "cluster", nodes: [...(await cluster()).seeds] }), "injected"),
);

describe("RedisStore on Redis Cluster", () => {
  let setup: ClusterSetup;
  let store: RedisStore;
  before(async () => {
    setup = await cluster();
    store = await RedisStore.open({ mode: "cluster", nodes: [...setup.seeds] });
  });
  after(() => store.close());

  it("puts both keys of a UAID in one slot, and spreads UAIDs over every master", async () => {
    const port = setup.nodes[0]!.port;
    const slots = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const uaid = id();
      const k = keysOf("edition:", uaid);
      const u = Number(await redisCommand(port, ["CLUSTER", "KEYSLOT", k.registrations]));
      const p = Number(await redisCommand(port, ["CLUSTER", "KEYSLOT", k.pending]));
      assert.equal(u, p, `${k.registrations} and ${k.pending} share a slot`);
      slots.add(u);
      await store.register(uaid, uaid);
      assert.equal(await store.savePending(uaid, uaid, uaid, 1n, DAY), "stored");
    }
    assert.ok(slots.size > 40, "UAIDs hash to many slots");
    for (const n of setup.nodes) {
      const keys = Number(await redisCommand(n.port, ["DBSIZE"]));
      assert.ok(keys > 0, `master ${n.port} holds some UAIDs`);
    }
  });

  it("keeps working when the masters forget their scripts (SCRIPT FLUSH)", async () => {
    const ch = id();
    const uaid = id();
    await store.register(uaid, ch);
    assert.equal(await store.savePending(uaid, ch, ch, 1n, DAY), "stored");
    const flush = () =>
      Promise.all(setup.nodes.map((n) => redisCommand(n.port, ["SCRIPT", "FLUSH"])));
    await flush();
    assert.equal(await store.savePending(uaid, ch, ch, 2n, DAY), "stored");
    await flush();
    assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 2n }]);
    await flush();
    await store.ack(uaid, [{ channel: ch, version: 2n }]);
    assert.deepEqual(await store.pending(uaid), []);
  });
});

describe("RedisStore on standalone Redis", () => {
  let server: RedisServer;
  let store: RedisStore;
  const clock = manualClock();
  const raw = (...args: string[]) => redisCommand(server.port, args);
  /** The size of every batch the store sent, as `onBatch` reported it. */
  const batches: number[] = [];
  before(async () => {
    server = await standalone();
    store = await RedisStore.open({
      mode: "standalone",
      url: server.url,
      now: clock.read,
      onBatch: (n) => batches.push(n),
    });
  });
  after(() => store.close());

  it("stores a u64 version as its exact decimal digits and returns it as a bigint", async () => {
    const ch = id();
    const uaid = id();
    await store.register(uaid, ch);
    await store.savePending(uaid, ch, ch, MAX_U64, DAY);
    const value = await raw("HGET", keysOf("edition:", uaid).pending, ch);
    assert.match(value, /^\d+:18446744073709551615:/);
    assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: MAX_U64 }]);
  });

  it("ack compares versions as u64 integers: not as doubles, not as text", async () => {
    const cases: [pending: bigint, acked: bigint, deleted: boolean][] = [
      [9007199254740993n, 9007199254740992n, false], // equal as doubles
      [MAX_U64, MAX_U64 - 1n, false], // equal as doubles
      [10n, 9n, false], // "10" < "9" as text
      [9n, 10n, true],
      [0n, 0n, true],
      [MAX_U64 - 1n, MAX_U64, true],
    ];
    for (const [pending, acked, deleted] of cases) {
      const ch = id();
      const uaid = id();
      await store.register(uaid, ch);
      await store.savePending(uaid, ch, ch, pending, DAY);
      await store.ack(uaid, [{ channel: ch, version: acked }]);
      const left = await store.pending(uaid);
      assert.deepEqual(
        left,
        deleted ? [] : [{ channelID: ch, version: pending }],
        `${acked} acks ${pending}`,
      );
    }
  });

  it("applies calls in the order they were issued, even when not awaited one by one", async () => {
    const ch = id();
    const uaid = id();
    await store.register(uaid, ch);
    // A client acks version 1 while a PUT of version 2 arrives: the newer one must survive.
    const calls = [
      store.savePending(uaid, ch, ch, 1n, DAY),
      store.ack(uaid, [{ channel: ch, version: 1n }]),
      store.savePending(uaid, ch, ch, 2n, DAY),
      store.ack(uaid, [{ channel: ch, version: 1n }]),
    ];
    await Promise.all(calls);
    assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 2n }]);
  });

  it("sees a save in a read issued right after it, and an unregister issued after a save wins", async () => {
    const ch = id();
    const uaid = await registered(ch);
    const [saved, read] = await Promise.all([
      store.savePending(uaid, ch, ch, 1n, DAY),
      store.pending(uaid),
    ]);
    assert.equal(saved, "stored");
    assert.deepEqual(read, [{ channelID: ch, version: 1n }]);
    const [again] = await Promise.all([
      store.savePending(uaid, ch, ch, 2n, DAY),
      store.unregister(uaid, ch),
    ]);
    assert.equal(again, "stored");
    assert.deepEqual(await store.pending(uaid), []);
  });

  it("sends the saves and acks of many UAIDs made together as a few script calls, each with its own outcome", async () => {
    const n = 300;
    const channels = Array.from({ length: n }, id);
    const uaids: string[] = [];
    for (let i = 0; i < n; i++) {
      // Every third UAID is unknown (gone), every third knows another channel only.
      const uaid = id();
      if (i % 3 === 1) await store.register(uaid, channels[i]!);
      if (i % 3 === 2) await store.register(uaid, id());
      uaids.push(uaid);
    }
    const expected = (i: number) => ["gone", "stored", "unregistered"][i % 3];
    const before = await scriptCalls();
    batches.length = 0;
    const outcomes = await Promise.all(
      uaids.map((u, i) => store.savePending(u, channels[i]!, channels[i]!, BigInt(i), DAY)),
    );
    const saveCalls = (await scriptCalls()) - before;
    assert.deepEqual(
      outcomes,
      uaids.map((_, i) => expected(i)),
    );
    // 300 operations: 3 calls of at most 128 (one more if Redis asked for the script).
    assert.ok(saveCalls >= 3 && saveCalls <= 4, `${saveCalls} script calls for ${n} saves`);
    // What the batch-size histogram is told: every save, in batches of at most 128.
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      n,
      `batches ${batches.join(",")}`,
    );
    assert.ok(batches.length === 3 && batches.every((b) => b <= 128), `batches ${batches}`);
    const stored = uaids.filter((_, i) => expected(i) === "stored");
    for (const u of stored.slice(0, 5)) assert.equal((await store.pending(u)).length, 1);

    const beforeAcks = await scriptCalls();
    // Acked at the stored version, and one version too low for every other UAID.
    await Promise.all(
      uaids.map((u, i) =>
        store.ack(u, [{ channel: channels[i]!, version: BigInt(i) - (i % 2 === 0 ? 0n : 1n) }]),
      ),
    );
    const ackCalls = (await scriptCalls()) - beforeAcks;
    assert.ok(ackCalls >= 3 && ackCalls <= 4, `${ackCalls} script calls for ${n} acks`);
    for (let i = 0; i < n; i++) {
      if (expected(i) !== "stored") continue;
      const left = await store.pending(uaids[i]!);
      assert.equal(left.length, i % 2 === 0 ? 0 : 1, `UAID ${i}`);
    }
  });

  it("fails only the operation whose keys are broken, not the others sent with it", async () => {
    const [a, b] = [id(), id()];
    const good = await registered(a);
    const broken = await registered(b);
    await raw("SET", keysOf("edition:", broken).pending, "not a hash");
    const [ok, bad, ack] = await Promise.allSettled([
      store.savePending(good, a, a, 1n, DAY),
      store.savePending(broken, b, b, 1n, DAY),
      store.ack(broken, [{ channel: b, version: 1n }]),
    ]);
    assert.deepEqual(ok, { status: "fulfilled", value: "stored" });
    assert.equal(bad.status, "rejected");
    assert.ok(bad.status === "rejected" && bad.reason instanceof StoreError, String(bad));
    assert.match(String((bad as PromiseRejectedResult).reason), /WRONGTYPE/);
    assert.equal(ack.status, "rejected");
    assert.deepEqual(await store.pending(good), [{ channelID: a, version: 1n }]);
  });

  it("fails a whole batch on a read-only replica with Redis's READONLY error, writing nothing", async (t) => {
    const own = await startRedis();
    t.after(() => own.dispose());
    const s = await RedisStore.open({ mode: "standalone", url: own.url });
    t.after(() => s.close());
    const [a, b] = [id(), id()];
    await s.register(a, a);
    await s.register(b, b);
    const storeConnections = async () =>
      (await redisCommand(own.port, ["CLIENT", "LIST"]))
        .split("\n")
        .filter((l) => l.startsWith("id=") && !l.includes("cmd=client|list"))
        .map((l) => l.split(" ")[0]!);
    const before = await storeConnections();
    // A demoted master: read-only while it looks for its (absent) new master.
    await redisCommand(own.port, ["REPLICAOF", "127.0.0.1", "1"]);
    try {
      const r = await Promise.allSettled([
        s.savePending(a, a, a, 1n, DAY),
        s.savePending(b, b, b, 1n, DAY),
        s.ack(a, [{ channel: a, version: 1n }]),
      ]);
      for (const x of r) {
        assert.ok(x.status === "rejected" && x.reason instanceof StoreError, String(x.status));
        assert.match(String(x.reason), /READONLY/);
      }
      // ioredis saw the READONLY reply and reconnected (to find the current master).
      await until(
        async () => !(await storeConnections()).some((c) => before.includes(c)),
        5000,
        "the store to reconnect after READONLY",
      );
    } finally {
      await redisCommand(own.port, ["REPLICAOF", "NO", "ONE"]);
    }
    const pending = await redisCommand(own.port, ["EXISTS", keysOf("edition:", a).pending]);
    assert.equal(pending, "0");
  });

  it("gives the pending key an EXPIRE that a shorter TTL never shortens; registrations expire after inactivity (default 60 days)", async () => {
    const [a, b] = [id(), id()];
    const uaid = await registered(a, b);
    const k = keysOf("edition:", uaid);
    await store.savePending(uaid, a, a, 1n, 3600);
    await store.savePending(uaid, b, b, 1n, 60);
    const ttl = Number(await raw("PTTL", k.pending));
    assert.ok(ttl > 3_590_000 && ttl <= 3_600_000, `pending key PTTL ${ttl}`);
    const uttl = Number(await raw("PTTL", k.registrations));
    assert.ok(
      uttl > 60 * 86_400_000 - 60_000 && uttl <= 60 * 86_400_000,
      `registrations PTTL ${uttl}`,
    );
  });

  it("lets Redis drop an abandoned UAID's pending updates by itself, keeping its registrations", async () => {
    const ch = id();
    const uaid = await registered(ch);
    const k = keysOf("edition:", uaid);
    await store.savePending(uaid, ch, ch, 1n, 1);
    await until(
      async () => (await raw("EXISTS", k.pending)) === "0",
      5000,
      "the pending key to expire",
    );
    assert.equal(await store.channelCount(uaid), 1);
  });

  it("deletes expired updates from Redis when reading", async () => {
    const [a, b] = [id(), id()];
    const uaid = await registered(a, b);
    const k = keysOf("edition:", uaid);
    await store.savePending(uaid, a, a, 1n, 10);
    await store.savePending(uaid, b, b, 2n, 20);
    clock.advance(10_000);
    assert.deepEqual(await store.pending(uaid), [{ channelID: b, version: 2n }]);
    assert.equal(await raw("HLEN", k.pending), "1");
    clock.advance(10_000);
    assert.deepEqual(await store.pending(uaid), []);
    assert.equal(await raw("EXISTS", k.pending), "0", "the emptied hash is gone");
  });

  it("authenticates with a password, and does not open without it", async (t) => {
    const secured = await startRedis({ password: "s3cret", t });
    await assert.rejects(
      RedisStore.open({ mode: "standalone", url: secured.url, connectTimeoutMs: 500 }),
      StoreError,
    );
    for (const options of [
      { url: secured.url, password: "s3cret" },
      { url: `redis://:s3cret@127.0.0.1:${secured.port}` },
    ]) {
      const authed = await RedisStore.open({ mode: "standalone", ...options });
      try {
        await authed.addUser(id());
        assert.equal(await authed.healthy(), true);
      } finally {
        await authed.close();
      }
    }
  });

  it("keeps every key under the configured prefix", async () => {
    const other = await RedisStore.open({ mode: "standalone", url: server.url, keyPrefix: "x:" });
    try {
      const ch = id();
      const uaid = id();
      await other.register(uaid, ch);
      await other.savePending(uaid, ch, ch, 1n, DAY);
      assert.equal(await raw("EXISTS", `x:{${uaid}}:u`, `x:{${uaid}}:p`), "2");
      assert.equal(await store.hasUser(uaid), false, "invisible under the default prefix");
    } finally {
      await other.close();
    }
  });

  /** Script calls Redis has run so far (EVALSHA and EVAL). */
  async function scriptCalls(): Promise<number> {
    const stats = await raw("INFO", "commandstats");
    let calls = 0;
    for (const m of stats.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)) calls += Number(m[1]);
    return calls;
  }

  async function registered(...channels: string[]): Promise<string> {
    const uaid = id();
    for (const c of channels) await store.register(uaid, c);
    return uaid;
  }
});

describe("RedisStore UAID expiry (real Redis clock)", () => {
  it("a UAID not seen for uaidTtlSeconds is gone, keys and all; hasUser restarts the clock", async () => {
    const url = (await standalone()).url;
    const store = await RedisStore.open({ mode: "standalone", url, uaidTtlSeconds: 1 });
    try {
      const idle = id();
      const active = id();
      const ch = id();
      await store.register(idle, ch);
      await store.register(active, ch);
      assert.equal(await store.savePending(idle, ch, ch, 1n, 3600), "stored");
      const port = Number(new URL(url).port);
      const ttl = Number(
        await redisCommand(port, ["PTTL", keysOf("edition:", idle).registrations]),
      );
      assert.ok(ttl > 0 && ttl <= 1000, `registrations key expires (PTTL ${ttl})`);
      // Poll with savePending (a PUT is not activity); keep `active` alive with hasUser.
      const end = Date.now() + 5000;
      let outcome = "stored";
      while (outcome !== "gone" && Date.now() < end) {
        assert.equal(await store.hasUser(active), true);
        outcome = await store.savePending(idle, ch, ch, 2n, 3600);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(outcome, "gone");
      assert.equal(await store.hasUser(active), true);
      assert.equal(await store.hasUser(idle), false);
    } finally {
      await store.close();
    }
  });
});
