/**
 * The real-client flow both Firefox tests run (one node, and a 3-node cluster): a stock
 * Firefox ESR, headless, subscribes through Edition with and without an application server
 * key; the `web-push` library encrypts and sends; the service workers decrypt and report.
 * Then Firefox quits, a push is accepted, Firefox restarts on the same profile and gets it;
 * then the page unsubscribes and the endpoints answer 410. `viaLive` / `viaOffline` choose
 * which node each push is POSTed to (a cluster routes it to the node holding the socket).
 */
import assert from "node:assert/strict";
import { Agent } from "node:https";
import { join } from "node:path";
import webpush from "web-push";
import { launch, makeProfile } from "./firefox.js";
import { type Report, startPageServer } from "./page-server.js";
import type { TestCerts } from "./tls.js";

const STEP_MS = 60_000;

type Subscription = NonNullable<Report["subscription"]>;

export interface FlowOptions {
  readonly dir: string;
  readonly certs: TestCerts;
  /** `wss://…` of the node Firefox connects to. */
  readonly serverUrl: string;
  /** What the node says endpoints start with. */
  readonly publicUrl: string;
  readonly viaLive: (endpoint: string) => string;
  readonly viaOffline: (endpoint: string) => string;
}

export async function firefoxFlow(
  t: { after(fn: () => unknown): void },
  opts: FlowOptions,
): Promise<void> {
  const certs = opts.certs;
  const page = await startPageServer();
  t.after(() => page.close());
  const vapid = webpush.generateVAPIDKeys();
  const profile = makeProfile(join(opts.dir, "profile"), opts.serverUrl, certs.caFile);
  const agent = new Agent({ ca: certs.ca });
  const vapidDetails = {
    subject: "mailto:test@example.invalid",
    publicKey: vapid.publicKey,
    privateKey: vapid.privateKey,
  };
  const send = (sub: Subscription, text: string, withVapid: boolean, via = opts.viaLive) =>
    webpush.sendNotification({ ...sub, endpoint: via(sub.endpoint) }, text, {
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
  assert.ok(plain.endpoint.startsWith(`${opts.publicUrl}/wpush/`), plain.endpoint);
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
  // The older aesgcm coding, whose VAPID form is `WebPush <jwt>` + `Crypto-Key: p256ecdsa=`.
  const aesgcm = await webpush.sendNotification(
    { ...keyed, endpoint: opts.viaLive(keyed.endpoint) },
    "aesgcm, draft VAPID",
    { TTL: 300, agent, vapidDetails, contentEncoding: "aesgcm" },
  );
  assert.equal(aesgcm.statusCode, 201);
  await pushed("/b/", "aesgcm, draft VAPID");
  // The keyed subscription refuses an unsigned push (401) and Firefox never sees it.
  await assert.rejects(
    send(keyed, "unsigned", false),
    (e: { statusCode?: number }) => e.statusCode === 401,
  );

  // Offline: Firefox quits, the push is accepted and kept, Firefox comes back and gets it.
  await ff.quit();
  const r3 = await send(keyed, "sent while Firefox was closed", true, opts.viaOffline);
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
  // Firefox forgets the subscription at once and tells the push service just after: poll
  // with an empty TTL-0 push (never stored) until the endpoint is gone, within a deadline.
  for (const [sub, withVapid] of [
    [plain, false],
    [keyed, true],
  ] as const) {
    const deadline = Date.now() + STEP_MS;
    for (;;) {
      const status = await webpush
        .sendNotification({ ...sub, endpoint: opts.viaLive(sub.endpoint) }, null, {
          TTL: 0,
          agent,
          ...(withVapid ? { vapidDetails } : {}),
        })
        .then(
          (r) => r.statusCode,
          (e: { statusCode?: number }) => e.statusCode ?? -1,
        );
      if (status === 410) break;
      assert.equal(status, 201, "an empty TTL-0 push before the unsubscribe reached the node");
      if (Date.now() > deadline) failWithOutput(new Error("the endpoint never became 410"));
      await new Promise((r) => setTimeout(r, 200));
    }
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
}
