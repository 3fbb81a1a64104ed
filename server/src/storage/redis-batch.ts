/**
 * Saves and acks of many UAIDs sent to Redis as one script call (`BATCH` in
 * `redis-scripts.ts`) instead of one call each. Every PUT costs a save and, once the device
 * acks, an ack: two commands, each with its own ioredis command object, reply and
 * promise on the node and its own script run in Redis. So calls are grouped (group
 * commit): a call made while no batch is in flight goes at the end of the event-loop turn
 * (`setImmediate`, where ioredis's auto-pipelining would have written it anyway); calls
 * made while a batch waits for its reply go together as soon as that reply is in. Under
 * load batches grow by themselves; idle, a call waits one more event-loop turn at most
 * (ioredis then writes it at the end of the next one).
 *
 * Order is kept: any other command on the same connection first sends what is collected
 * (`flush`), so commands reach Redis in exactly the order they were issued, and within a
 * batch the script applies them in that order. An operation on a key of the wrong type
 * fails on its own, as it would have as a separate script; a failure of the whole call
 * (Redis down, a reply timeout, a read-only replica) fails every operation in it, with the
 * same `StoreError` each would have had.
 *
 * Bounded: at most `maxOperations` are collected; the next one sends them at once, whatever
 * is in flight; a batch whose reply never comes fails at the client's reply timeout.
 * Only for a single Redis (standalone or Sentinel): in a Redis Cluster the UAIDs of one
 * batch live in different slots, which one script may not touch.
 */
import type { UaidKeys } from "./redis-schema.js";
import { StoreError } from "./store.js";

/** Sends `keys` then `args` as one `BATCH` call and resolves to its replies. */
export type BatchCall = (
  numberOfKeys: number,
  keysThenArgs: string[],
) => Promise<readonly (string | number)[]>;

interface Operation {
  readonly keys: UaidKeys;
  /** `s`, channel, value, ttl ms — or `a`, pair count, channel, version, … */
  readonly args: readonly string[];
  readonly resolve: (reply: string | number) => void;
  readonly reject: (err: unknown) => void;
}

export const BATCH_MAX_OPERATIONS = 128;

export class RedisBatch {
  private queue: Operation[] = [];
  private scheduled = false;
  /** Batches sent and not answered yet. */
  private inFlight = 0;

  private readonly maxOperations: number;
  /** Told the size of each batch as it is sent. */
  private readonly onSend: (operations: number) => void;

  constructor(
    private readonly call: BatchCall,
    options: {
      readonly maxOperations?: number;
      readonly onSend?: (operations: number) => void;
    } = {},
  ) {
    this.maxOperations = options.maxOperations ?? BATCH_MAX_OPERATIONS;
    this.onSend = options.onSend ?? (() => {});
  }

  /** The save script's reply: "stored" | "unregistered" | "gone". */
  save(keys: UaidKeys, channel: string, value: string, ttlMs: number): Promise<string | number> {
    return this.add(keys, ["s", channel, value, String(ttlMs)]);
  }

  /** `channelVersionPairs`: channel, version, channel, version, …; resolves to the count deleted. */
  ack(keys: UaidKeys, channelVersionPairs: readonly string[]): Promise<string | number> {
    return this.add(keys, ["a", String(channelVersionPairs.length / 2), ...channelVersionPairs]);
  }

  /** Sends what is collected now (before any other command on the same connection). */
  flush(): void {
    if (this.queue.length === 0) return;
    const ops = this.queue;
    this.queue = [];
    const keys: string[] = [];
    const args: string[] = [];
    for (const op of ops) {
      keys.push(op.keys.registrations, op.keys.pending);
      for (const a of op.args) args.push(a);
    }
    let sent: Promise<readonly (string | number)[]>;
    try {
      sent = this.call(keys.length, [...keys, ...args]);
    } catch (err) {
      sent = Promise.reject(err);
    }
    this.inFlight++;
    this.onSend(ops.length);
    sent
      .finally(() => {
        // What was collected meanwhile goes now.
        if (--this.inFlight === 0) this.flush();
      })
      .catch(() => {});
    sent.then(
      (replies) => {
        if (replies.length !== ops.length) {
          const err = new StoreError(
            `redis: batch of ${ops.length} answered ${replies.length} replies`,
          );
          for (const op of ops) op.reject(err);
          return;
        }
        for (let i = 0; i < ops.length; i++) {
          const reply = replies[i]!;
          if (typeof reply === "string" && reply.startsWith("error:"))
            ops[i]!.reject(new StoreError(`redis: ${reply.slice("error:".length)}`));
          else ops[i]!.resolve(reply);
        }
      },
      (err: unknown) => {
        for (const op of ops) op.reject(err);
      },
    );
  }

  private add(keys: UaidKeys, args: readonly string[]): Promise<string | number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ keys, args, resolve, reject });
      if (this.queue.length >= this.maxOperations) this.flush();
      else if (this.inFlight === 0 && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          // Else the batch in flight sends this one when it returns.
          if (this.inFlight === 0) this.flush();
        });
      }
    });
  }
}
