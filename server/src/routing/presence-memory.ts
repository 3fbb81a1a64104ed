/** Presence for a single self-contained node: one Map in this process. */
import type { Presence } from "./presence.js";

export class MemoryPresence<S> implements Presence<S> {
  private readonly byUaid = new Map<string, S>();

  claim(uaid: string, socket: S): S | undefined {
    const old = this.byUaid.get(uaid);
    this.byUaid.set(uaid, socket);
    return old === socket ? undefined : old;
  }

  release(uaid: string, socket: S): void {
    if (this.byUaid.get(uaid) === socket) this.byUaid.delete(uaid);
  }

  find(uaid: string): S | undefined {
    return this.byUaid.get(uaid);
  }

  get size(): number {
    return this.byUaid.size;
  }

  sockets(): IterableIterator<S> {
    return this.byUaid.values();
  }
}
