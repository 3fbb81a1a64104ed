/**
 * The Firefox flow through a 3-node region (real etcd and Redis, wss:// on every node):
 * Firefox holds its socket on node 0; live pushes are POSTed to node 1 and routed to it;
 * the push sent while Firefox is closed is POSTed to node 2, kept in Redis, and flushed by
 * node 0 when Firefox comes back; after unsubscribing, node 1 answers 410.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startLocalCluster } from "../support/cluster.js";
import type { PushNode } from "../support/node.js";
import { firefoxFlow } from "./flow.js";
import { makeCerts } from "./tls.js";

/** The same endpoint through another node (tokens are stateless: any node takes any). */
const via = (node: PushNode) => (endpoint: string) => {
  const u = new URL(endpoint);
  return `${node.publicUrl}${u.pathname}`;
};

describe("Firefox ESR as a Web Push client of a 3-node region", () => {
  it("gets pushes POSTed to other nodes, live and after a restart, and 410 once unsubscribed", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "edition-webpush-cluster-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const certs = makeCerts(dir);
    const c = await startLocalCluster({
      nodes: 3,
      t,
      env: { EDITION_TLS_CERT: certs.certFile, EDITION_TLS_KEY: certs.keyFile },
    });
    const [home, live, offline] = c.nodes as [PushNode, PushNode, PushNode];
    await firefoxFlow(t, {
      dir,
      certs,
      serverUrl: home.publicUrl.replace(/^https/, "wss"),
      publicUrl: home.publicUrl,
      viaLive: via(live),
      viaOffline: via(offline),
    });
  });
});
