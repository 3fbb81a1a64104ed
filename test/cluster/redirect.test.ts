/**
 * Balancing (docs/architecture.md "Balancing and redirects"): nodes of 4 connections each and a
 * 50 % redirect threshold, so a handful of sockets fills the region. A socket that never
 * says hello still counts as a connection, which is how these tests load a node without
 * being redirected themselves. Every decision reads the connection counts the nodes
 * publish in etcd, so each test first waits until etcd shows the load it set up.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import {
  connect,
  disconnectAll,
  helloClient,
  isType,
  type Message,
  type PushClient,
  raw,
} from "../support/client.js";
import { type LocalCluster, startLocalCluster, within } from "../support/cluster.js";
import { channelID, eventually, form, put } from "../support/http.js";
import type { PushNode } from "../support/node.js";

const T = { timeout: 60_000 };
const CAPACITY = 4;
let c: LocalCluster;
let balancer: PushNode;
const open: PushClient[] = [];

before(async () => {
  c = await startLocalCluster({
    nodes: 3,
    balancer: true,
    env: {
      EDITION_MAX_CONNECTIONS: String(CAPACITY),
      // Above 2 of 4 connections a node sends first hellos elsewhere.
      EDITION_REDIRECT_THRESHOLD_PERCENT: "50",
    },
  });
  balancer = c.balancer!;
});
after(() => c.stop());
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
  disconnectAll();
  await published([0, 0, 0]);
});

/** Opens `n` sockets on `node` that never say hello (they count as connections). */
async function load(node: PushNode, n: number): Promise<void> {
  for (let i = 0; i < n; i++) open.push(await connect(node.wsUrl));
}

/** Waits until etcd shows `counts[i]` connections for node i. */
async function published(counts: number[]): Promise<void> {
  const want = new Map(c.nodes.map((n, i) => [c.idOf(n), counts[i]]));
  await eventually(
    async () => {
      const members = await c.members().catch(() => []);
      const ok =
        members.length === c.nodes.length &&
        members.every((m) => want.get(m.nodeId) === m.connections);
      return ok ? true : undefined;
    },
    `member records showing ${counts.join("/")} connections`,
    10_000,
  );
}

/** Connects to `url`, says a first hello, and returns the reply and how the socket closed. */
async function firstHello(url: string): Promise<{ reply: Message; code: number }> {
  const client = await connect(url);
  client.send({ messageType: "hello", uaid: "", channelIDs: [] });
  const reply = await client.next(isType("hello"));
  if (reply.status === 200) {
    open.push(client);
    return { reply, code: -1 };
  }
  const closed = await within(client.closed(), 5_000, "socket closed after the hello reply");
  return { reply, code: closed.code };
}

/** The node a ws:// redirect points to. */
function target(redirect: unknown): PushNode {
  assert.equal(typeof redirect, "string");
  assert.match(redirect as string, /^ws:\/\/[^/]+$/, "scheme + host:port, no path");
  const port = Number(new URL(redirect as string).port);
  const node = c.nodes.find((n) => n.port === port);
  assert.ok(node, `${redirect} is one of the region's nodes`);
  return node;
}

const name = (n: PushNode) => c.idOf(n);

describe("redirects", () => {
  test(
    "the balancer answers hello with 307 to a node and closes; following the redirect works",
    T,
    async () => {
      for (let i = 0; i < 5; i++) {
        const { reply, code } = await firstHello(balancer.wsUrl);
        assert.equal(reply.status, 307, raw(reply));
        assert.equal(code, 1000);
        const node = target(reply.redirect);
        // Follow it: a real session on that node, and a PUT that reaches it.
        const client = await helloClient(reply.redirect as string);
        const ch = channelID();
        const endpoint = await client.register(ch);
        const r = await put(endpoint, { body: form({ version: 42 + i }) });
        assert.equal(r.status, 200, `PUT to a client that followed the redirect to ${name(node)}`);
        await client.notification();
        await client.close();
      }
      // The balancer holds nobody: every socket it answered is closed.
      assert.equal((await firstHello(balancer.wsUrl)).reply.status, 307);
    },
  );

  test(
    "a node over its threshold redirects a first hello to the node that has room",
    T,
    async () => {
      const [n0, n1, n2] = c.nodes as [PushNode, PushNode, PushNode];
      await load(n0, 1);
      await load(n1, 2); // at the threshold: no room
      await published([1, 2, 0]);
      // node-0 learns node-1's count through its etcd watch, a moment after etcd has it.
      await eventually(
        async () => {
          const { reply } = await firstHello(n0.wsUrl);
          assert.equal(reply.status, 307, `node-0 over its threshold: ${raw(reply)}`);
          return target(reply.redirect) === n2 ? true : undefined;
        },
        "node-0 redirecting to node-2",
        5_000,
      );
      for (let i = 0; i < 10; i++) {
        const { reply, code } = await firstHello(n0.wsUrl);
        assert.equal(reply.status, 307, raw(reply));
        assert.equal(name(target(reply.redirect)), name(n2), "only node-2 has room");
        assert.equal(code, 1000, "the node closes after the redirect");
      }
      // Following it lands on a node under its threshold, which keeps the client.
      const followed = await firstHello(n2.wsUrl);
      assert.equal(followed.reply.status, 200);
    },
  );

  test(
    "429 when every node is full, from a node and from the balancer; the balancer never sends to a full node",
    T,
    async () => {
      const [n0, n1, n2] = c.nodes as [PushNode, PushNode, PushNode];
      await load(n1, 2);
      await load(n2, 2);
      await load(n0, 3);
      await published([3, 2, 2]);
      // node-0 with this hello's socket is at capacity and nobody else is under threshold.
      await eventually(
        async () => {
          const { reply, code } = await firstHello(n0.wsUrl);
          if (reply.status === 307) return undefined; // its view of the others lags etcd
          assert.equal(reply.status, 429, raw(reply));
          assert.equal(reply.error, "Too Many Requests");
          assert.equal(code, 1000);
          return true;
        },
        "node-0 answering 429",
        5_000,
      );
      // The balancer still has somewhere to send clients: the least loaded node with room.
      for (let i = 0; i < 5; i++) {
        const { reply } = await firstHello(balancer.wsUrl);
        assert.equal(reply.status, 307, raw(reply));
        assert.notEqual(name(target(reply.redirect)), name(n0), "node-0 is full");
      }

      await load(n0, 1);
      await load(n1, 2);
      await load(n2, 2);
      await published([CAPACITY, CAPACITY, CAPACITY]);
      await eventually(
        async () => {
          const { reply, code } = await firstHello(balancer.wsUrl);
          if (reply.status === 307) return undefined; // the balancer's watch lags etcd
          assert.equal(reply.status, 429, raw(reply));
          assert.equal(code, 1000);
          return true;
        },
        "the balancer answering 429 once the region is full",
        5_000,
      );
      for (let i = 0; i < 3; i++) {
        assert.equal((await firstHello(balancer.wsUrl)).reply.status, 429, "still full");
      }
      // A full node refuses the upgrade itself, fast.
      for (const n of c.nodes) {
        await assert.rejects(connect(n.wsUrl), (err: Error & { status?: number }) => {
          assert.equal(err.status, 503);
          return true;
        });
      }
    },
  );
});
