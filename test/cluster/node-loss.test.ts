/**
 * A node killed with SIGKILL under a steady stream of PUTs (docs/architecture.md "Failure and
 * change"): its lease expires, its slots move, its clients reconnect elsewhere and are
 * flushed. Nothing that got a 2xx may be lost — not for its clients, and not for clients
 * elsewhere whose slot it owned.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { slotOf } from "../../server/src/routing/slot-table.js";
import { disconnectAll } from "../support/client.js";
import { startLocalCluster } from "../support/cluster.js";
import { eventually, scrape } from "../support/http.js";
import type { PushNode } from "../support/node.js";
import { Fleet, quantile, storeErrors } from "./fleet.js";

const CLIENTS = 60;
const PUTS = 1200;

test("kill -9 of one node of 3 under a PUT stream: every 2xx update reaches its client", {
  timeout: 120_000,
}, async (t) => {
  t.after(disconnectAll);
  const c = await startLocalCluster({ nodes: 3, t });
  const name = (n: PushNode) => c.idOf(n);
  // Not the coordinator: this is about a plain member dying (coordinator.test.ts does that one).
  const isCoordinator = async (n: PushNode) =>
    (await scrape(n.adminUrl)).get("edition_coordinator") === 1;
  const victim = (
    await Promise.all(c.nodes.map(async (n) => ((await isCoordinator(n)) ? undefined : n)))
  ).find((n) => n !== undefined)!;
  let killedAt: number | undefined;
  const fleet = new Fleet(() => c.nodes.filter((n) => n !== victim || killedAt === undefined));
  t.after(() => fleet.stop());
  await fleet.start(CLIENTS, c.nodes);
  const before = (await c.slotTable())!;
  const onVictim = fleet.on(victim);
  assert.equal(onVictim.length, CLIENTS / 3);

  const result = await fleet.stream({
    total: PUTS,
    perSecond: 120,
    concurrency: 12,
    onAnswered: (n) => {
      if (n === PUTS / 4 && killedAt === undefined) {
        killedAt = Date.now();
        victim.kill("SIGKILL");
      }
    },
  });
  assert.ok(killedAt !== undefined, "the node was killed mid-stream");
  assert.equal((await victim.exited).signal, "SIGKILL");
  await c.converged(20_000);
  const table = await c.applied(20_000); // every survivor applied it
  assert.ok(!table.includes(name(victim)), "the dead node's slots were reassigned");

  // Every update acknowledged to the app server reaches its client, directly or in a flush.
  await eventually(
    () => (fleet.missing().length === 0 ? true : undefined),
    "every 2xx update to arrive",
    20_000,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; ${fleet.missing().length} client(s) short (times from the kill):\n` +
        fleet.describe(
          fleet.missing(),
          (n) => `${name(n)}${n === victim ? " (killed)" : ""}`,
          killedAt,
        ) +
        `\nslot owners before the kill: ${fleet
          .missing()
          .map((fc) => before[slotOf(fc.uaid, before.length, c.env.EDITION_CLUSTER_SECRET!)])
          .join(", ")}`,
    );
  });

  // The app server saw errors only for PUTs sent to the node that died.
  const elsewhere = result.failures.filter((f) => f.via !== victim);
  assert.deepEqual(
    elsewhere,
    [],
    `PUTs through live nodes all got a 2xx; store errors logged: ${storeErrors(c.nodes)}`,
  );
  // The dead node's clients all dropped and came back; nobody else dropped.
  for (const fc of fleet.clients) {
    assert.deepEqual(fc.problems, [], `client #${fc.index}`);
    if (onVictim.includes(fc)) {
      assert.equal(fc.drops.length, 1, `client #${fc.index} dropped once`);
      assert.ok(fc.drops[0]!.recoveredAt !== undefined, `client #${fc.index} recovered`);
      assert.notEqual(fc.node, victim);
    } else {
      assert.deepEqual(fc.drops, [], `client #${fc.index} on ${name(fc.node)} kept its socket`);
    }
  }
  const recovered = onVictim.map((fc) => fc.drops[0]!.recoveredAt! - killedAt!);
  const reconnected = onVictim.map((fc) => fc.drops[0]!.helloAt! - killedAt!);
  const acked = (result.statuses.get("200") ?? 0) + (result.statuses.get("202") ?? 0);
  t.diagnostic(
    `PUTs ${[...result.statuses].map(([s, n]) => `${s}:${n}`).join(" ")} in ${result.durationMs} ms; ` +
      `${acked} 2xx updates, 0 lost; ${onVictim.length} clients dropped with ${name(victim)}: ` +
      `99 % reconnected and flushed ${quantile(recovered, 0.99)} ms after the kill ` +
      `(hello p50 ${quantile(reconnected, 0.5)} ms, p99 ${quantile(reconnected, 0.99)} ms; ` +
      `flushed p50 ${quantile(recovered, 0.5)} ms)`,
  );
});
