/**
 * `GET /demo`: the browser demo client (server/src/demo/page.ts), served by the node itself
 * when EDITION_DEMO_PAGE=1 (on in `npm start`, off by default). Static: it holds no state on
 * the server and talks to the node only over the public WebSocket, like any client.
 */
import { DEMO_HTML } from "../demo/page.js";
import type { TemplatedApp } from "./uws.js";

export const DEMO_PATH = "/demo";

export function attachDemoPage(app: TemplatedApp): void {
  const body = Buffer.from(DEMO_HTML, "utf8");
  app.get(DEMO_PATH, (res) => {
    res
      .writeStatus("200 OK")
      .writeHeader("Content-Type", "text/html; charset=utf-8")
      .writeHeader("Cache-Control", "no-store")
      .writeHeader("X-Content-Type-Options", "nosniff")
      .end(body);
  });
}
