/**
 * The app-server path: `PUT /update/<token>` → decode token → store pending (durable,
 * registration checked) → hand the frame to the live socket → 200; no live socket, or it
 * went away, → 202 (stored, flushed at the next hello). Store-then-deliver: a crash
 * anywhere after the 2xx loses nothing. Transport-free: the HTTP shell copies the request
 * and writes the returned status.
 */
import type { EndpointTarget, TokenCodec } from "../endpoint/token.js";
import { parseUpdateRequest } from "../endpoint/update-request.js";
import { Errors, type SimplePushPutCode } from "../errors/catalogue.js";
import { type Logger, shortId } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Route } from "../routing/route.js";
import { ReplicationTimeout } from "../storage/replication.js";
import type { MessageStore } from "../storage/store.js";

export interface UpdateInput {
  readonly token: string;
  readonly contentType: string;
  readonly body: string;
  readonly query: string;
  /** `performance.now()` when the request arrived, for the PUT → socket histogram. */
  readonly startedAt: number;
  /** Sent on by another region's node (`endpoint/forward.ts`): never forwarded again. */
  readonly forwarded?: boolean;
}

/** 200 delivered, 202 stored; a refusal's status comes from the error catalogue. */
export type UpdateStatus = 200 | 202 | (typeof Errors)[SimplePushPutCode]["http"]["status"];

export interface UpdateResult {
  readonly status: UpdateStatus;
  /** Short reason for the error body; never the token. */
  readonly reason?: string;
  /** The catalogue code of a refusal made here (absent: success, or another region's answer). */
  readonly code?: SimplePushPutCode;
  /** Seconds for `Retry-After` (absent: none). */
  readonly retryAfter?: number;
}

/** A refusal by its catalogue code: status and Retry-After from the catalogue. */
export function refused(code: SimplePushPutCode, reason: string): UpdateResult {
  const { status, retryAfter } = Errors[code].http as {
    status: UpdateStatus;
    retryAfter?: number;
  };
  return retryAfter === undefined ? { status, reason, code } : { status, reason, code, retryAfter };
}

export interface DeliverDeps {
  readonly store: MessageStore;
  readonly route: Route;
  readonly tokens: TokenCodec;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly region: string;
  readonly pendingTtlSeconds: number;
  readonly nowSeconds: () => bigint;
  readonly perfNow: () => number;
  /** Tokens of another region (forwarded or adopted: `endpoint/forward.ts`); absent = 404. */
  readonly foreign?: (target: EndpointTarget, input: UpdateInput) => Promise<UpdateResult>;
  /** A new stamp per stored update (delivery/stamps.ts); absent: updates carry none. */
  readonly stamp?: () => string;
}

const OK: UpdateResult = { status: 200 };
const ACCEPTED: UpdateResult = { status: 202 };
const NOT_FOUND = refused("NO_SUCH_ENDPOINT", "no such endpoint");
const SHED = refused("OVERLOADED", "overloaded, retry later");
const NOT_CONFIRMED = refused(
  "NOT_CONFIRMED",
  "not replicated to another region in time, retry later",
);
const STORE_UNAVAILABLE = refused("STORE_UNAVAILABLE", "storage unavailable");
const GONE = refused("GONE", "the client was reset");

export async function deliverUpdate(d: DeliverDeps, input: UpdateInput): Promise<UpdateResult> {
  if (!d.log.isLevelEnabled("debug")) return deliver(d, input);
  const target = d.tokens.decode(input.token);
  const r = await deliver(d, input);
  // Never the token, the version or the data: the UAID's first digits and the data's size.
  d.log.debug(
    {
      event: "put",
      status: r.status,
      reason: r.reason,
      uaid: target === undefined ? undefined : shortId(target.uaid),
      dataLength: input.body.length > 0 ? dataLength(input.body) : undefined,
    },
    "update",
  );
  return r;
}

/** The length of the form-encoded `data` field as received, without keeping its content. */
function dataLength(body: string): number | undefined {
  const m = /(?:^|&)data=([^&]*)/.exec(body);
  return m === null ? undefined : m[1]!.length;
}

async function deliver(d: DeliverDeps, input: UpdateInput): Promise<UpdateResult> {
  const target = d.tokens.decode(input.token);
  if (target === undefined) return NOT_FOUND;
  if (target.region !== d.region) return d.foreign ? d.foreign(target, input) : NOT_FOUND;
  const req = parseUpdateRequest(input.contentType, input.body, input.query, d.nowSeconds);
  if (!req.ok) return refused(req.code, req.reason);
  // Shed before storing: a 503 must mean "not accepted", never "accepted but unrouted".
  if (d.route.shedding()) return SHED;

  let outcome: Awaited<ReturnType<MessageStore["savePending"]>>;
  const stamp = d.stamp?.();
  try {
    outcome = await d.store.savePending(
      target.uaid,
      target.channel,
      target.channelID,
      req.version,
      d.pendingTtlSeconds,
      stamp,
    );
  } catch (err) {
    d.metrics.storeErrors.labels("save_pending").inc();
    d.log.warn({ event: "store_error", op: "save_pending", err: String(err) }, "store failed");
    // `global` durability: stored here but not confirmed remotely (it may still arrive).
    return err instanceof ReplicationTimeout ? NOT_CONFIRMED : STORE_UNAVAILABLE;
  }
  if (outcome === "gone") return GONE;
  if (outcome === "unregistered") return NOT_FOUND;

  // The update as fields: the node holding the socket builds the frame (one build per PUT).
  const routed = await d.route.route(target.uaid, {
    kind: "simplepush",
    channelID: target.channelID,
    version: req.version,
    data: req.data,
    stamp,
  });
  if (routed === "delivered") {
    d.metrics.notifications.delivered.inc();
    d.metrics.putToSocket.observe((d.perfNow() - input.startedAt) / 1000);
    return OK;
  }
  d.metrics.notifications.stored.inc();
  return ACCEPTED;
}
