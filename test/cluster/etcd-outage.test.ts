/**
 * etcd, which holds the routing table, stops and comes back (docs/architecture.md "Routing";
 * etcd-registry.ts: "etcd being briefly unavailable never stops service"): the nodes keep
 * routing with the last members and table they saw, even after their leases are gone; when
 * etcd returns they re-register under new leases, the region converges, and a node started
 * after the outage joins the table.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { regionKeys } from "../../server/src/routing/members.js";
import { big, connect, disconnectAll, type PushClient } from "../support/client.js";
import {
  endpointVia,
  type LocalCluster,
  startLocalCluster,
  uaidOwnedBy,
} from "../support/cluster.js";
import { etcdLeaseTtl, etcdRange } from "../support/etcd.js";
import { channelID, eventually, form, get, put, scrape } from "../support/http.js";
import type { PushNode } from "../support/node.js";

/** A client on `holder` whose slot is owned by `owner` in `table`, with one channel. */
async function placed(c: LocalCluster, table: string[], holder: PushNode, owner: PushNode) {
  const client = await connect(holder.wsUrl);
  await client.hello(uaidOwnedBy(table, c.idOf(owner), c.env.EDITION_CLUSTER_SECRET!));
  const endpoint = await client.register(channelID());
  return { client, endpoint, what: `socket on ${c.idOf(holder)}, owner ${c.idOf(owner)}` };
}

/** PUTs through each of `vias` reach `client` with a 200 and the exact version. */
async function delivers(
  c: LocalCluster,
  p: { client: PushClient; endpoint: string; what: string },
  vias: readonly PushNode[],
  base: bigint,
): Promise<void> {
  for (const [i, via] of vias.entries()) {
    const version = base + BigInt(i);
    const r = await put(endpointVia(p.endpoint, via), { body: form({ version }) });
    assert.equal(r.status, 200, `${p.what}, PUT via ${c.idOf(via)}: ${r.body}`);
    const note = await p.client.notification();
    assert.equal(big((note.updates as { version: unknown }[])[0]!.version), version, p.what);
  }
}

/**
 * Exactly one node reports `edition_coordinator 1`, and it holds the election key under its
 * current lease (a node that still believes it leads under a lease it lost would be a
 * second coordinator).
 */
async function oneCoordinator(c: LocalCluster, when: string): Promise<PushNode> {
  const key = regionKeys(c.env.EDITION_ETCD_PREFIX!, "local").coordinator;
  let last = "";
  return eventually(
    async () => {
      const flags = await Promise.all(
        c.nodes.map(async (n) => (await scrape(n.adminUrl)).get("edition_coordinator") === 1),
      );
      const leaders = c.nodes.filter((_, i) => flags[i]);
      const [kv] = await etcdRange(c.etcd.endpoint, key);
      const members = await c.members();
      last = `metric on [${leaders.map((n) => c.idOf(n)).join(", ")}], key ${kv?.value} under lease ${kv?.lease}`;
      if (leaders.length !== 1 || kv === undefined) return undefined;
      const m = members.find((x) => x.nodeId === c.idOf(leaders[0]!));
      return kv.value === m?.nodeId && kv.lease === m.lease ? leaders[0] : undefined;
    },
    `exactly one coordinator ${when}`,
    15_000,
    50,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${last}`);
  });
}

const leaseLost = (n: PushNode) =>
  n.logs.some((l) => l.json?.event === "cluster_error" && l.json.op === "lease_lost");

test("etcd stop + restart: nodes keep routing with the last table; afterwards they re-register and a new node joins", {
  timeout: 90_000,
}, async (t) => {
  t.after(disconnectAll);
  const c = await startLocalCluster({ nodes: 3, t });
  const name = (n: PushNode) => c.idOf(n);
  const table = (await c.slotTable())!;
  const before = new Map((await c.members()).map((m) => [m.nodeId, m.lease]));
  assert.equal(before.size, 3);
  const placements = [];
  for (const holder of c.nodes) {
    for (const owner of c.nodes) placements.push(await placed(c, table, holder, owner));
  }

  await c.etcd.stop("SIGTERM");
  const stoppedAt = Date.now();
  // Wait until every node has given its lease up for lost (2 × TTL without a keepalive):
  // from then on, nothing they knew from etcd is being kept alive.
  for (const n of c.nodes) {
    await eventually(
      () => (leaseLost(n) ? true : undefined),
      `${name(n)} losing its lease`,
      20_000,
      50,
    );
  }
  const lostAfter = Date.now() - stoppedAt;
  for (const n of c.nodes) {
    const r = await get(`${n.adminUrl}/ready`, 5_000).catch((err: Error) => ({
      status: 0,
      body: `no answer: ${err.message}`,
    }));
    assert.equal(r.status, 200, `${name(n)} still ready without etcd: ${r.body}`);
  }
  // Still routing with the last table: every socket node × slot owner × PUT node.
  for (const p of placements) await delivers(c, p, c.nodes, 100n);
  // And new sessions work: hello, register, delivery across nodes.
  for (const holder of c.nodes) {
    const owner = c.nodes[(c.nodes.indexOf(holder) + 1) % 3]!;
    const p = await placed(c, table, holder, owner);
    await delivers(c, p, c.nodes, 200n);
    await p.client.close();
  }
  const outageMs = Date.now() - stoppedAt;
  const attempts = c.nodes.map(
    (n) =>
      n.logs.filter((l) => l.json?.event === "cluster_error" && /^lease/.test(String(l.json.op)))
        .length,
  );

  await c.etcd.restart();
  const restartedAt = Date.now();
  // Every node re-registers under a new, live lease.
  await eventually(
    async () => {
      const members = await c.members().catch(() => []);
      if (members.length !== 3) return undefined;
      for (const m of members) {
        if (m.lease === "0" || m.lease === before.get(m.nodeId)) return undefined;
        if ((await etcdLeaseTtl(c.etcd.endpoint, m.lease)) <= 0) return undefined;
      }
      return true;
    },
    "every member record under a new live lease",
    20_000,
    50,
  );
  const reregisteredAfter = Date.now() - restartedAt;
  // Every node applies the table etcd holds (and sees every member) — not just "is in a table".
  const after = await c.applied(20_000);
  for (const n of c.nodes) assert.ok(after.includes(name(n)), `${name(n)} still owns slots`);
  const appliedAfter = Date.now() - restartedAt;
  await oneCoordinator(c, "after the restart");
  const coordinatorAfter = Date.now() - restartedAt;

  // A node started after the restart joins the table and routes both ways.
  const added = await c.addNode();
  await c.converged(20_000);
  const grown = await c.applied(20_000);
  assert.ok(grown.includes(name(added)), `${name(added)} owns slots`);
  await oneCoordinator(c, `after ${name(added)} joined`);
  for (const [holder, owner] of [
    [added, c.nodes[0]!],
    [c.nodes[1]!, added],
    [added, added],
    [c.nodes[2]!, c.nodes[1]!],
  ] as const) {
    const p = await placed(c, grown, holder, owner);
    await delivers(c, p, c.nodes, 300n);
  }
  t.diagnostic(
    `leases lost ${lostAfter} ms into the outage; served ${outageMs} ms without etcd; ` +
      `lease errors logged per node during the outage: ${attempts.join("/")}; ` +
      `after the restart: re-registered ${reregisteredAfter} ms, table applied everywhere ${appliedAfter} ms, ` +
      `one coordinator ${coordinatorAfter} ms`,
  );
});
