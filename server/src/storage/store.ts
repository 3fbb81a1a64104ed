/**
 * MessageStore: registrations and pending updates, per UAID. One port, adapters beside it
 * (`memory-store.ts` is the embedded default). Every adapter passes `store.contract.ts`.
 *
 * Pending updates keep only the latest version per (UAID, channel): a version event means
 * "go check home", so older ones are superseded. They live until acked with a version ≥
 * theirs, or until their TTL expires. Data payloads are never stored.
 *
 * Ids passed in are normalised (32 lower-case hex); `channelID` is the client's own
 * spelling, kept only so that notifications use it.
 *
 * Records expire: a UAID (with its channels) not seen by `hasUser`, `addUser` or
 * `register` for the store's `uaidTtlSeconds` is deleted, so abandoned clients leave
 * nothing behind (PUTs to it then get `gone`). PUTs do not count as activity.
 */

export interface PendingUpdate {
  /** The channelID as the client registered it. */
  readonly channelID: string;
  readonly version: bigint;
  /**
   * The opaque identity the PUT gave this update (`savePending`'s `stamp`), absent for an
   * update stored without one. Two PUTs with the same version are two updates; the stamp
   * tells a socket whether the stored update it reads is one it was already sent directly.
   */
  readonly stamp?: string;
}

export interface AckUpdate {
  readonly channel: string;
  readonly version: bigint;
}

/**
 * Outcome of `savePending`:
 * - `stored`: durable; the caller may answer 2xx;
 * - `unregistered`: the UAID exists but the channel is not registered (404);
 * - `gone`: the UAID has no record (never said hello here, or was dropped) (410).
 */
export type SaveOutcome = "stored" | "unregistered" | "gone";

/** Outcome of `register`: `full` when the UAID already has `maxChannels` other channels. */
export type RegisterOutcome = "registered" | "full";

/**
 * A store operation failed (backend unreachable, timeout). Its code's answers (503 to a
 * hello, register, unregister and PUT alike) are in `errors/catalogue.ts`.
 */
export class StoreError extends Error {
  override readonly name: string = "StoreError";
  readonly code: "STORE_UNAVAILABLE" | "NOT_CONFIRMED" = "STORE_UNAVAILABLE";
}

export interface MessageStore {
  /**
   * Whether a record exists for `uaid` (created by `addUser`, removed by `dropUser` or by
   * expiry). A found record's inactivity clock restarts (hello is activity).
   */
  hasUser(uaid: string): Promise<boolean>;
  /**
   * Creates the record for `uaid` if absent (a new record starts with no pending updates);
   * an existing record is left as it is. Either way its inactivity clock restarts.
   */
  addUser(uaid: string): Promise<void>;
  /** Removes `uaid` with its registrations and pending updates. Later PUTs get `gone`. */
  dropUser(uaid: string): Promise<void>;
  /**
   * Registers `channel` for `uaid` (idempotent), atomically refusing (`full`, nothing
   * written) a new channel when `maxChannels` are registered already (default: no bound).
   * Creates the UAID record if absent; restarts its inactivity clock.
   */
  register(uaid: string, channel: string, maxChannels?: number): Promise<RegisterOutcome>;
  /** Removes the registration and any pending update of `channel` (idempotent). */
  unregister(uaid: string, channel: string): Promise<void>;
  /** Number of channels registered for `uaid` (0 when unknown). */
  channelCount(uaid: string): Promise<number>;
  /**
   * Stores `version` as the pending update of (`uaid`, `channel`) if the channel is
   * registered, replacing any pending one (the latest PUT wins, whatever its version).
   * Durable when it resolves with `stored`. `ttlSeconds` bounds how long it is kept.
   * `stamp` (optional, at most 64 characters of `[0-9A-Za-z._-]`) is kept with it and
   * returned by `pending`.
   */
  savePending(
    uaid: string,
    channel: string,
    channelID: string,
    version: bigint,
    ttlSeconds: number,
    stamp?: string,
  ): Promise<SaveOutcome>;
  /**
   * Every unexpired pending update of `uaid`, in no particular order. Backends read a large
   * set in bounded pages (no single huge reply).
   */
  pending(uaid: string): Promise<PendingUpdate[]>;
  /**
   * Deletes each pending update whose version ≤ the acked version. Durable when it
   * resolves: an ack followed by a disconnect must not cause a redelivery.
   */
  ack(uaid: string, updates: readonly AckUpdate[]): Promise<void>;
  /** Whether the backend is reachable now (for `/ready`). */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}
