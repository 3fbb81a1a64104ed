/**
 * A graceful drain under a steady stream of PUTs (docs/architecture.md "Failure and change"):
 * SIGTERM on one node of 3 marks it draining, its slots move away, its sockets are closed
 * with 1012 at EDITION_DRAIN_RATE, its clients reconnect elsewhere and are flushed, and it
 * exits 0. Nothing that got a 2xx may be lost.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { disconnectAll } from "../support/client.js";
import { startLocalCluster } from "../support/cluster.js";
import { eventually, scrape } from "../support/http.js";
import type { PushNode } from "../support/node.js";
import { Fleet, quantile, storeErrors } from "./fleet.js";

const CLIENTS = 60;
const PUTS = 1200;

test("SIGTERM on one node of 3 under a PUT stream: 1012, reconnect elsewhere, zero loss, exit 0", {
  timeout: 120_000,
}, async (t) => {
  t.after(disconnectAll);
  // 20 sockets at 10/s: the drain lasts about 2 s of the stream, not one burst.
  const c = await startLocalCluster({
    nodes: 3,
    t,
    env: { EDITION_DRAIN_RATE: "10", EDITION_DRAIN_DEADLINE_SECONDS: "30" },
  });
  const name = (n: PushNode) => c.idOf(n);
  const victim = (
    await Promise.all(
      c.nodes.map(async (n) =>
        (await scrape(n.adminUrl)).get("edition_coordinator") === 1 ? undefined : n,
      ),
    )
  ).find((n) => n !== undefined)!;
  let termAt: number | undefined;
  const fleet = new Fleet(() => c.nodes.filter((n) => n !== victim || termAt === undefined));
  t.after(() => fleet.stop());
  await fleet.start(CLIENTS, c.nodes);
  const onVictim = fleet.on(victim);
  assert.equal(onVictim.length, CLIENTS / 3);

  const result = await fleet.stream({
    total: PUTS,
    perSecond: 120,
    concurrency: 12,
    onAnswered: (n) => {
      if (n === PUTS / 4 && termAt === undefined) {
        termAt = Date.now();
        victim.kill("SIGTERM");
      }
    },
  });
  assert.ok(termAt !== undefined, "SIGTERM was sent mid-stream");
  assert.deepEqual(await victim.exited, { code: 0, signal: null }, "the drained node exits 0");
  const finished = victim.logs.find((l) => l.json?.event === "drain_finished");
  assert.equal(finished?.json?.leftAtDeadline, 0, "every socket closed before the deadline");
  await c.converged(20_000);
  const table = await c.applied(20_000); // every other node applied it
  assert.ok(!table.includes(name(victim)), "the drained node owns no slot");

  await eventually(
    () => (fleet.missing().length === 0 ? true : undefined),
    "every 2xx update to arrive",
    20_000,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; ${fleet.missing().length} client(s) short (times from SIGTERM):\n` +
        fleet.describe(
          fleet.missing(),
          (n) => `${name(n)}${n === victim ? " (drained)" : ""}`,
          termAt,
        ),
    );
  });

  assert.deepEqual(
    result.failures.filter((f) => f.via !== victim),
    [],
    `PUTs through the other nodes all got a 2xx; store errors logged: ${storeErrors(c.nodes)}`,
  );
  for (const fc of fleet.clients) {
    assert.deepEqual(fc.problems, [], `client #${fc.index}`);
    if (onVictim.includes(fc)) {
      assert.deepEqual(
        fc.drops.map((d) => d.code),
        [1012],
        `client #${fc.index} was closed once, with 1012 (service restart)`,
      );
      assert.notEqual(fc.node, victim, `client #${fc.index} reconnected elsewhere`);
    } else {
      assert.deepEqual(fc.drops, [], `client #${fc.index} on ${name(fc.node)} kept its socket`);
    }
  }
  const closedAt = onVictim.map((fc) => fc.drops[0]!.at - termAt!);
  const recovered = onVictim.map((fc) => fc.drops[0]!.recoveredAt! - termAt!);
  const ok = (result.statuses.get("200") ?? 0) + (result.statuses.get("202") ?? 0);
  t.diagnostic(
    `PUTs ${[...result.statuses].map(([s, n]) => `${s}:${n}`).join(" ")} in ${result.durationMs} ms; ` +
      `${ok} 2xx updates, 0 lost; ${onVictim.length} clients closed with 1012 over ` +
      `${quantile(closedAt, 0) ?? 0}..${quantile(closedAt, 1) ?? 0} ms after SIGTERM; ` +
      `99 % reconnected and flushed ${quantile(recovered, 0.99)} ms after SIGTERM`,
  );
});
