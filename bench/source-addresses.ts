/**
 * Hands out loopback source addresses (127.0.0.2, 127.0.0.3, …), each only once per run,
 * so every worker binds its own and no run phase inherits another's TIME_WAIT ports.
 */
export class SourceAddresses {
  private next = 2;

  take(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const k = this.next++;
      if (k > 254 * 254) throw new Error("out of 127.0.x.y source addresses");
      out.push(`127.0.${Math.floor(k / 254)}.${(k % 254) + 1}`);
    }
    return out;
  }
}
