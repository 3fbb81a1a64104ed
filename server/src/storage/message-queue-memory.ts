/**
 * The embedded default `MessageQueue`: messages in this process's memory, in arrival order
 * per UAID. Registrations are asked of the memory store through `registration`, so a push
 * for an unregistered channel is refused in the same synchronous step as the save.
 */
import {
  type MessageQueue,
  messageBytes,
  type QueueBounds,
  type QueuedMessage,
  type QueueSaveOutcome,
} from "./message-queue.js";

export type Registration = (uaid: string, channel: string) => "stored" | "unregistered" | "gone";

interface UserQueue {
  readonly byId: Map<string, QueuedMessage>;
  bytes: number;
}

export class MemoryMessageQueue implements MessageQueue {
  private readonly users = new Map<string, UserQueue>();

  constructor(
    private readonly registration: Registration,
    private readonly now: () => number = Date.now,
  ) {}

  async save(uaid: string, m: QueuedMessage, bounds: QueueBounds): Promise<QueueSaveOutcome> {
    const r = this.registration(uaid, m.channel);
    if (r !== "stored") return r;
    let q = this.users.get(uaid);
    if (q === undefined) {
      q = { byId: new Map(), bytes: 0 };
      this.users.set(uaid, q);
    }
    this.expire(q);
    let replaced: QueuedMessage | undefined;
    if (m.topic !== undefined) {
      for (const old of q.byId.values()) {
        if (old.channel === m.channel && old.topic === m.topic) replaced = old;
      }
    }
    const count = q.byId.size - (replaced ? 1 : 0);
    const bytes = q.bytes - (replaced ? messageBytes(replaced) : 0);
    if (count + 1 > bounds.maxMessages || bytes + messageBytes(m) > bounds.maxBytes) {
      if (q.byId.size === 0) this.users.delete(uaid);
      return "full";
    }
    if (replaced) this.delete(q, replaced.id);
    q.byId.set(m.id, m);
    q.bytes += messageBytes(m);
    return "stored";
  }

  async check(uaid: string, channel: string): Promise<"stored" | "unregistered" | "gone"> {
    return this.registration(uaid, channel);
  }

  async pending(uaid: string): Promise<QueuedMessage[]> {
    const q = this.users.get(uaid);
    if (q === undefined) return [];
    this.expire(q);
    if (q.byId.size === 0) {
      this.users.delete(uaid);
      return [];
    }
    return [...q.byId.values()];
  }

  async ack(uaid: string, ids: readonly string[]): Promise<void> {
    const q = this.users.get(uaid);
    if (q === undefined) return;
    for (const id of ids) this.delete(q, id);
    if (q.byId.size === 0) this.users.delete(uaid);
  }

  async remove(uaid: string, id: string): Promise<boolean> {
    const q = this.users.get(uaid);
    if (q === undefined) return false;
    this.expire(q);
    const had = this.delete(q, id);
    if (q.byId.size === 0) this.users.delete(uaid);
    return had;
  }

  async dropChannel(uaid: string, channel: string): Promise<void> {
    const q = this.users.get(uaid);
    if (q === undefined) return;
    for (const m of [...q.byId.values()]) if (m.channel === channel) this.delete(q, m.id);
    if (q.byId.size === 0) this.users.delete(uaid);
  }

  async dropUser(uaid: string): Promise<void> {
    this.users.delete(uaid);
  }

  /** Removes expired messages of up to `budget` UAIDs (round-robin); returns how many. */
  sweep(budget: number): number {
    let removed = 0;
    const batch: [string, UserQueue][] = [];
    for (const entry of this.users) {
      if (batch.length >= budget) break;
      batch.push(entry);
    }
    for (const [uaid, q] of batch) {
      removed += this.expire(q);
      this.users.delete(uaid);
      if (q.byId.size > 0) this.users.set(uaid, q);
    }
    return removed;
  }

  async close(): Promise<void> {}

  private expire(q: UserQueue): number {
    const now = this.now();
    let n = 0;
    for (const m of [...q.byId.values()]) {
      if (m.expiresAt <= now) {
        this.delete(q, m.id);
        n++;
      }
    }
    return n;
  }

  private delete(q: UserQueue, id: string): boolean {
    const m = q.byId.get(id);
    if (m === undefined) return false;
    q.byId.delete(id);
    q.bytes -= messageBytes(m);
    return true;
  }
}
