/**
 * The Lua scripts behind `RedisStore`: each runs atomically on the node that owns the
 * UAID's slot, in one round trip (ioredis sends EVALSHA, falling back to EVAL once per
 * connection or after NOSCRIPT). Key layout and value encoding: `redis-schema.ts`.
 */

/**
 * Stores one update: (registrations, pending, channel, encoded value, ttl ms).
 * Returns "stored" | "unregistered" | "gone". The key EXPIRE is only ever raised, to the
 * longest TTL the key has held (at least 1 ms, since PEXPIRE 0 would delete the other
 * channels' updates), so it never cuts a newer update short.
 */
const SAVE_FUNCTION = `
local function save_pending(registrations, pending, channel, value, ttl_ms)
  if redis.call("HEXISTS", registrations, channel) == 0 then
    if redis.call("EXISTS", registrations) == 0 then return "gone" end
    return "unregistered"
  end
  redis.call("HSET", pending, channel, value)
  local ttl = tonumber(ttl_ms)
  if ttl < 1 then ttl = 1 end
  if redis.call("PTTL", pending) < ttl then redis.call("PEXPIRE", pending, ttl) end
  return "stored"
end
`;

/** KEYS: registrations, pending. ARGV: channel, encoded value, ttl ms. See `SAVE_FUNCTION`. */
const SAVE_PENDING = `${SAVE_FUNCTION}
return save_pending(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])
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
 * Acks `count` (channel, version) pairs of `args`, from index `from`, on `pending`: deletes
 * each update whose version ≤ the acked one; returns how many. Versions are u64 decimal
 * strings: Lua numbers are doubles (exact only to 2^53), and Lua's string `<` follows the
 * server's locale, so compare by length, then byte by byte.
 */
const ACK_FUNCTION = `
local function version_le(a, b)
  if #a ~= #b then return #a < #b end
  for i = 1, #a do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return true
end
local function ack(pending, args, from, count)
  local n = 0
  for i = from, from + 2 * count - 1, 2 do
    local v = redis.call("HGET", pending, args[i])
    if v and version_le(string.match(v, "^%d+:(%d+):"), args[i + 1]) then
      n = n + redis.call("HDEL", pending, args[i])
    end
  end
  return n
end
`;

/** KEYS: pending. ARGV: channel, version, channel, version… See `ACK_FUNCTION`. */
const ACK = `${ACK_FUNCTION}
return ack(KEYS[1], ARGV, 1, #ARGV / 2)
`;

/**
 * Saves and acks of many UAIDs in one call (`redis-batch.ts`), applied in order, each as if
 * it were its own script. KEYS: registrations, pending of each operation. ARGV: per
 * operation either `s`, channel, encoded value, ttl ms, or `a`, pair count, channel,
 * version, …. Returns one entry per operation: a save's outcome, an ack's count, or
 * `error:<message>` for an operation whose keys hold the wrong type (the others still
 * apply, as they would have as separate scripts). Any other error (a read-only replica
 * after a failover, out of memory: the first write fails, so nothing was applied) fails
 * the whole call with that error, as one script's would, so ioredis sees the same reply
 * (READONLY makes it reconnect to the current master).
 */
const BATCH = `${SAVE_FUNCTION}${ACK_FUNCTION}
local out = {}
local a = 1
for op = 1, #KEYS / 2 do
  local registrations, pending = KEYS[2 * op - 1], KEYS[2 * op]
  local ok, r
  if ARGV[a] == "s" then
    ok, r = pcall(save_pending, registrations, pending, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
    a = a + 4
  else
    local count = tonumber(ARGV[a + 1])
    ok, r = pcall(ack, pending, ARGV, a + 2, count)
    a = a + 2 + 2 * count
  end
  if ok then
    out[op] = r
  else
    if type(r) == "table" then r = r.err end
    r = tostring(r)
    if string.sub(r, 1, 9) ~= "WRONGTYPE" then return redis.error_reply(r) end
    out[op] = "error:" .. r
  end
end
return out
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
  // The key count varies: the first argument of the call.
  editionBatch: { lua: BATCH },
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
  editionBatch(numberOfKeys: number, ...keysThenArgs: string[]): Promise<(string | number)[]>;
}
