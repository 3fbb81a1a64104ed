/**
 * Group commit as an SRE sees it: one real node on a real Redis, PUTs from many app servers
 * at once, and `edition_store_batch_operations` on /metrics counting every save the node
 * sent to Redis, each in a batch of at most 128 (docs/observability.md).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { disconnectAll, helloClient } from "../support/client.js";
import { channelID, form, put, sample, scrape } from "../support/http.js";
import { startNode } from "../support/node.js";
import { startRedis } from "../support/redis.js";

test("a node on Redis reports the size of every store batch it sent", {
  timeout: 60_000,
}, async (t) => {
  t.after(disconnectAll);
  const redis = await startRedis({ t });
  const node = await startNode({ env: { EDITION_REDIS_URL: redis.url }, t });

  // Offline devices: every accepted PUT is one save, and nothing else is batched.
  const devices = 20;
  const endpoints: string[] = [];
  for (let i = 0; i < devices; i++) {
    const c = await helloClient(node.wsUrl);
    endpoints.push(await c.register(channelID()));
    await c.close();
  }
  const before = await scrape(node.adminUrl);
  assert.equal(sample(before, "edition_store_batch_operations_sum"), 0, "no save yet");

  const perDevice = 5;
  const statuses = await Promise.all(
    endpoints.flatMap((e) =>
      Array.from(
        { length: perDevice },
        async (_, v) => (await put(e, { body: form({ version: v + 1 }) })).status,
      ),
    ),
  );
  assert.deepEqual(new Set(statuses), new Set([202]), "every PUT stored for an offline device");

  const after = await scrape(node.adminUrl);
  const saves = devices * perDevice;
  assert.equal(sample(after, "edition_store_batch_operations_sum"), saves, "every save in a batch");
  const batches = sample(after, "edition_store_batch_operations_count");
  assert.ok(batches >= 1 && batches <= saves, `${batches} batches for ${saves} saves`);
  assert.equal(
    sample(after, 'edition_store_batch_operations_bucket{le="128"}'),
    batches,
    "no batch over 128",
  );
  await node.stop();
});
