/**
 * Presence: which socket holds a UAID now. The newest connection for a UAID wins; the one
 * it replaced is returned so the caller can close it. `S` is the transport's socket handle,
 * opaque here.
 */
export interface Presence<S> {
  /** Records that `socket` holds `uaid`; returns the socket it replaced, if any. */
  claim(uaid: string, socket: S): S | undefined;
  /** Forgets `uaid` if (and only if) `socket` still holds it. */
  release(uaid: string, socket: S): void;
  /** The socket holding `uaid` on this node, if any. */
  find(uaid: string): S | undefined;
  /** Number of UAIDs present. */
  readonly size: number;
  /** Every socket present (for a drain). */
  sockets(): IterableIterator<S>;
}
