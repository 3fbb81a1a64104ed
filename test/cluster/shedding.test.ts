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

const statuses = (xs: { version: number; status: number }[]) =>
  xs.map((a) => `${a.version}→${a.status}`).join(" ");

/** The first answer already settled with 503, if any (without waiting for the others). */
async function firstShed<T extends { status: number }>(
  answers: Promise<T>[],
): Promise<T | undefined> {
  const settled = await Promise.all(
    answers.map((p) =>
      Promise.race([p, new Promise<undefined>((r) => setImmediate(() => r(undefined)))]),
    ),
  );
  return settled.find((a) => a?.status === 503);
}

/** A client on node-0 whose slot node-0 owns: a PUT through node-1 takes one router hop. */
async function clientOnNode0() {
  // Every node has applied the table etcd holds (after a test that froze a node, too).
  await c.applied();
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
    // A PUT every 50 ms while the peer is frozen (at most 40): each one routed waits on it
    // for the router's request timeout (2 s), so from the first one routed on the queue
    // holds a request and the ones after it find it full. Nothing here depends on which of
    // two concurrent PUTs the node takes first.
    const answers: Promise<{ version: number; status: number; body: string; retry: string }>[] = [];
    try {
      for (let i = 0; i < 40; i++) {
        const version = 100 + i;
        answers.push(
          put(endpoint, { body: form({ version }) }).then((r) => ({
            version,
            status: r.status,
            body: r.body,
            retry: r.headers.get("retry-after") ?? "",
          })),
        );
        await new Promise((r) => setTimeout(r, 50));
        // Stop once one was shed (answers arrive out of order: look at every settled one).
        if ((await firstShed(answers)) !== undefined) break;
      }
    } finally {
      process.kill(holder.pid, "SIGCONT");
    }
    const all = await Promise.all(answers);
    const shed = all.filter((a) => a.status === 503);
    assert.ok(shed.length > 0, `a PUT shed while the router queue is full: ${statuses(all)}`);
    for (const a of shed) {
      assert.match(a.body, /overloaded/);
      assert.ok(Number(a.retry) > 0, "Retry-After");
    }
    // Every PUT not shed was accepted (stored, then delivered or kept): none failed.
    assert.deepEqual(
      all.filter((a) => a.status !== 503 && a.status !== 200 && a.status !== 202),
      [],
      statuses(all),
    );
    // The queue drained: PUTs are taken again, and what was accepted arrives.
    const ok = await eventually(async () => {
      const r = await put(endpoint, { body: form({ version: 1000 }) });
      return r.status === 200 ? r : undefined;
    }, "a PUT accepted after the peer answers again");
    assert.equal(ok.status, 200);
    const versions = new Set<string>();
    await eventually(async () => {
      const m = await client.next(isType("notification"));
      for (const u of m.updates as { version: number }[]) versions.add(String(u.version));
      return versions.has("1000") ? true : undefined;
    }, "version 1000 on the socket");
    for (const a of shed) {
      assert.ok(!versions.has(String(a.version)), `shed PUT ${a.version} was not delivered`);
    }
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
      // (On a busy machine the average may already be past the low threshold set here, and
      // this one is shed up front instead: 503 either way, nothing stored.)
      const slow = await put(endpoint, { body: form({ version: 10 }) });
      assert.equal(slow.status, 503);
      assert.match(slow.body, /storage unavailable|overloaded/);
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
