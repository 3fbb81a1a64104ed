/**
 * What the WebSocket side needs for Web Push sessions: the message queue, how endpoints are
 * minted (`/wpush/<token>`, with the application server key's hash sealed in), how a queued
 * message becomes a notification, and acks. Transport-free.
 */
import { keyHash, type WebPushTokens } from "../endpoint/webpush-token.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { WebPushAck, WebPushNotification } from "../protocol/webpush-session.js";
import type { MessageQueue, QueuedMessage } from "../storage/message-queue.js";

export interface WebPushSideDeps {
  readonly queue: MessageQueue;
  readonly tokens: WebPushTokens;
  readonly region: string;
  /** `<public base>/wpush/` — the token is appended. */
  readonly endpointPrefix: () => string;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now: () => number;
}

export class WebPushSide {
  constructor(private readonly d: WebPushSideDeps) {}

  get queue(): MessageQueue {
    return this.d.queue;
  }

  /** The push endpoint of a new subscription; `key` restricts it to that VAPID signer. */
  endpoint(uaid: string, channelID: string, key: string | undefined): string {
    const hash = key === undefined ? undefined : keyHash(Buffer.from(key, "base64url"));
    return (
      this.d.endpointPrefix() +
      this.d.tokens.subscription({ region: this.d.region, uaid, channelID, keyHash: hash })
    );
  }

  notification(m: QueuedMessage): WebPushNotification {
    return {
      channelID: m.channelID,
      id: m.id,
      ttlSeconds: Math.max(0, Math.ceil((m.expiresAt - this.d.now()) / 1000)),
      data: m.data,
      headers: m.headers,
    };
  }

  async ack(uaid: string, acks: readonly WebPushAck[]): Promise<void> {
    try {
      await this.d.queue.ack(
        uaid,
        acks.map((a) => a.id),
      );
      this.d.metrics.notifications.acked.inc(acks.length);
    } catch (err) {
      // The message stays queued and is flushed again at the next hello: a duplicate
      // (Firefox drops repeated message ids), not a loss.
      this.d.metrics.storeErrors.labels("webpush_ack").inc();
      this.d.log.warn({ event: "store_error", op: "webpush_ack", err: String(err) }, "ack failed");
    }
  }
}
