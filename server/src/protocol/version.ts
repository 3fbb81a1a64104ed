/**
 * Versions are unsigned 64-bit integers. They never pass through a JS `number` once they
 * could exceed 2^53: we parse the decimal digits ourselves into a `bigint` and write them
 * back with `bigint.toString()`.
 */

export const MAX_VERSION = (1n << 64n) - 1n;

const DIGITS = /^[0-9]{1,20}$/;

/** Parses a decimal string as a u64; `undefined` when it is not one (sign, fraction, hex, > 2^64-1). */
export function parseVersion(s: string): bigint | undefined {
  if (!DIGITS.test(s)) return undefined;
  const v = BigInt(s);
  return v <= MAX_VERSION ? v : undefined;
}

/**
 * A version as it arrives in an ack: a JSON integer (a `number` when safe, a `bigint` when
 * our parser had to keep all its digits) or a decimal string. Anything else is `undefined`.
 */
export function versionFromJson(v: unknown): bigint | undefined {
  switch (typeof v) {
    case "number":
      return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
    case "bigint":
      return v >= 0n && v <= MAX_VERSION ? v : undefined;
    case "string":
      return parseVersion(v);
    default:
      return undefined;
  }
}
