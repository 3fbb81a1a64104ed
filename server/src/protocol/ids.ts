/**
 * UAIDs and channelIDs are UUIDs. Clients may send them as 32 hex digits or as 36
 * characters with dashes at 8/13/18/23, in any case; internally we key everything by the
 * normalised form (32 lower-case hex digits) so that the two spellings are the same id.
 */

const HEX32 = /^[0-9a-fA-F]{32}$/;
const DASHED = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Returns the normalised id (32 lower-case hex) or `undefined` when `s` is not a UUID. */
export function normalizeUuid(s: unknown): string | undefined {
  if (typeof s !== "string") return undefined;
  if (s.length === 32) return HEX32.test(s) ? s.toLowerCase() : undefined;
  if (s.length === 36 && DASHED.test(s)) {
    return (
      s.slice(0, 8) +
      s.slice(9, 13) +
      s.slice(14, 18) +
      s.slice(19, 23) +
      s.slice(24)
    ).toLowerCase();
  }
  return undefined;
}

/** Mints a UAID: a random UUIDv4 as 32 lower-case hex digits. */
export function mintUaid(random: (n: number) => Uint8Array): string {
  const b = random(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  let s = "";
  for (let i = 0; i < 16; i++) s += HEX[b[i]!];
  return s;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** 16 raw bytes of a normalised (32 hex) id. */
export function uuidBytes(norm: string): Buffer {
  return Buffer.from(norm, "hex");
}

/** Normalised (32 hex) id from 16 raw bytes. */
export function uuidFromBytes(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < 16; i++) s += HEX[b[i]!];
  return s;
}
