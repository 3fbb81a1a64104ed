/**
 * A stock Firefox ESR subscribes through one Edition node (wss://, the test CA trusted in
 * its profile) and its service workers receive what the `web-push` library encrypts:
 * with and without an application server key (VAPID), while Firefox is running, and after
 * it was quit and restarted on the same profile; after unsubscribing, the endpoint is 410.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startNode } from "../support/node.js";
import { firefoxFlow } from "./flow.js";
import { makeCerts } from "./tls.js";

describe("Firefox ESR as a Web Push client of one node", () => {
  it("subscribes, receives encrypted pushes live and after a restart, and 410s once unsubscribed", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "edition-webpush-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const certs = makeCerts(dir);
    const node = await startNode({
      t,
      env: { EDITION_TLS_CERT: certs.certFile, EDITION_TLS_KEY: certs.keyFile },
    });
    assert.match(node.publicUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    await firefoxFlow(t, {
      dir,
      certs,
      serverUrl: node.publicUrl.replace(/^https/, "wss"),
      publicUrl: node.publicUrl,
      viaLive: (e) => e,
      viaOffline: (e) => e,
    });
  });
});
