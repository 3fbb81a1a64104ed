/**
 * The Web Push endpoint over uWS HTTP: `POST /wpush/<token>` (RFC 8030 §5) and
 * `DELETE /m/<token>/<id>` (the message resource). Same uWS rules as
 * `endpoint-http.ts`: headers copied synchronously, `onAborted` before any await, a bounded
 * body, the response corked after the await.
 */
import type { PushCreated, PushInput } from "../delivery/webpush-deliver.js";
import {
  codeOf,
  errorBody,
  failure,
  PushError,
  type PushFailure,
  statusLine,
} from "../endpoint/push-errors.js";
import { MAX_PUSH_BYTES } from "../endpoint/push-request.js";
import { Errors, StatusText } from "../errors/catalogue.js";
import type { Metrics } from "../metrics.js";
import type { HttpResponse, TemplatedApp } from "./uws.js";

export interface WebPushHttpHandlers {
  push(input: PushInput): Promise<PushCreated | PushFailure>;
  remove(token: string, id: string): Promise<{ ok: true; status: 204 } | PushFailure>;
}

function writeFailure(res: HttpResponse, f: PushFailure, metrics: Metrics): void {
  const body = errorBody(f);
  const { status, retryAfter } = PushError[f.kind];
  metrics.bound.put(String(status)).inc();
  metrics.bound.refusal(Errors[codeOf(f)].label).inc();
  res.writeStatus(statusLine(status)).writeHeader("Content-Type", "application/json");
  if (retryAfter !== undefined) res.writeHeader("Retry-After", String(retryAfter));
  res.end(body);
}

function writeCreated(res: HttpResponse, r: PushCreated, metrics: Metrics): void {
  metrics.bound.put(String(r.status)).inc();
  res
    .writeStatus(statusLine(r.status))
    .writeHeader("Location", r.location)
    .writeHeader("TTL", String(r.ttlSeconds))
    .end();
}

export function attachWebPush(
  app: TemplatedApp,
  handlers: WebPushHttpHandlers,
  metrics: Metrics,
): void {
  app.post("/wpush/:token", (res, req) => {
    const startedAt = performance.now();
    const head = {
      token: req.getParameter(0),
      ttl: req.getHeader("ttl"),
      contentEncoding: req.getHeader("content-encoding"),
      encryption: req.getHeader("encryption"),
      cryptoKey: req.getHeader("crypto-key"),
      urgency: req.getHeader("urgency"),
      topic: req.getHeader("topic"),
      authorization: req.getHeader("authorization"),
    };
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const parts: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (size < 0) return;
      size += chunk.byteLength;
      if (size > MAX_PUSH_BYTES) {
        size = -1;
        writeFailure(
          res,
          failure("tooLarge", `the body is larger than ${MAX_PUSH_BYTES} bytes`),
          metrics,
        );
        return;
      }
      // The chunk is only valid during this callback: copy it.
      parts.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      handlers.push({ ...head, body, startedAt }).then(
        (r) => {
          if (aborted) return;
          res.cork(() => (r.ok ? writeCreated(res, r, metrics) : writeFailure(res, r, metrics)));
        },
        () => {
          if (!aborted)
            res.cork(() => writeFailure(res, failure("internal", "internal error"), metrics));
        },
      );
    });
  });

  app.del("/m/:token/:id", (res, req) => {
    const token = req.getParameter(0);
    const id = req.getParameter(1);
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    handlers.remove(token, id).then(
      (r) => {
        if (aborted) return;
        res.cork(() => {
          if (!r.ok) writeFailure(res, r, metrics);
          else {
            metrics.bound.put(String(r.status)).inc();
            res.writeStatus(statusLine(r.status)).end();
          }
        });
      },
      () => {
        if (!aborted)
          res.cork(() => writeFailure(res, failure("internal", "internal error"), metrics));
      },
    );
  });

  const { status, errno } = Errors.METHOD_NOT_ALLOWED.http;
  const notAllowed = (allow: string) => (res: HttpResponse) => {
    metrics.bound.refusal(Errors.METHOD_NOT_ALLOWED.label).inc();
    res
      .writeStatus(statusLine(status))
      .writeHeader("Allow", allow)
      .writeHeader("Content-Type", "application/json")
      .end(
        JSON.stringify({ code: status, errno, error: StatusText[status], message: `use ${allow}` }),
      );
  };
  app.any("/wpush/*", notAllowed("POST"));
  app.any("/m/*", notAllowed("DELETE"));
}
