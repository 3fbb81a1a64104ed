/**
 * The web app of the Firefox tests, served on http://127.0.0.1:<ephemeral> (a secure
 * context): a page that registers two service workers (scopes /a/ and /b/) and subscribes
 * each, /b/ with an application server key; the service worker reports every push it
 * decrypts. Reports come back to the test over `POST /report` (JSON), as events.
 *
 * Page modes (query `mode`): `subscribe` (default: subscribe if not yet, report the
 * subscription), `unsubscribe` (unsubscribe both, report), `idle` (only wake the workers).
 */
import { EventEmitter } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Report {
  readonly kind: "subscription" | "push" | "unsubscribed" | "error";
  readonly scope?: string;
  readonly subscription?: { endpoint: string; keys: { p256dh: string; auth: string } };
  readonly text?: string;
  readonly message?: string;
  /** `unsubscribed`: whether there was a subscription to remove. */
  readonly had?: boolean;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>edition web push test</title>
<script>
const q = new URLSearchParams(location.search);
const report = (r) => fetch("/report", { method: "POST", body: JSON.stringify(r) });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function keyBytes(b64) {
  const s = atob(b64.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}
// A push call made before Firefox's push service has started never settles: race each
// call against a timer and try again, a bounded number of times.
async function retry(what, fn) {
  let last;
  for (let i = 0; i < 40; i++) {
    try {
      return await Promise.race([
        fn(),
        sleep(3000).then(() => Promise.reject(new Error(what + ": no answer in 3 s"))),
      ]);
    } catch (e) {
      last = e;
      await sleep(500);
    }
  }
  throw last;
}
async function one(scope, key) {
  const reg = await navigator.serviceWorker.register("/sw.js", { scope });
  if (q.get("mode") === "idle") return;
  let sub = await retry("getSubscription", () => reg.pushManager.getSubscription());
  if (q.get("mode") === "unsubscribe") {
    if (sub) await retry("unsubscribe", () => sub.unsubscribe());
    await report({ kind: "unsubscribed", scope, had: !!sub });
    return;
  }
  if (!sub) {
    sub = await retry("subscribe", () =>
      reg.pushManager.subscribe(key ? { applicationServerKey: keyBytes(key) } : {}),
    );
  }
  await report({ kind: "subscription", scope, subscription: sub.toJSON() });
}
for (const [scope, key] of [["/a/", undefined], ["/b/", q.get("key")]]) {
  one(scope, key).catch((e) => report({ kind: "error", scope, message: String(e) }));
}
</script>`;

const WORKER = `
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("push", (e) => {
  const text = e.data ? e.data.text() : null;
  e.waitUntil(
    fetch("/report", {
      method: "POST",
      body: JSON.stringify({ kind: "push", scope: new URL(self.registration.scope).pathname, text }),
    }),
  );
});
`;

export interface PageServer {
  readonly url: string;
  readonly reports: Report[];
  /** The first report (already received or to come) matching `pred`, within `timeoutMs`. */
  waitFor(pred: (r: Report) => boolean, timeoutMs: number, what: string): Promise<Report>;
  close(): Promise<void>;
}

export async function startPageServer(): Promise<PageServer> {
  const reports: Report[] = [];
  const events = new EventEmitter();
  const server: Server = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/report") {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => {
        if (body.length < 65536) body += c;
      });
      req.on("end", () => {
        try {
          const r = JSON.parse(body) as Report;
          reports.push(r);
          events.emit("report", r);
        } catch {
          // not ours
        }
        res.writeHead(204).end();
      });
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/sw.js") {
      res.writeHead(200, { "content-type": "text/javascript", "service-worker-allowed": "/" });
      res.end(WORKER);
    } else if (path === "/") {
      res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    reports,
    waitFor(pred, timeoutMs, what) {
      const seen = reports.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const onReport = (r: Report) => {
          if (!pred(r)) return;
          clearTimeout(timer);
          events.off("report", onReport);
          resolve(r);
        };
        const timer = setTimeout(() => {
          events.off("report", onReport);
          reject(
            new Error(`no ${what} within ${timeoutMs} ms; reports: ${JSON.stringify(reports)}`),
          );
        }, timeoutMs);
        events.on("report", onReport);
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
