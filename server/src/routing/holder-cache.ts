/**
 * The endpoint node's memory of which node held a UAID's socket when a PUT last reached it,
 * so the next PUT goes there in one hop instead of endpoint → owner → holder. A hint only:
 * the holder answers "not here" when the socket moved and the caller drops the entry and
 * asks the slot owner, which is the authority. Bounded: the oldest entry goes first.
 */
import { setBounded } from "../bounded-map.js";
export class HolderCache {
  private readonly byUaid = new Map<string, string>();

  constructor(private readonly max = 100_000) {}

  get size(): number {
    return this.byUaid.size;
  }

  get(uaid: string): string | undefined {
    return this.byUaid.get(uaid);
  }

  set(uaid: string, node: string): void {
    setBounded(this.byUaid, uaid, node, this.max);
  }

  /** Forgets `uaid` if it still points at `node` (a newer answer is kept). */
  delete(uaid: string, node: string): void {
    if (this.byUaid.get(uaid) === node) this.byUaid.delete(uaid);
  }

  /** A node left or restarted: nothing it held is there any more. */
  forgetNode(node: string): void {
    for (const [uaid, n] of this.byUaid) if (n === node) this.byUaid.delete(uaid);
  }
}
