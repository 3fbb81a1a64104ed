/**
 * The sockets on this node, by UAID: the one local socket registry, owned by
 * `Connections`. The newest socket for a UAID wins; the one it replaced is returned so the
 * caller can close it. `S` is the transport's socket handle, opaque here.
 */
export class LocalSockets<S> {
  private readonly byUaid = new Map<string, S>();

  /** Records that `socket` holds `uaid`; returns the socket it replaced, if any. */
  claim(uaid: string, socket: S): S | undefined {
    const old = this.byUaid.get(uaid);
    this.byUaid.set(uaid, socket);
    return old === socket ? undefined : old;
  }

  /** Forgets `uaid` if (and only if) `socket` still holds it; says whether it did. */
  release(uaid: string, socket: S): boolean {
    if (this.byUaid.get(uaid) !== socket) return false;
    this.byUaid.delete(uaid);
    return true;
  }

  find(uaid: string): S | undefined {
    return this.byUaid.get(uaid);
  }

  get size(): number {
    return this.byUaid.size;
  }

  values(): IterableIterator<S> {
    return this.byUaid.values();
  }
}
