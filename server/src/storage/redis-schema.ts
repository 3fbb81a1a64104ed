/**
 * How `RedisStore` lays out one UAID in Redis. Both keys carry the UAID as a hash tag, so
 * they share one cluster slot and every script may touch both of them atomically:
 *
 * - `<prefix>{<uaid>}:u`: registrations, a hash `channel → ""`, plus the marker field `""`
 *   that records "this UAID exists" even with zero channels (channels are 32 hex, never
 *   empty). A hash rather than a set because Redis 7.0 keeps small hashes as compact
 *   listpacks while small sets of strings are full hash tables, and there are millions.
 *   Expires after the store's `uaidTtlSeconds` without activity (hello or register restart
 *   it); `dropUser` deletes it at once.
 * - `<prefix>{<uaid>}:p`: pending updates, a hash `channel → "<expiresAtMs>:<version>:<channelID>"`.
 *   Redis 7.0 has no per-field TTL, so the expiry lives in the value: reads skip and delete
 *   expired fields, and the key carries an EXPIRE raised to the longest TTL it has held, so
 *   a UAID that never comes back leaves nothing behind.
 *
 * Versions are u64: they travel as canonical decimal strings (`bigint.toString()`, no
 * leading zeros) and are compared as strings in Lua, never through a number.
 */

export interface UaidKeys {
  /** The registrations hash. */
  readonly registrations: string;
  /** The pending-updates hash. */
  readonly pending: string;
}

/** The keys of `uaid` under `prefix` (e.g. `edition:`). */
export function keysOf(prefix: string, uaid: string): UaidKeys {
  return { registrations: `${prefix}{${uaid}}:u`, pending: `${prefix}{${uaid}}:p` };
}

/** The registrations field that marks a UAID as existing. */
export const USER_MARKER = "";

const U64_MAX = (1n << 64n) - 1n;

/** The canonical decimal spelling of a u64 version; throws RangeError outside 0..2^64-1. */
export function versionString(version: bigint): string {
  if (version < 0n || version > U64_MAX)
    throw new RangeError(`version out of u64 range: ${version}`);
  return version.toString();
}

/** Stamps are short and never contain `:` (the store contract bounds them). */
const STAMP = /^[0-9A-Za-z._-]{1,64}$/;

/**
 * A pending-update value as stored: expiry first, channelID last (it may contain `:`); a
 * stamp, when there is one, between the version and the channelID behind a `~` (a
 * channelID never starts with one), so values written without a stamp still decode and the
 * scripts, which read only the expiry and the version, are unchanged.
 */
export function encodePending(
  expiresAtMs: number,
  version: bigint,
  channelID: string,
  stamp?: string,
): string {
  if (stamp === undefined) return `${expiresAtMs}:${versionString(version)}:${channelID}`;
  if (!STAMP.test(stamp)) throw new RangeError(`bad stamp ${JSON.stringify(stamp)}`);
  return `${expiresAtMs}:${versionString(version)}:~${stamp}:${channelID}`;
}

/** Inverse of `encodePending`, without the expiry (the scripts filter on it). */
export function decodePending(value: string): {
  channelID: string;
  version: bigint;
  stamp?: string;
} {
  const a = value.indexOf(":");
  const b = value.indexOf(":", a + 1);
  if (a < 0 || b <= a + 1) throw new Error(`malformed pending value: ${JSON.stringify(value)}`);
  const version = BigInt(value.slice(a + 1, b));
  if (value[b + 1] !== "~") return { version, channelID: value.slice(b + 1) };
  const c = value.indexOf(":", b + 2);
  if (c < 0) throw new Error(`malformed pending value: ${JSON.stringify(value)}`);
  return { version, stamp: value.slice(b + 2, c), channelID: value.slice(c + 1) };
}
