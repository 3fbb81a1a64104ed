/**
 * The internal router over TLS (EDITION_ROUTER_TLS_*): two real nodes with certificates of
 * one cluster CA deliver a PUT across nodes; a peer that knows the cluster secret but holds
 * a certificate of another CA (or speaks plain TCP) is refused before any request, and the
 * node counts it (`edition_router_auth_failures_total{reason="tls"}`).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RouterPeers, RouterUnreachable } from "../../server/src/transport/router.js";
import { big, connect, disconnectAll } from "../support/client.js";
import {
  endpointVia,
  type LocalCluster,
  startLocalCluster,
  uaidOwnedBy,
} from "../support/cluster.js";
import { channelID, eventually, form, put, sample, scrape } from "../support/http.js";
import { makeRouterCerts, type RouterCerts } from "../support/router-certs.js";

const T = { timeout: 120_000 };
const dir = mkdtempSync(join(tmpdir(), "edition-router-tls-"));
let certs: RouterCerts;
let rogue: RouterCerts;
let c: LocalCluster;

before(async () => {
  certs = makeRouterCerts(dir, "cluster");
  rogue = makeRouterCerts(dir, "rogue");
  c = await startLocalCluster({
    nodes: 2,
    env: {
      EDITION_ROUTER_TLS_CERT: certs.certFile,
      EDITION_ROUTER_TLS_KEY: certs.keyFile,
      EDITION_ROUTER_TLS_CA: certs.caFile,
    },
  });
  await c.applied();
});
after(async () => {
  disconnectAll();
  await c?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const pem = (x: RouterCerts) => ({
  cert: readFileSync(x.certFile),
  key: readFileSync(x.keyFile),
  ca: readFileSync(x.caFile),
});

describe("router over TLS", () => {
  test("a PUT through one node reaches a socket on the other", T, async () => {
    const [a, b] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    const owners = (await c.slotTable())!;
    // Socket on a, slot owned by b, PUT through b: b → a over the TLS router.
    const uaid = uaidOwnedBy(owners, c.idOf(b), c.env.EDITION_CLUSTER_SECRET!);
    const client = await connect(a.wsUrl);
    await client.hello(uaid);
    const ch = channelID();
    const endpoint = await client.register(ch);
    const r = await put(endpointVia(endpoint, b), { body: form({ version: 42n }) });
    assert.equal(r.status, 200, `${r.status} ${r.body}`);
    const note = await client.notification(5_000);
    const updates = note.updates as { channelID: string; version: unknown }[];
    assert.equal(updates[0]!.channelID, ch);
    assert.equal(big(updates[0]!.version), 42n);
    await client.close();
  });

  test(
    "a peer with another CA's certificate, or without TLS, is refused and counted",
    T,
    async () => {
      const node = c.nodes[0]!;
      const listening = await node.waitForLog((l) => l.json?.event === "listening");
      const addr = `127.0.0.1:${Number(listening.json!.routerPort)}`;
      const failures = async () =>
        sample(await scrape(node.adminUrl), 'edition_router_auth_failures_total{reason="tls"}');
      const before = await failures();
      const secret = c.env.EDITION_CLUSTER_SECRET!;
      const noBackoff = {
        maxInflight: 10,
        maxBufferedBytes: 1 << 20,
        requestTimeoutMs: 2_000,
        reconnectBackoffMs: 0,
      };
      // The right secret, the wrong CA: refused by the node's TLS (and the node's certificate
      // is refused by this peer, whose CA did not sign it).
      const clientFailures: string[] = [];
      const stranger = new RouterPeers(
        secret,
        noBackoff,
        (r) => clientFailures.push(r),
        pem(rogue),
      );
      await assert.rejects(stranger.request(addr, { op: "nudge", uaid: "u" }), RouterUnreachable);
      stranger.close();
      assert.deepEqual(clientFailures, ["tls"]);
      // The right secret, no TLS at all.
      const plain = new RouterPeers(secret, noBackoff);
      await assert.rejects(plain.request(addr, { op: "nudge", uaid: "u" }), RouterUnreachable);
      plain.close();
      await eventually(
        async () => ((await failures()) >= before + 2 ? true : undefined),
        "both refusals counted by the node",
        5_000,
      );
      // And a peer with the cluster's certificate gets in.
      const member = new RouterPeers(secret, noBackoff, undefined, pem(certs));
      assert.deepEqual(await member.request(addr, { op: "nudge", uaid: "u" }), {});
      member.close();
    },
  );
});
