/**
 * The app-server endpoint over uWS HTTP: `PUT /update/<token>`. Copies the request
 * synchronously (uWS request objects die with the callback), registers `onAborted` before
 * any await, reads a bounded body, and corks the response written after the await.
 */

import { refused, type UpdateInput, type UpdateResult } from "../delivery/deliver.js";
import { FORWARDED_HEADER } from "../endpoint/forward.js";
import { Errors, StatusText, statusLine } from "../errors/catalogue.js";
import type { Metrics } from "../metrics.js";
import type { HttpResponse, TemplatedApp } from "./uws.js";

/** A form with version and 4096 bytes of data, percent-encoded, fits well within this. */
const MAX_BODY_BYTES = 64 * 1024;

const NOT_FOUND = Errors.NOT_FOUND.http.status;
const NOT_ALLOWED = Errors.METHOD_NOT_ALLOWED;

export interface EndpointOptions {
  readonly corsOrigin: string | undefined;
}

function writeResult(
  res: HttpResponse,
  r: UpdateResult,
  opts: EndpointOptions,
  metrics: Metrics,
): void {
  metrics.bound.put(String(r.status)).inc();
  if (r.code !== undefined) metrics.bound.refusal(Errors[r.code].label).inc();
  res.writeStatus(statusLine(r.status));
  res.writeHeader("Content-Type", "application/json");
  if (opts.corsOrigin !== undefined)
    res.writeHeader("Access-Control-Allow-Origin", opts.corsOrigin);
  if (r.retryAfter !== undefined) res.writeHeader("Retry-After", String(r.retryAfter));
  res.end(
    r.status < 300
      ? "{}"
      : JSON.stringify({ code: r.status, error: StatusText[r.status], message: r.reason ?? "" }),
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
          refused("PAYLOAD_TOO_LARGE", `body larger than ${MAX_BODY_BYTES} bytes`),
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
          if (!aborted) res.cork(() => writeResult(res, INTERNAL, opts, metrics));
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
      .writeStatus(statusLine(200))
      .writeHeader("Access-Control-Allow-Origin", opts.corsOrigin)
      .writeHeader("Access-Control-Allow-Methods", "PUT, OPTIONS")
      .writeHeader("Access-Control-Allow-Headers", "Content-Type")
      .writeHeader("Access-Control-Max-Age", "86400")
      .end();
  });

  app.put("/update/*", (res) => writeResult(res, NO_TOKEN, opts, metrics));
  app.any("/update/*", (res) => methodNotAllowed(res, metrics));
  app.any("/*", (res) => {
    res.writeStatus(statusLine(NOT_FOUND)).writeHeader("Content-Type", "application/json");
    res.end(
      JSON.stringify({
        code: NOT_FOUND,
        error: StatusText[NOT_FOUND],
        message: "WebSocket clients connect here; app servers PUT to /update/<token>",
      }),
    );
  });
}

const INTERNAL = refused("INTERNAL_ERROR", "internal error");
const NO_TOKEN = refused("NO_SUCH_ENDPOINT", "no such endpoint");

/** SimplePush bodies carry no errno (Web Push's do: `webpush-http.ts`). */
function methodNotAllowed(res: HttpResponse, metrics: Metrics): void {
  const { status } = NOT_ALLOWED.http;
  metrics.bound.put(String(status)).inc();
  metrics.bound.refusal(NOT_ALLOWED.label).inc();
  res
    .writeStatus(statusLine(status))
    .writeHeader("Allow", "PUT")
    .writeHeader("Content-Type", "application/json")
    .end(JSON.stringify({ code: status, error: StatusText[status], message: "use PUT" }));
}
