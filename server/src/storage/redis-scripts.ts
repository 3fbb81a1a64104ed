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
 * KEYS: pending. ARGV: now ms, cursor, count. One HSCAN page (never HGETALL: a huge hash
 * would block Redis and come back as one huge reply): deletes the page's expired fields and
 * returns `{ next cursor, value, value, … }` (cursor "0": done). Expiries are epoch
 * milliseconds (< 2^53), exact as Lua numbers.
 */
const PENDING_PAGE = `
local page = redis.call("HSCAN", KEYS[1], ARGV[2], "COUNT", ARGV[3])
local all = page[2]
local now = tonumber(ARGV[1])
local out = { page[1] }
for i = 1, #all, 2 do
  local v = all[i + 1]
  if tonumber(string.match(v, "^(%d+):")) <= now then
    redis.call("HDEL", KEYS[1], all[i])
  else
    out[#out + 1] = all[i]
    out[#out + 1] = v
  end
end
return out
`;

/**
 * KEYS: registrations, pending. ARGV: ttl ms. Creates the UAID record if absent (a new
 * record drops any pending updates left from an expired one) and restarts its expiry.
 */
const ADD_USER = `
if redis.call("EXISTS", KEYS[1]) == 0 then
  redis.call("HSET", KEYS[1], "", "")
  redis.call("DEL", KEYS[2])
end
redis.call("PEXPIRE", KEYS[1], ARGV[1])
return 1
`;

/**
 * KEYS: registrations. ARGV: channel, max channels, ttl ms. Registers the channel unless
 * that would make more than max (the marker field "" is not a channel); restarts the
 * record's expiry. Returns "registered" | "full".
 */
const REGISTER = `
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 0 then
  if redis.call("HLEN", KEYS[1]) - 1 >= tonumber(ARGV[2]) then return "full" end
  redis.call("HSET", KEYS[1], "", "", ARGV[1], "")
end
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return "registered"
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
  editionPendingPage: { lua: PENDING_PAGE, numberOfKeys: 1 },
  editionAddUser: { lua: ADD_USER, numberOfKeys: 2 },
  editionRegister: { lua: REGISTER, numberOfKeys: 1 },
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
  editionPendingPage(
    pending: string,
    nowMs: number,
    cursor: string,
    count: number,
  ): Promise<string[]>;
  editionAddUser(registrations: string, pending: string, ttlMs: number): Promise<number>;
  editionRegister(
    registrations: string,
    channel: string,
    maxChannels: number,
    ttlMs: number,
  ): Promise<string>;
  editionAck(pending: string, ...channelVersionPairs: string[]): Promise<number>;
  editionUnregister(registrations: string, pending: string, channel: string): Promise<number>;
}
