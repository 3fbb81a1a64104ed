/**
 * The app-server endpoint over uWS HTTP: `PUT /update/<token>`. Copies the request
 * synchronously (uWS request objects die with the callback), registers `onAborted` before
 * any await, reads a bounded body, and corks the response written after the await.
 */

import type { UpdateInput, UpdateResult } from "../delivery/deliver.js";
import { FORWARDED_HEADER } from "../endpoint/forward.js";
import type { Metrics } from "../metrics.js";
import type { HttpResponse, TemplatedApp } from "./uws.js";

/** A form with version and 4096 bytes of data, percent-encoded, fits well within this. */
const MAX_BODY_BYTES = 64 * 1024;

const STATUS_LINE: Record<number, string> = {
  200: "200 OK",
  202: "202 Accepted",
  400: "400 Bad Request",
  404: "404 Not Found",
  405: "405 Method Not Allowed",
  410: "410 Gone",
  413: "413 Payload Too Large",
  503: "503 Service Unavailable",
};

export interface EndpointOptions {
  readonly corsOrigin: string | undefined;
  readonly retryAfterSeconds: number;
}

function writeResult(
  res: HttpResponse,
  r: UpdateResult,
  opts: EndpointOptions,
  metrics: Metrics,
): void {
  metrics.bound.put(String(r.status)).inc();
  res.writeStatus(STATUS_LINE[r.status] ?? `${r.status} Error`);
  res.writeHeader("Content-Type", "application/json");
  if (opts.corsOrigin !== undefined)
    res.writeHeader("Access-Control-Allow-Origin", opts.corsOrigin);
  if (r.status === 503) res.writeHeader("Retry-After", String(opts.retryAfterSeconds));
  res.end(
    r.status < 300
      ? "{}"
      : JSON.stringify({
          code: r.status,
          error: STATUS_LINE[r.status]!.slice(4),
          message: r.reason ?? "",
        }),
  );
}

export function attachEndpoint(
  app: TemplatedApp,
  deliver: (input: UpdateInput) => Promise<UpdateResult>,
  metrics: Metrics,
  opts: EndpointOptions,
): void {
  app.put("/update/:token", (res, req) => {
    const startedAt = performance.now();
    const token = req.getParameter(0);
    const contentType = req.getHeader("content-type");
    const query = req.getQuery() ?? "";
    const forwarded = req.getHeader(FORWARDED_HEADER) !== "";
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    let body: Buffer | undefined;
    let size = 0;
    res.onData((chunk, isLast) => {
      if (size < 0) return;
      size += chunk.byteLength;
      if (size > MAX_BODY_BYTES) {
        size = -1;
        writeResult(
          res,
          { status: 413, reason: `body larger than ${MAX_BODY_BYTES} bytes` },
          opts,
          metrics,
        );
        return;
      }
      // The chunk is only valid during this callback: decode a one-chunk body (the usual
      // case) at once, copy chunks of a longer one.
      let text: string;
      if (body === undefined && isLast) text = Buffer.from(chunk).toString("utf8");
      else {
        const part = Buffer.from(chunk.slice(0));
        body = body === undefined ? part : Buffer.concat([body, part]);
        if (!isLast) return;
        // Form bodies are UTF-8 (WHATWG urlencoded parsing).
        text = body.toString("utf8");
      }
      const input: UpdateInput = {
        token,
        contentType,
        body: text,
        query,
        startedAt,
        ...(forwarded ? { forwarded } : {}),
      };
      deliver(input).then(
        (r) => {
          if (!aborted) res.cork(() => writeResult(res, r, opts, metrics));
        },
        () => {
          if (!aborted)
            res.cork(() =>
              writeResult(res, { status: 503, reason: "internal error" }, opts, metrics),
            );
        },
      );
    });
  });

  app.options("/update/*", (res) => {
    if (opts.corsOrigin === undefined) {
      methodNotAllowed(res, metrics);
      return;
    }
    metrics.bound.put("200").inc();
    res
      .writeStatus("200 OK")
      .writeHeader("Access-Control-Allow-Origin", opts.corsOrigin)
      .writeHeader("Access-Control-Allow-Methods", "PUT, OPTIONS")
      .writeHeader("Access-Control-Allow-Headers", "Content-Type")
      .writeHeader("Access-Control-Max-Age", "86400")
      .end();
  });

  app.put("/update/*", (res) =>
    writeResult(res, { status: 404, reason: "no such endpoint" }, opts, metrics),
  );
  app.any("/update/*", (res) => methodNotAllowed(res, metrics));
  app.any("/*", (res) => {
    res.writeStatus("404 Not Found").writeHeader("Content-Type", "application/json");
    res.end(
      '{"code":404,"error":"Not Found","message":"WebSocket clients connect here; app servers PUT to /update/<token>"}',
    );
  });
}

function methodNotAllowed(res: HttpResponse, metrics: Metrics): void {
  metrics.bound.put("405").inc();
  res
    .writeStatus("405 Method Not Allowed")
    .writeHeader("Allow", "PUT")
    .writeHeader("Content-Type", "application/json")
    .end('{"code":405,"error":"Method Not Allowed","message":"use PUT"}');
}
