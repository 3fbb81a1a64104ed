/**
 * A `MessageQueue` that times every operation into `edition_store_operation_seconds`, like
 * `timed-store.ts` for the MessageStore (operation labels prefixed `webpush_`). Errors are
 * counted where they are handled.
 */
import type { MessageQueue } from "./message-queue.js";
import { timer } from "./timed-store.js";

type Sweeping = MessageQueue & { sweep?: (budget: number) => number };

export function timedQueue(
  queue: Sweeping,
  seconds: (operation: string) => { observe(v: number): void },
): Sweeping {
  const time = timer(seconds);
  const timed: Sweeping = {
    save: (uaid, m, bounds) => time("webpush_save", () => queue.save(uaid, m, bounds)),
    check: (uaid, channel) => time("webpush_check", () => queue.check(uaid, channel)),
    pending: (uaid) => time("webpush_pending", () => queue.pending(uaid)),
    ack: (uaid, ids) => time("webpush_ack", () => queue.ack(uaid, ids)),
    remove: (uaid, id) => time("webpush_remove", () => queue.remove(uaid, id)),
    dropChannel: (uaid, channel) =>
      time("webpush_drop_channel", () => queue.dropChannel(uaid, channel)),
    dropUser: (uaid) => time("webpush_drop_user", () => queue.dropUser(uaid)),
    close: () => queue.close(),
  };
  if (queue.sweep !== undefined) timed.sweep = (budget) => queue.sweep!(budget);
  return timed;
}
