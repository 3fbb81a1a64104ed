/**
 * The region's coordinator dies (docs/architecture.md "Routing": "one coordinator per region,
 * chosen by etcd election"): its election key goes with its lease, another node is
 * elected, and that one rewrites the slot table without the dead node; the survivors stay
 * ready and route to each other.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { regionKeys } from "../../server/src/routing/members.js";
import { big, connect, disconnectAll } from "../support/client.js";
import { endpointVia, startLocalCluster, uaidOwnedBy } from "../support/cluster.js";
import { etcdRange } from "../support/etcd.js";
import { channelID, eventually, form, put, scrape } from "../support/http.js";
import type { LogLine, PushNode } from "../support/node.js";

const isCoordinator = async (n: PushNode) => {
  const metrics = await scrape(n.adminUrl).catch(() => undefined); // a dead node: not it
  return metrics?.get("edition_coordinator") === 1;
};
const isElected = (l: LogLine) => l.json?.event === "coordinator_elected";

test("kill -9 of the coordinator: another node is elected and the table converges without it", {
  timeout: 90_000,
}, async (t) => {
  t.after(disconnectAll);
  const c = await startLocalCluster({ nodes: 3, t });
  const name = (n: PushNode) => c.idOf(n);
  const key = regionKeys(c.env.EDITION_ETCD_PREFIX!, "local").coordinator;

  const flags = await Promise.all(c.nodes.map(isCoordinator));
  assert.equal(flags.filter(Boolean).length, 1, "exactly one coordinator");
  const old = c.nodes[flags.indexOf(true)]!;
  // Log lines come through a pipe and may trail the metric: wait for them, bounded.
  await old.waitForLog(isElected, 5_000);
  assert.deepEqual(
    (await etcdRange(c.etcd.endpoint, key)).map((kv) => kv.value),
    [name(old)],
    "the election key names it",
  );
  const survivors = c.nodes.filter((n) => n !== old);

  const moves = async (n: PushNode) =>
    (await scrape(n.adminUrl)).get("edition_slot_moves_total") ?? 0;
  const movesBefore = await Promise.all(survivors.map(moves));
  const deadShare = (await c.slotTable())!.filter((o) => o === name(old)).length;

  const killedAt = Date.now();
  old.kill("SIGKILL");
  await old.exited;

  // Another node is elected: the metric, the log line, and the election key agree.
  const next = await eventually(
    async () => {
      const now = await Promise.all(survivors.map(isCoordinator));
      const leaders = survivors.filter((_, i) => now[i]);
      if (leaders.length !== 1) return undefined;
      const kv = await etcdRange(c.etcd.endpoint, key);
      return kv[0]?.value === name(leaders[0]!) ? leaders[0] : undefined;
    },
    "one survivor to report edition_coordinator 1 and hold the election key",
    15_000,
    50,
  );
  const electedAfter = Date.now() - killedAt;
  await next.waitForLog(isElected, 5_000);

  // The table converges without the dead node; every survivor owns slots and is ready.
  const table = await eventually(
    async () => {
      const owners = await c.slotTable();
      return owners !== undefined && !owners.includes(name(old)) ? owners : undefined;
    },
    "a slot table without the dead node",
    15_000,
    50,
  );
  for (const n of survivors) assert.ok(table.includes(name(n)), `${name(n)} owns slots`);
  await next.waitForLog((l) => l.json?.event === "slot_table_written", 5_000);
  await c.converged(15_000);
  assert.deepEqual(await c.applied(15_000), table, "every survivor applied that table");
  const convergedAfter = Date.now() - killedAt;
  // What an operator sees: each survivor counted the dead node's slots moving.
  for (const [i, n] of survivors.entries()) {
    const moved = (await moves(n)) - movesBefore[i]!;
    assert.ok(
      moved >= deadShare,
      `${name(n)} counted ${moved} slot moves, the dead node had ${deadShare}`,
    );
  }

  // Routing across the survivors: every (socket node, slot owner, PUT node) combination.
  for (const holder of survivors) {
    for (const owner of survivors) {
      const client = await connect(holder.wsUrl);
      await client.hello(uaidOwnedBy(table, name(owner), c.env.EDITION_CLUSTER_SECRET!));
      const ch = channelID();
      const endpoint = await client.register(ch);
      for (const [i, via] of survivors.entries()) {
        const what = `socket on ${name(holder)}, owner ${name(owner)}, PUT via ${name(via)}`;
        const r = await put(endpointVia(endpoint, via), { body: form({ version: i + 1 }) });
        assert.equal(r.status, 200, what);
        const note = await client.notification();
        assert.equal(
          big((note.updates as { version: unknown }[])[0]!.version),
          BigInt(i + 1),
          what,
        );
      }
      await client.close();
    }
  }
  t.diagnostic(
    `${name(next)} elected ${electedAfter} ms after ${name(old)} was killed; ` +
      `table converged and survivors ready after ${convergedAfter} ms`,
  );
});
