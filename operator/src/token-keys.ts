/**
 * Generated endpoint-token keys, `<id>:<base64 32 bytes>,…` with the minting key first.
 * Rotation is two-phase so no node ever sees a token it cannot decode: (1) the new key is
 * appended, accepted but not minting, and rolled out to every node; (2) once every node has
 * it, it moves to the front (now minting) and the oldest keys beyond `keep` are dropped.
 */

export interface TokenKey {
  readonly id: number;
  readonly key: string;
}

export function parseKeys(value: string): TokenKey[] {
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.indexOf(":");
      return { id: Number(s.slice(0, i)), key: s.slice(i + 1) };
    });
}

export const formatKeys = (keys: readonly TokenKey[]): string =>
  keys.map((k) => `${k.id}:${k.key}`).join(",");

/** The next free id (0–255), after the highest in use. */
export function nextId(keys: readonly TokenKey[]): number {
  const used = new Set(keys.map((k) => k.id));
  let id = keys.length === 0 ? 1 : (Math.max(...keys.map((k) => k.id)) + 1) % 256;
  while (used.has(id)) id = (id + 1) % 256;
  return id;
}

/** Phase 1: append `key` (base64 of 32 random bytes) as accept-only; returns keys and its id. */
export function beginRotation(
  keys: readonly TokenKey[],
  key: string,
): { keys: TokenKey[]; id: number } {
  const id = nextId(keys);
  return { keys: [...keys, { id, key }], id };
}

/** Phase 2: `id` mints from now on; at most `keep` keys remain (newest first). */
export function finishRotation(keys: readonly TokenKey[], id: number, keep: number): TokenKey[] {
  const promoted = keys.find((k) => k.id === id);
  if (!promoted) return [...keys];
  return [promoted, ...keys.filter((k) => k.id !== id)].slice(0, Math.max(1, keep));
}
