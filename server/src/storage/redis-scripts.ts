/**
 * The Lua scripts behind `RedisStore`: each runs atomically on the node that owns the
 * UAID's slot, in one round trip (ioredis sends EVALSHA, falling back to EVAL once per
 * connection or after NOSCRIPT). Key layout and value encoding: `redis-schema.ts`.
 */

/**
 * KEYS: registrations, pending. ARGV: channel, encoded value, ttl ms.
 * Returns "stored" | "unregistered" | "gone". The key EXPIRE is only ever raised, to the
 * longest TTL the key has held (at least 1 ms, since PEXPIRE 0 would delete the other
 * channels' updates), so it never cuts a newer update short.
 */
const SAVE_PENDING = `
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 0 then
  if redis.call("EXISTS", KEYS[1]) == 0 then return "gone" end
  return "unregistered"
end
redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl < 1 then ttl = 1 end
if redis.call("PTTL", KEYS[2]) < ttl then redis.call("PEXPIRE", KEYS[2], ttl) end
return "stored"
`;

/**
 * KEYS: pending. ARGV: now ms. Deletes expired fields and returns the other values.
 * Expiries are epoch milliseconds (< 2^53), exact as Lua numbers.
 */
const PENDING = `
local all = redis.call("HGETALL", KEYS[1])
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  if tonumber(string.match(v, "^(%d+):")) <= now then
    redis.call("HDEL", KEYS[1], all[i])
  else
    out[#out + 1] = v
  end
end
return out
`;

/**
 * KEYS: pending. ARGV: channel, version, channel, version… Deletes each update whose
 * version ≤ the acked one; returns how many. Versions are u64 decimal strings: Lua numbers
 * are doubles (exact only to 2^53), and Lua's string `<` follows the server's locale, so
 * compare by length, then byte by byte.
 */
const ACK = `
local function le(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return true
end
local n = 0
for i = 1, #ARGV, 2 do
  local v = redis.call("HGET", KEYS[1], ARGV[i])
  if v and le(string.match(v, "^%d+:(%d+):"), ARGV[i + 1]) then
    n = n + redis.call("HDEL", KEYS[1], ARGV[i])
  end
end
return n
`;

/** KEYS: registrations, pending. ARGV: channel. Removes both, so no orphan update remains. */
const UNREGISTER = `
redis.call("HDEL", KEYS[1], ARGV[1])
return redis.call("HDEL", KEYS[2], ARGV[1])
`;

/** For ioredis' `scripts` option: defines one command per script on the client. */
export const SCRIPTS = {
  editionSavePending: { lua: SAVE_PENDING, numberOfKeys: 2 },
  editionPending: { lua: PENDING, numberOfKeys: 1 },
  editionAck: { lua: ACK, numberOfKeys: 1 },
  editionUnregister: { lua: UNREGISTER, numberOfKeys: 2 },
} as const;

/** The commands `SCRIPTS` adds to a client (ioredis defines them at run time). */
export interface StoreScripts {
  editionSavePending(
    registrations: string,
    pending: string,
    channel: string,
    value: string,
    ttlMs: number,
  ): Promise<string>;
  editionPending(pending: string, nowMs: number): Promise<string[]>;
  editionAck(pending: string, ...channelVersionPairs: string[]): Promise<number>;
  editionUnregister(registrations: string, pending: string, channel: string): Promise<number>;
}
