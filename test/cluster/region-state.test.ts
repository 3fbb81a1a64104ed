/**
 * Region failover as the nodes see it: when the operator marks the region failed in etcd
 * (`<prefix>/regions/<region>`), nodes and the balancer refuse first hellos with 429 so
 * clients back off to a surviving region; clients already connected keep being served.
 * Marked active again, hellos are accepted again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connect, helloClient, isType } from "../support/client.js";
import { startLocalCluster } from "../support/cluster.js";
import { channelID, form, put } from "../support/http.js";

async function etcdPut(endpoint: string, key: string, value: string): Promise<void> {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const r = await fetch(`${endpoint}/v3/kv/put`, {
    method: "POST",
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
    signal: AbortSignal.timeout(5_000),
  });
  assert.equal(r.status, 200, `etcd put ${key}`);
}

async function helloStatus(url: string): Promise<number> {
  const c = await connect(url);
  c.send({ messageType: "hello", uaid: "", channelIDs: [] });
  const m = await c.next(isType("hello"));
  c.ws.terminate();
  return m.status as number;
}

describe("region state from the operator", () => {
  it("a failed region refuses new clients with 429 and keeps serving connected ones", {
    timeout: 90_000,
  }, async (t) => {
    const c = await startLocalCluster({ nodes: 2, balancer: true, t });
    const node = c.nodes[0]!;
    const kept = await helloClient(node.wsUrl);
    const endpoint = await kept.register(channelID());
    const key = `${c.env.EDITION_ETCD_PREFIX}/regions/local`;

    await etcdPut(c.etcd.endpoint, key, JSON.stringify({ state: "failed", since: Date.now() }));
    // The nodes react to an etcd watch; poll with a deadline until both refuse.
    const end = Date.now() + 15_000;
    let statuses: number[] = [];
    for (;;) {
      statuses = [await helloStatus(node.wsUrl), await helloStatus(c.balancer!.wsUrl)];
      if (statuses.every((s) => s === 429)) break;
      assert.ok(Date.now() < end, `node and balancer refuse first hellos (got ${statuses})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await put(endpoint, { body: form({ version: 42 }) });
    assert.equal(r.status, 200, "a connected client is still served");
    const n = await kept.notification();
    assert.equal(String((n.updates as { version: bigint }[])[0]!.version), "42");

    await etcdPut(c.etcd.endpoint, key, JSON.stringify({ state: "active", since: Date.now() }));
    const end2 = Date.now() + 15_000;
    for (;;) {
      statuses = [await helloStatus(node.wsUrl), await helloStatus(c.balancer!.wsUrl)];
      if (statuses[0] === 200 && statuses[1] === 307) break;
      assert.ok(Date.now() < end2, `hellos accepted again (got ${statuses})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
