/**
 * A stock Firefox ESR subscribes through one Edition node (wss://, the test CA trusted in
 * its profile) and its service workers receive what the `web-push` library encrypts:
 * with and without an application server key (VAPID), while Firefox is running, and after
 * it was quit and restarted on the same profile; after unsubscribing, the endpoint is 410.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import webpush from "web-push";
import { startNode } from "../support/node.js";
import { launch, makeProfile } from "./firefox.js";
import { type Report, startPageServer } from "./page-server.js";
import { makeCerts } from "./tls.js";

const STEP_MS = 60_000;

type Subscription = NonNullable<Report["subscription"]>;

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
    const page = await startPageServer();
    t.after(() => page.close());
    const vapid = webpush.generateVAPIDKeys();
    const profile = makeProfile(
      join(dir, "profile"),
      node.publicUrl.replace(/^https/, "wss"),
      certs.caFile,
    );
    const agent = new Agent({ ca: certs.ca });
    const vapidDetails = {
      subject: "mailto:test@example.invalid",
      publicKey: vapid.publicKey,
      privateKey: vapid.privateKey,
    };
    const send = (sub: Subscription, text: string, withVapid: boolean) =>
      webpush.sendNotification(sub, text, {
        TTL: 300,
        agent,
        ...(withVapid ? { vapidDetails } : {}),
      });

    let ff = launch(profile, `${page.url}?key=${vapid.publicKey}`, t);
    const failWithOutput = (err: unknown): never => {
      const pushLines = ff.output
        .join("")
        .split("\n")
        .filter((l) => /Push|push/.test(l))
        .slice(-80);
      throw new Error(`${String(err)}\nfirefox push log:\n${pushLines.join("\n")}`);
    };
    const subOf = async (scope: string): Promise<Subscription> =>
      (
        await page
          .waitFor(
            (r) => r.kind === "subscription" && r.scope === scope,
            STEP_MS,
            `${scope} subscription`,
          )
          .catch(failWithOutput)
      ).subscription!;
    const plain = await subOf("/a/");
    const keyed = await subOf("/b/");
    assert.ok(plain.endpoint.startsWith(`${node.publicUrl}/wpush/`), plain.endpoint);
    assert.notEqual(plain.endpoint, keyed.endpoint);

    const pushed = (scope: string, text: string) =>
      page
        .waitFor(
          (r) => r.kind === "push" && r.scope === scope && r.text === text,
          STEP_MS,
          `push "${text}" at ${scope}`,
        )
        .catch(failWithOutput);

    // Live: both subscriptions, one without VAPID, one with.
    const r1 = await send(plain, "hello without a key", false);
    assert.equal(r1.statusCode, 201);
    assert.match(String(r1.headers.location), /\/m\//);
    await pushed("/a/", "hello without a key");
    const r2 = await send(keyed, "hello with VAPID ✓", true);
    assert.equal(r2.statusCode, 201);
    await pushed("/b/", "hello with VAPID ✓");
    // The keyed subscription refuses an unsigned push (401) and Firefox never sees it.
    await assert.rejects(
      send(keyed, "unsigned", false),
      (e: { statusCode?: number }) => e.statusCode === 401,
    );

    // Offline: Firefox quits, the push is accepted and kept, Firefox comes back and gets it.
    await ff.quit();
    const r3 = await send(keyed, "sent while Firefox was closed", true);
    assert.equal(r3.statusCode, 201);
    ff = launch(profile, `${page.url}?mode=idle`, t);
    await pushed("/b/", "sent while Firefox was closed");

    // Unsubscribe: the page unsubscribes both; the endpoints are gone.
    await ff.quit();
    ff = launch(profile, `${page.url}?mode=unsubscribe`, t);
    for (const scope of ["/a/", "/b/"]) {
      const r = await page
        .waitFor(
          (r) => r.kind === "unsubscribed" && r.scope === scope,
          STEP_MS,
          `${scope} unsubscribed`,
        )
        .catch(failWithOutput);
      assert.equal(r.had, true, `${scope} still had its subscription after the restart`);
    }
    await assert.rejects(
      send(plain, "after unsubscribe", false),
      (e: { statusCode?: number }) => e.statusCode === 410,
    );
    await assert.rejects(
      send(keyed, "after unsubscribe", true),
      (e: { statusCode?: number }) => e.statusCode === 410,
    );
    await ff.quit();
    assert.equal(page.reports.filter((r) => r.kind === "push" && r.text === "unsigned").length, 0);
  });
});
