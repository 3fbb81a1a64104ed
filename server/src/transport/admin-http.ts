/**
 * The admin listener, on its own port so it is never exposed with the public one:
 * `/metrics` (Prometheus text), `/health` (the process is alive), `/ready` (it can serve:
 * store reachable and not draining).
 */
import type { Registry } from "prom-client";
import { Errors, statusLine } from "../errors/catalogue.js";
import type { HttpResponse, TemplatedApp } from "./uws.js";

export interface AdminOptions {
  readonly registry: Registry;
  readonly ready: () => Promise<{ ready: boolean; reason?: string }>;
}

function later(
  res: HttpResponse,
  work: Promise<{ status: string; type: string; body: string }>,
): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  work
    .catch((err: unknown) => ({
      status: statusLine(Errors.ADMIN_FAILED.http.status),
      type: "text/plain",
      body: String(err),
    }))
    .then((r) => {
      if (aborted) return;
      res.cork(() => res.writeStatus(r.status).writeHeader("Content-Type", r.type).end(r.body));
    });
}

export function attachAdmin(app: TemplatedApp, opts: AdminOptions): void {
  app.get("/metrics", (res) => {
    later(
      res,
      opts.registry
        .metrics()
        .then((body) => ({ status: statusLine(200), type: opts.registry.contentType, body })),
    );
  });
  app.get("/health", (res) => {
    res.writeHeader("Content-Type", "application/json").end('{"status":"ok"}');
  });
  app.get("/ready", (res) => {
    later(
      res,
      opts.ready().then((r) => ({
        status: statusLine(r.ready ? 200 : Errors.NOT_READY.http.status),
        type: "application/json",
        body: JSON.stringify(
          r.ready ? { status: "ready" } : { status: "not_ready", reason: r.reason },
        ),
      })),
    );
  });
  app.any("/*", (res) => {
    res.writeStatus(statusLine(Errors.NOT_FOUND.http.status)).end();
  });
}
