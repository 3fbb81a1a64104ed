/**
 * The router's bound on connections still proving themselves also covers TLS handshakes: a
 * flood of TCP connections that never finish (or never start) a handshake is refused at the
 * accept past `maxUnauthenticated`, instead of each holding a handshake open (the costly part
 * of a TLS connection) until its deadline. Real certificates (openssl), real sockets.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  type AuthFailureReason,
  DEFAULT_ROUTER_LIMITS,
  DEFAULT_ROUTER_SERVER_LIMITS,
  RouterPeers,
  RouterServer,
} from "../../server/src/transport/router.js";
import { makeRouterCerts } from "../support/router-certs.js";

const SECRET = "a-cluster-secret-of-some-length";
const dir = mkdtempSync(join(tmpdir(), "edition-router-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("router TLS limits", () => {
  it("refuses TLS handshakes past the bound, then serves a real peer", async (t) => {
    const files = makeRouterCerts(dir, "cluster");
    const tls = {
      cert: readFileSync(files.certFile),
      key: readFileSync(files.keyFile),
      ca: readFileSync(files.caFile),
    };
    const failures: AuthFailureReason[] = [];
    const server = new RouterServer(
      SECRET,
      () => ({ d: 1 as const }),
      () => {},
      (reason) => failures.push(reason),
      { ...DEFAULT_ROUTER_SERVER_LIMITS, maxUnauthenticated: 8 },
      tls,
    );
    t.after(() => server.close());
    const port = await server.listen("127.0.0.1", 0);

    // 40 connections that never send a ClientHello: 8 hold a handshake, 32 are refused.
    const flood = Array.from({ length: 40 }, () => {
      const sock = connect({ host: "127.0.0.1", port });
      sock.on("error", () => {});
      const closed = new Promise<void>((r) => sock.once("close", () => r()));
      return { sock, closed };
    });
    const deadline = Date.now() + 5_000;
    while (failures.length < 32 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(failures.filter((r) => r === "too_many_unauthenticated").length, 32);
    assert.equal(failures.length, 32, `only the refusals so far: ${failures.join(",")}`);

    for (const f of flood) f.sock.destroy();
    await Promise.all(flood.map((f) => f.closed));
    // The slots free up as the flood closes; a peer with the cluster's certificate gets in.
    const peers = new RouterPeers(SECRET, DEFAULT_ROUTER_LIMITS, () => {}, tls);
    t.after(() => peers.close());
    const until = Date.now() + 5_000;
    let ok: unknown;
    while (ok === undefined && Date.now() < until) {
      ok = await peers.request(`127.0.0.1:${port}`, { op: "nudge", uaid: "u" }).then(
        (r) => r.d,
        () => new Promise((r) => setTimeout(() => r(undefined), 50)),
      );
    }
    assert.equal(ok, 1);
  });
});
