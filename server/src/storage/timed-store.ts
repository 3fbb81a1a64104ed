/**
 * A `MessageStore` that times every operation into `edition_store_operation_seconds`
 * (failed ones included: a timeout shows up as a slow operation, not as a missing one).
 * Errors are still counted where they are handled (`edition_store_errors_total`), since only
 * the caller knows what a failure meant for the client. Operation labels are snake_case.
 */
import type { MessageStore } from "./store.js";

type Sweeping = MessageStore & { sweep?: (budget: number) => number };

export function timedStore(
  store: Sweeping,
  seconds: (operation: string) => { observe(v: number): void },
): Sweeping {
  const time = timer(seconds);
  const timed: Sweeping = {
    hasUser: (uaid) => time("has_user", () => store.hasUser(uaid)),
    addUser: (uaid) => time("add_user", () => store.addUser(uaid)),
    dropUser: (uaid) => time("drop_user", () => store.dropUser(uaid)),
    register: (uaid, channel, maxChannels) =>
      time("register", () => store.register(uaid, channel, maxChannels)),
    unregister: (uaid, channel) => time("unregister", () => store.unregister(uaid, channel)),
    channelCount: (uaid) => time("channel_count", () => store.channelCount(uaid)),
    savePending: (uaid, channel, channelID, version, ttlSeconds, stamp) =>
      time("save_pending", () =>
        store.savePending(uaid, channel, channelID, version, ttlSeconds, stamp),
      ),
    pending: (uaid) => time("pending", () => store.pending(uaid)),
    ack: (uaid, updates) => time("ack", () => store.ack(uaid, updates)),
    healthy: () => store.healthy(),
    close: () => store.close(),
  };
  if (store.sweep !== undefined) timed.sweep = (budget) => store.sweep!(budget);
  return timed;
}

/**
 * `time(operation, run)`: runs `run` and observes its duration into `seconds(operation)`,
 * failed calls included. One promise reaction per call, no extra async frame: this wraps
 * every store call.
 */
export function timer(
  seconds: (operation: string) => { observe(v: number): void },
): <T>(operation: string, run: () => Promise<T>) => Promise<T> {
  return (operation, run) => {
    const child = seconds(operation);
    const t0 = performance.now();
    return run().then(
      (v) => {
        child.observe((performance.now() - t0) / 1000);
        return v;
      },
      (err: unknown) => {
        child.observe((performance.now() - t0) / 1000);
        throw err;
      },
    );
  };
}
