/** Presence and routing for a single self-contained node: one Map in this process. */
import type { Presence } from "./presence.js";
import type { Route, RouteResult } from "./route.js";

export class MemoryPresence<S> implements Presence<S>, Route {
  private readonly byUaid = new Map<string, S>();

  /** `send` hands a frame to a local socket and says whether it took it. */
  constructor(private readonly send: (socket: S, frame: string) => boolean = () => false) {}

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

  route(uaid: string, frame: string): RouteResult {
    const s = this.byUaid.get(uaid);
    return s !== undefined && this.send(s, frame) ? "delivered" : "absent";
  }

  shedding(): boolean {
    return false;
  }
}
