/**
 * MessageQueue: the Web Push messages waiting for their client, per UAID. A port beside
 * `store.ts` (which keeps SimplePush's one-version-per-channel pending updates untouched);
 * adapters: `message-queue-memory.ts` (embedded default) and `message-queue-redis.ts`.
 * Both pass `message-queue.contract.ts`.
 *
 * Unlike SimplePush updates, Web Push messages are not collapsed: each push is kept, with
 * its payload and headers, until the client acks it or its TTL expires. Only a message with
 * the same Topic on the same channel replaces an earlier one (RFC 8030 §5.4). Each UAID is
 * bounded in count and bytes; past either bound `save` answers `full` and stores nothing.
 *
 * Ids passed in are normalised (32 lower-case hex); registrations are the MessageStore's
 * (a push for an unregistered channel is refused here, atomically with the save).
 */
import type { PayloadHeaders } from "../endpoint/push-request.js";

export interface QueuedMessage {
  /** Unique message id (32 lower-case hex); the notification's `version`. */
  readonly id: string;
  /** Normalised channel. */
  readonly channel: string;
  /** The channelID as the client registered it. */
  readonly channelID: string;
  /** base64url payload; undefined for an empty push. */
  readonly data: string | undefined;
  readonly headers: PayloadHeaders | undefined;
  readonly topic: string | undefined;
  /** Epoch ms after which the message is dropped unseen. */
  readonly expiresAt: number;
  /** Epoch ms when it was accepted, to flush in arrival order. */
  readonly at: number;
}

export interface QueueBounds {
  /** Messages pending per UAID at most. */
  readonly maxMessages: number;
  /** Payload bytes (base64url characters) pending per UAID at most. */
  readonly maxBytes: number;
}

/**
 * - `stored`: durable; answer 201;
 * - `unregistered`: the UAID exists, the channel is not registered (410);
 * - `gone`: no record for the UAID (410);
 * - `full`: the UAID already holds `maxMessages` or `maxBytes` (nothing stored).
 */
export type QueueSaveOutcome = "stored" | "unregistered" | "gone" | "full";

/** What a message costs against `maxBytes`. */
export function messageBytes(m: QueuedMessage): number {
  return (
    (m.data?.length ?? 0) +
    (m.headers?.crypto_key?.length ?? 0) +
    (m.headers?.encryption?.length ?? 0)
  );
}

export interface MessageQueue {
  /**
   * Stores `m` if its channel is registered and the bounds allow it. A message with a
   * Topic first replaces the pending message with the same Topic on the same channel (the
   * replaced one no longer counts against the bounds). Durable when it resolves `stored`.
   */
  save(uaid: string, m: QueuedMessage, bounds: QueueBounds): Promise<QueueSaveOutcome>;
  /**
   * Only checks that the channel is registered (for TTL 0, which is never stored):
   * `stored` means "registered".
   */
  check(uaid: string, channel: string): Promise<"stored" | "unregistered" | "gone">;
  /** Every unexpired message of `uaid`, oldest first; expired ones are dropped on the way. */
  pending(uaid: string): Promise<QueuedMessage[]>;
  /** Deletes the messages with these ids (acked by the client). Durable when it resolves. */
  ack(uaid: string, ids: readonly string[]): Promise<void>;
  /** Deletes one message (app server DELETE); whether it was pending. */
  remove(uaid: string, id: string): Promise<boolean>;
  /** Deletes every message of a channel (unregister). */
  dropChannel(uaid: string, channel: string): Promise<void>;
  /** Deletes every message of a UAID (the UAID was dropped). */
  dropUser(uaid: string): Promise<void>;
  close(): Promise<void>;
}
