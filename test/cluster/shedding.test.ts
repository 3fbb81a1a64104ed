/**
 * Shedding (docs/limits.md): a node refuses new PUTs with 503 + Retry-After, before storing
 * anything, while a router queue to a peer is too deep or the store is too slow — and takes
 * them again once that passes. Real processes: two nodes, etcd, Redis; the peer and Redis
 * are frozen with SIGSTOP (they keep their sockets open and stop answering).
 */
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { connect, disconnectAll, isType } from "../support/client.js";
import {
  endpointVia,
  type LocalCluster,
  startLocalCluster,
  uaidOwnedBy,
} from "../support/cluster.js";
import { channelID, eventually, form, put } from "../support/http.js";

const T = { timeout: 60_000 };
let c: LocalCluster;

before(async () => {
  c = await startLocalCluster({
    nodes: 2,
    env: { EDITION_SHED_ROUTER_DEPTH: "1", EDITION_SHED_STORE_LATENCY_MS: "50" },
  });
  await c.applied();
});
after(() => c.stop());
afterEach(disconnectAll);

/** A client on node-0 whose slot node-0 owns: a PUT through node-1 takes one router hop. */
async function clientOnNode0() {
  const owners = (await c.slotTable())!;
  const [holder, via] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
  const uaid = uaidOwnedBy(owners, c.idOf(holder), c.env.EDITION_CLUSTER_SECRET!);
  const client = await connect(holder.wsUrl);
  await client.hello(uaid);
  const endpoint = endpointVia(await client.register(channelID()), via);
  return { client, endpoint, holder };
}

test(
  "a peer that stops answering: PUTs through it are refused with 503 + Retry-After, then accepted again",
  T,
  async () => {
    const { client, endpoint, holder } = await clientOnNode0();
    assert.equal((await put(endpoint, { body: form({ version: 1 }) })).status, 200);
    await client.next(isType("notification"));

    process.kill(holder.pid, "SIGSTOP");
    let first: Promise<{ status: number }> | undefined;
    try {
      // Stored, then its route waits on the frozen peer: one request in flight.
      first = put(endpoint, { body: form({ version: 2 }) });
      const shed = await eventually(async () => {
        const r = await put(endpoint, { body: form({ version: 3 }) });
        return r.status === 503 ? r : undefined;
      }, "a PUT shed while the router queue is full");
      assert.match(shed.body, /overloaded/);
      assert.ok(Number(shed.headers.get("retry-after")) > 0, "Retry-After");
    } finally {
      process.kill(holder.pid, "SIGCONT");
    }
    assert.ok([200, 202].includes((await first).status), "the PUT in flight was accepted");
    // The queue drained: PUTs are taken again, and what was accepted arrives.
    const ok = await eventually(async () => {
      const r = await put(endpoint, { body: form({ version: 4 }) });
      return r.status === 200 ? r : undefined;
    }, "a PUT accepted after the peer answers again");
    assert.equal(ok.status, 200);
    const versions = new Set<string>();
    await eventually(async () => {
      const m = await client.next(isType("notification"));
      for (const u of m.updates as { version: number }[]) versions.add(String(u.version));
      return versions.has("4") ? true : undefined;
    }, "version 4 on the socket");
    assert.ok(versions.has("2") || versions.has("4"), [...versions].join(","));
    assert.ok(!versions.has("3"), "a shed PUT is not delivered");
  },
);

test(
  "a store too slow: PUTs are shed (not waiting on it) with 503 + Retry-After, then accepted again",
  T,
  async () => {
    const { client, endpoint } = await clientOnNode0();
    c.redis.pause();
    try {
      // The first one waits for the store's command timeout and fails: the store is slow.
      const slow = await put(endpoint, { body: form({ version: 10 }) });
      assert.equal(slow.status, 503);
      assert.match(slow.body, /storage unavailable/);
      // The next ones are refused up front, without waiting on the store.
      const shed = await put(endpoint, { body: form({ version: 11 }) });
      assert.equal(shed.status, 503);
      assert.match(shed.body, /overloaded/);
      assert.ok(Number(shed.headers.get("retry-after")) > 0, "Retry-After");
    } finally {
      c.redis.resume();
    }
    // The slow past fades (1 s half-life): PUTs are accepted and delivered again.
    await eventually(
      async () =>
        (await put(endpoint, { body: form({ version: 12 }) })).status === 200 ? true : undefined,
      "a PUT accepted once the store is fast again",
      15_000,
      200,
    );
    const m = await client.next(isType("notification"));
    assert.ok(JSON.stringify(m).includes('"version":12'), JSON.stringify(m));
  },
);
