/**
 * A `MessageStore` that times every operation into `edition_store_operation_seconds`
 * (failed ones included: a timeout shows up as a slow operation, not as a missing one).
 * Errors are still counted where they are handled (`edition_store_errors_total`), since only
 * the caller knows what a failure meant for the client. Operation labels are snake_case.
 */
import type { Histogram } from "prom-client";
import type { MessageStore } from "./store.js";

type Sweeping = MessageStore & { sweep?: (budget: number) => number };

export function timedStore(store: Sweeping, seconds: Histogram<"operation">): Sweeping {
  const time = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    const end = seconds.labels(operation).startTimer();
    try {
      return await run();
    } finally {
      end();
    }
  };
  const timed: Sweeping = {
    hasUser: (uaid) => time("has_user", () => store.hasUser(uaid)),
    addUser: (uaid) => time("add_user", () => store.addUser(uaid)),
    dropUser: (uaid) => time("drop_user", () => store.dropUser(uaid)),
    register: (uaid, channel) => time("register", () => store.register(uaid, channel)),
    unregister: (uaid, channel) => time("unregister", () => store.unregister(uaid, channel)),
    channelCount: (uaid) => time("channel_count", () => store.channelCount(uaid)),
    savePending: (uaid, channel, channelID, version, ttlSeconds) =>
      time("save_pending", () => store.savePending(uaid, channel, channelID, version, ttlSeconds)),
    pending: (uaid) => time("pending", () => store.pending(uaid)),
    ack: (uaid, updates) => time("ack", () => store.ack(uaid, updates)),
    healthy: () => store.healthy(),
    close: () => store.close(),
  };
  if (store.sweep !== undefined) timed.sweep = (budget) => store.sweep!(budget);
  return timed;
}
