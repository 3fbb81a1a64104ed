/**
 * Routing across a 3-node region (docs/architecture.md "Routing", "The paths"): a PUT may land
 * on any node, the UAID's slot may be owned by any node, and the socket may be on any
 * node. Each test places the three on purpose (a UAID chosen so that its slot owner is
 * the node we want) and covers every combination, with real sockets and real PUTs.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { big, connect, disconnectAll, isType, raw } from "../support/client.js";
import {
  endpointVia,
  type LocalCluster,
  startLocalCluster,
  uaidOwnedBy,
  within,
} from "../support/cluster.js";
import { channelID, form, put } from "../support/http.js";
import type { PushNode } from "../support/node.js";

const T = { timeout: 60_000 };
const MAX_U64 = 18446744073709551615n;

let c: LocalCluster;
let owners: string[];

before(async () => {
  c = await startLocalCluster({ nodes: 3, env: { EDITION_PING_MIN_INTERVAL_MS: "0" } });
  owners = (await c.slotTable())!;
  for (const n of c.nodes) assert.ok(owners.includes(c.idOf(n)), `${c.idOf(n)} owns slots`);
});
after(() => c.stop());
afterEach(disconnectAll);

/** A client on `holder` whose UAID's slot is owned by `owner`, with one registered channel. */
async function clientOn(holder: PushNode, owner: PushNode) {
  const uaid = uaidOwnedBy(owners, c.idOf(owner), c.env.EDITION_CLUSTER_SECRET!);
  const client = await connect(holder.wsUrl);
  // A valid, unknown UAID with no channels is kept as sent (docs/protocol.md "hello").
  const reply = await client.hello(uaid);
  assert.equal(reply.uaid, uaid);
  const ch = channelID();
  const endpoint = await client.register(ch);
  return { client, uaid, ch, endpoint };
}

const name = (n: PushNode) => c.idOf(n);

describe("delivery across nodes", () => {
  test(
    "every (PUT node, slot owner, socket node) combination: 200 and the exact version arrives",
    T,
    async () => {
      const combos: string[] = [];
      for (const holder of c.nodes) {
        for (const owner of c.nodes) {
          const { client, ch, endpoint } = await clientOn(holder, owner);
          // Three PUTs, one through each node, versions rising to 2^64-1.
          for (const [i, via] of c.nodes.entries()) {
            const version = MAX_U64 - BigInt(c.nodes.length - 1 - i);
            const what = `PUT via ${name(via)}, owner ${name(owner)}, socket on ${name(holder)}`;
            const r = await put(endpointVia(endpoint, via), {
              body: form({ version, data: `via-${name(via)}` }),
            });
            assert.equal(r.status, 200, `${what}: ${r.status} ${r.body}`);
            const note = await client.notification(5_000);
            const updates = note.updates as { channelID: string; version: bigint; data?: string }[];
            assert.equal(updates.length, 1, what);
            assert.equal(updates[0]!.channelID, ch, what);
            assert.equal(big(updates[0]!.version), version, what);
            assert.ok(
              raw(note).includes(`"version":${version}`),
              `${what}: digits exact in ${raw(note)}`,
            );
            assert.equal(updates[0]!.data, `via-${name(via)}`, what);
            client.ack([{ channelID: ch, version }]);
            combos.push(what);
          }
          await client.close();
        }
      }
      assert.equal(combos.length, 27);
    },
  );
});

describe("flush after reconnecting to another node", () => {
  test(
    "PUTs while offline get 202; hello with the same UAID on another node flushes them all in one notification, without data",
    T,
    async () => {
      for (const first of c.nodes) {
        for (const second of c.nodes) {
          if (first === second) continue;
          const what = `first on ${name(first)}, back on ${name(second)}`;
          const owner = c.nodes.find((n) => n !== first && n !== second)!;
          const a = await clientOn(first, owner);
          const ch2 = channelID();
          const endpoint2 = await a.client.register(ch2);
          await a.client.close();

          // Offline: every PUT is stored (202), through every node; only the latest per
          // channel is kept, and data is never stored.
          const puts: [string, bigint][] = [
            [a.endpoint, 10n],
            [endpoint2, 7n],
            [a.endpoint, 11n],
            [endpoint2, MAX_U64],
          ];
          for (const [i, [endpoint, version]] of puts.entries()) {
            const via = c.nodes[i % c.nodes.length]!;
            const r = await put(endpointVia(endpoint, via), {
              body: form({ version, data: "not stored" }),
            });
            assert.equal(r.status, 202, `${what}: offline PUT v${version} via ${name(via)}`);
          }

          const b = await connect(second.wsUrl);
          const reply = await b.hello(a.uaid, [a.ch, ch2]);
          assert.equal(reply.uaid, a.uaid, `${what}: the UAID is kept`);
          const note = await b.notification(5_000);
          const got = new Map(
            (note.updates as { channelID: string; version: bigint }[]).map((u) => [
              u.channelID,
              big(u.version),
            ]),
          );
          assert.deepEqual(
            got,
            new Map([
              [a.ch, 11n],
              [ch2, MAX_U64],
            ]),
            `${what}: ${raw(note)}`,
          );
          assert.ok(
            !raw(note).includes('"data"'),
            `${what}: a flush carries no data: ${raw(note)}`,
          );
          assert.ok(raw(note).includes(`"version":${MAX_U64}`), `${what}: digits exact`);
          // One notification, not several: a round trip proves nothing else was sent.
          await b.barrier();
          assert.deepEqual(b.inbox.filter(isType("notification")), [], `${what}: one notification`);
          b.ack([
            { channelID: a.ch, version: 11n },
            { channelID: ch2, version: MAX_U64 },
          ]);
          await b.barrier();
          await b.close();
        }
      }
    },
  );
});

describe("takeover across nodes", () => {
  test(
    "the same UAID on another node closes the first socket with 4000 replaced; PUTs reach the new one",
    T,
    async () => {
      for (const first of c.nodes) {
        for (const second of c.nodes) {
          if (first === second) continue;
          for (const owner of c.nodes) {
            const what = `first on ${name(first)}, then ${name(second)}, owner ${name(owner)}`;
            const a = await clientOn(first, owner);
            const b = await connect(second.wsUrl);
            const reply = await b.hello(a.uaid, [a.ch]);
            assert.equal(reply.uaid, a.uaid, what);
            const closed = await within(a.client.closed(), 5_000, `${what}: old socket closed`);
            assert.deepEqual(closed, { code: 4000, reason: "replaced" }, `${what}: old socket`);
            for (const [i, via] of c.nodes.entries()) {
              const version = BigInt(100 + i);
              const r = await put(endpointVia(a.endpoint, via), { body: form({ version }) });
              assert.equal(r.status, 200, `${what}: PUT via ${name(via)}`);
              const note = await b.notification(5_000);
              assert.equal(big((note.updates as { version: bigint }[])[0]!.version), version, what);
              b.ack([{ channelID: a.ch, version }]);
            }
            assert.deepEqual(
              a.client.inbox.filter(isType("notification")),
              [],
              `${what}: old socket got nothing`,
            );
            await b.close();
          }
        }
      }
    },
  );
});
