/**
 * RedisMessageQueue on real redis-server processes, standalone and Redis Cluster: the
 * shared MessageQueue contract (with the registrations of a RedisStore on the same Redis),
 * and where its keys land.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, it } from "node:test";
import { messageQueueContract } from "../../server/src/storage/message-queue.contract.js";
import { RedisMessageQueue } from "../../server/src/storage/message-queue-redis.js";
import { RedisStore } from "../../server/src/storage/redis-store.js";
import {
  type ClusterSetup,
  type RedisServer,
  redisCommand,
  startCluster,
  startRedis,
} from "../support/redis.js";

let server: Promise<RedisServer> | undefined;
const redis = () => {
  server ??= startRedis();
  return server;
};
after(async () => (await server?.catch(() => undefined))?.dispose());
let cluster: Promise<ClusterSetup> | undefined;
const redisCluster = () => {
  cluster ??= startCluster();
  return cluster;
};
after(async () => (await cluster?.catch(() => undefined))?.dispose());

function clock(start = Date.now()) {
  let t = start;
  return {
    read: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

messageQueueContract("RedisMessageQueue standalone (contract)", async () => {
  const now = clock();
  const url = (await redis()).url;
  const store = await RedisStore.open({ mode: "standalone", url, now: now.read });
  const queue = await RedisMessageQueue.open({ mode: "standalone", url, now: now.read });
  return {
    store,
    queue,
    now,
    cleanup: async () => {
      await queue.close();
      await store.close();
    },
  };
});

messageQueueContract("RedisMessageQueue on Redis Cluster (contract)", async () => {
  const now = clock();
  const nodes = [...(await redisCluster()).seeds];
  const store = await RedisStore.open({ mode: "cluster", nodes, now: now.read });
  const queue = await RedisMessageQueue.open({ mode: "cluster", nodes, now: now.read });
  return {
    store,
    queue,
    now,
    cleanup: async () => {
      await queue.close();
      await store.close();
    },
  };
});

describe("RedisMessageQueue keys", () => {
  it("keeps a UAID's messages in one hash tagged like its registrations, expiring with its TTL", async () => {
    const r = await redis();
    const store = await RedisStore.open({ mode: "standalone", url: r.url });
    const queue = await RedisMessageQueue.open({ mode: "standalone", url: r.url });
    try {
      const uaid = randomUUID().replaceAll("-", "");
      const channel = randomUUID().replaceAll("-", "");
      await store.register(uaid, channel);
      const now = Date.now();
      const m = {
        id: randomUUID().replaceAll("-", ""),
        channel,
        channelID: channel,
        data: "AAAA",
        headers: { encoding: "aes128gcm" },
        topic: undefined,
        expiresAt: now + 50_000,
        at: now,
      };
      assert.equal(await queue.save(uaid, m, { maxMessages: 5, maxBytes: 5000 }), "stored");
      const key = `edition:{${uaid}}:w`;
      assert.equal(await redisCommand(r.port, ["HLEN", key]), "1");
      assert.equal(await redisCommand(r.port, ["EXISTS", `edition:{${uaid}}:u`]), "1");
      const pttl = Number(await redisCommand(r.port, ["PTTL", key]));
      assert.ok(pttl > 40_000 && pttl <= 50_000, `PTTL ${pttl}`);
    } finally {
      await queue.close();
      await store.close();
    }
  });
});
