/**
 * The app-server path of Web Push (RFC 8030 §5): `POST /wpush/<token>` → decode the token
 * → VAPID when the subscription demands it (or the request offers it) → parse headers and
 * body → queue the message (registration checked atomically, bounds enforced) → hand one
 * notification frame to the live socket wherever it is → 201 Created with the message URL.
 * Store-then-deliver, as for SimplePush: after the 201 nothing is lost; the client acks by
 * message id and is flushed every unacked message at its next hello.
 *
 * `TTL: 0` is never stored: delivered if the client is connected now, else dropped (still
 * 201, RFC 8030 §5.2). `DELETE /m/<token>/<id>` removes a message that is still pending.
 */
import { randomUUID } from "node:crypto";
import { failure, type PushFailure } from "../endpoint/push-errors.js";
import { type PushHeaders, parsePushRequest } from "../endpoint/push-request.js";
import { verifyVapid } from "../endpoint/vapid.js";
import type { WebPushTokens } from "../endpoint/webpush-token.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { webpushNotification } from "../protocol/webpush-session.js";
import type { Route } from "../routing/route.js";
import type { MessageQueue, QueueBounds, QueuedMessage } from "../storage/message-queue.js";

export interface PushInput extends PushHeaders {
  readonly token: string;
  readonly authorization: string;
  readonly body: Buffer;
  readonly startedAt: number;
}

export interface PushCreated {
  readonly ok: true;
  readonly status: 201;
  /** The message URL (for DELETE). */
  readonly location: string;
  readonly ttlSeconds: number;
  readonly delivered: boolean;
}

export interface WebPushDeliverDeps {
  readonly queue: MessageQueue;
  readonly route: Route;
  readonly tokens: WebPushTokens;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly region: string;
  readonly bounds: QueueBounds;
  /** The origin app servers must name as VAPID `aud` (`https://host:port`). */
  readonly audience: () => string;
  /** `<public base>/m/` — `<subscription token>/<message id>` is appended. */
  readonly messagePrefix: () => string;
  readonly now: () => number;
  readonly perfNow: () => number;
}

export async function deliverPush(
  d: WebPushDeliverDeps,
  input: PushInput,
): Promise<PushCreated | PushFailure> {
  const target = d.tokens.decodeSubscription(input.token);
  if (target === undefined || target.region !== d.region)
    return failure("noSuchEndpoint", "no such subscription");
  if (target.keyHash !== undefined || input.authorization !== "") {
    const v = verifyVapid(
      input.authorization,
      input.cryptoKey,
      d.audience(),
      Math.floor(d.now() / 1000),
    );
    if (!v.ok) return v;
    if (target.keyHash !== undefined && !v.keyHash.equals(target.keyHash))
      return failure("wrongKey", "the VAPID key is not the one this subscription was made with");
  }
  const req = parsePushRequest(input, input.body);
  if (!req.ok) return req;
  if (d.route.shedding()) return failure("unavailable", "overloaded, retry later");

  const now = d.now();
  const m: QueuedMessage = {
    id: randomUUID().replaceAll("-", ""),
    channel: target.channel,
    channelID: target.channelID,
    data: req.data,
    headers: req.headers,
    topic: req.topic,
    expiresAt: now + req.ttlSeconds * 1000,
    at: now,
  };
  let outcome: Awaited<ReturnType<MessageQueue["save"]>>;
  try {
    outcome =
      req.ttlSeconds === 0
        ? await d.queue.check(target.uaid, target.channel)
        : await d.queue.save(target.uaid, m, d.bounds);
  } catch (err) {
    d.metrics.storeErrors.labels("webpush_save").inc();
    d.log.warn({ event: "store_error", op: "webpush_save", err: String(err) }, "store failed");
    return failure("storage", "storage unavailable");
  }
  if (outcome === "gone" || outcome === "unregistered")
    return failure("gone", "the subscription is no longer valid");
  if (outcome === "full")
    return failure(
      "queueFull",
      `the subscription already has ${d.bounds.maxMessages} messages or ${d.bounds.maxBytes} bytes waiting for its client`,
    );

  const frame = webpushNotification({
    channelID: m.channelID,
    id: m.id,
    ttlSeconds: req.ttlSeconds,
    data: m.data,
    headers: m.headers,
  });
  const routed = await d.route.route(target.uaid, { kind: "webpush", frame, stamp: m.id });
  const delivered = routed === "delivered";
  if (delivered) {
    d.metrics.notifications.delivered.inc();
    d.metrics.putToSocket.observe((d.perfNow() - input.startedAt) / 1000);
  } else if (req.ttlSeconds > 0) d.metrics.notifications.stored.inc();
  else d.metrics.notifications.dropped.inc();
  const location = `${d.messagePrefix()}${input.token}/${m.id}`;
  return { ok: true, status: 201, location, ttlSeconds: req.ttlSeconds, delivered };
}

const MESSAGE_ID = /^[0-9a-f]{32}$/;

/** `DELETE /m/<subscription token>/<message id>`: 204 when the message was pending, else 404. */
export async function deleteMessage(
  d: WebPushDeliverDeps,
  token: string,
  id: string,
): Promise<{ ok: true; status: 204 } | PushFailure> {
  const t = d.tokens.decodeSubscription(token);
  if (t === undefined || t.region !== d.region || !MESSAGE_ID.test(id))
    return failure("noSuchMessage", "no such message");
  try {
    return (await d.queue.remove(t.uaid, id))
      ? { ok: true, status: 204 }
      : failure("noSuchMessage", "the message is not pending (delivered, expired or deleted)");
  } catch (err) {
    d.metrics.storeErrors.labels("webpush_delete").inc();
    d.log.warn({ event: "store_error", op: "webpush_delete", err: String(err) }, "store failed");
    return failure("storage", "storage unavailable");
  }
}
