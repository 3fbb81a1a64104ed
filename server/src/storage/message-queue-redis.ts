/**
 * The Redis adapter of `MessageQueue`, beside `redis-store.ts` and on the same deployment
 * (standalone, Sentinel or Cluster, same fail-fast client policy: `redis-client.ts`).
 *
 * Layout: `<prefix>{<uaid>}:w`, a hash `messageId → "<expiresAtMs>:<channel>:<topic>:<bytes>:<json>"`,
 * in the UAID's hash slot, beside the registrations hash `<prefix>{<uaid>}:u` of
 * `redis-schema.ts`, so the save script checks the registration and the bounds and stores
 * the message atomically. Expiry lives in the value (Redis 7.0 has no per-field TTL): the
 * scripts skip and delete expired fields, and the key's EXPIRE is raised to the longest TTL
 * it held, so a UAID that never comes back leaves nothing behind.
 */

import {
  type MessageQueue,
  messageBytes,
  type QueueBounds,
  type QueuedMessage,
  type QueueSaveOutcome,
} from "./message-queue.js";
import {
  closeClient,
  createClient,
  type RedisRun,
  type RedisStoreOptions,
  redisRunner,
  type StoreClient,
  waitReady,
} from "./redis-client.js";
import { keysOf } from "./redis-schema.js";
import { StoreError } from "./store.js";

/**
 * KEYS: registrations, queue. ARGV: channel, id, value, now, maxCount, maxBytes, topic
 * ("" = none), bytes of this message, ttl ms. Values are `<exp>:<channel>:<topic>:<bytes>:<json>`:
 * everything the script needs sits before the JSON, so it never parses JSON.
 */
const SAVE = `
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 0 then
  if redis.call("EXISTS", KEYS[1]) == 0 then return "gone" end
  return "unregistered"
end
local now = tonumber(ARGV[4])
local all = redis.call("HGETALL", KEYS[2])
local count, bytes, replaced = 0, 0, nil
for i = 1, #all, 2 do
  local exp, ch, topic, size = string.match(all[i + 1], "^(%d+):(%x*):([^:]*):(%d+):")
  if tonumber(exp) <= now then
    redis.call("HDEL", KEYS[2], all[i])
  elseif ARGV[7] ~= "" and ch == ARGV[1] and topic == ARGV[7] then
    replaced = all[i]
  else
    count = count + 1
    bytes = bytes + tonumber(size)
  end
end
if count + 1 > tonumber(ARGV[5]) or bytes + tonumber(ARGV[8]) > tonumber(ARGV[6]) then
  return "full"
end
if replaced then redis.call("HDEL", KEYS[2], replaced) end
redis.call("HSET", KEYS[2], ARGV[2], ARGV[3])
local ttl = tonumber(ARGV[9])
if ttl < 1 then ttl = 1 end
if redis.call("PTTL", KEYS[2]) < ttl then redis.call("PEXPIRE", KEYS[2], ttl) end
return "stored"
`;

/** KEYS: registrations. ARGV: channel. */
const CHECK = `
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 1 then return "stored" end
if redis.call("EXISTS", KEYS[1]) == 0 then return "gone" end
return "unregistered"
`;

/** KEYS: queue. ARGV: now. Deletes expired fields, returns the other values. */
const PENDING = `
local all = redis.call("HGETALL", KEYS[1])
local now = tonumber(ARGV[1])
local out = {}
for i = 1, #all, 2 do
  if tonumber(string.match(all[i + 1], "^(%d+):")) <= now then
    redis.call("HDEL", KEYS[1], all[i])
  else
    out[#out + 1] = all[i + 1]
  end
end
return out
`;

/** KEYS: queue. ARGV: now, id. 1 if the id was pending (and unexpired), else 0. */
const REMOVE = `
local v = redis.call("HGET", KEYS[1], ARGV[2])
if not v then return 0 end
redis.call("HDEL", KEYS[1], ARGV[2])
if tonumber(string.match(v, "^(%d+):")) <= tonumber(ARGV[1]) then return 0 end
return 1
`;

/** KEYS: queue. ARGV: channel. Deletes every message of the channel. */
const DROP_CHANNEL = `
local all = redis.call("HGETALL", KEYS[1])
local n = 0
for i = 1, #all, 2 do
  if string.match(all[i + 1], "^%d+:(%x*):") == ARGV[1] then
    n = n + redis.call("HDEL", KEYS[1], all[i])
  end
end
return n
`;

interface QueueScripts {
  editionWpSave(...args: (string | number)[]): Promise<string>;
  editionWpCheck(registrations: string, channel: string): Promise<string>;
  editionWpPending(queue: string, now: number): Promise<string[]>;
  editionWpRemove(queue: string, now: number, id: string): Promise<number>;
  editionWpDropChannel(queue: string, channel: string): Promise<number>;
}

function encode(m: QueuedMessage): string {
  const json = JSON.stringify({
    i: m.id,
    c: m.channelID,
    d: m.data,
    h: m.headers,
    t: m.topic,
    a: m.at,
  });
  return `${m.expiresAt}:${m.channel}:${m.topic ?? ""}:${messageBytes(m)}:${json}`;
}

function decode(value: string): QueuedMessage {
  const m = /^(\d+):([0-9a-f]*):([^:]*):(\d+):/.exec(value);
  if (m === null) throw new StoreError(`malformed queued message: ${value.slice(0, 80)}`);
  const j = JSON.parse(value.slice(m[0].length)) as {
    i: string;
    c: string;
    d?: string;
    h?: QueuedMessage["headers"];
    t?: string;
    a: number;
  };
  return {
    id: j.i,
    channel: m[2]!,
    channelID: j.c,
    data: j.d,
    headers: j.h,
    topic: j.t,
    expiresAt: Number(m[1]),
    at: j.a,
  };
}

export class RedisMessageQueue implements MessageQueue {
  /** Connects (its own connection, same options as the store); rejects if Redis does not answer. */
  static async open(options: RedisStoreOptions): Promise<RedisMessageQueue> {
    const client = createClient(options);
    try {
      await waitReady(client, options.connectTimeoutMs ?? 2000);
    } catch (err) {
      client.disconnect();
      throw err;
    }
    const c = client as StoreClient & QueueScripts;
    c.defineCommand("editionWpSave", { lua: SAVE, numberOfKeys: 2 });
    c.defineCommand("editionWpCheck", { lua: CHECK, numberOfKeys: 1 });
    c.defineCommand("editionWpPending", { lua: PENDING, numberOfKeys: 1 });
    c.defineCommand("editionWpRemove", { lua: REMOVE, numberOfKeys: 1 });
    c.defineCommand("editionWpDropChannel", { lua: DROP_CHANNEL, numberOfKeys: 1 });
    return new RedisMessageQueue(
      c,
      options.keyPrefix ?? "edition:",
      options.now ?? Date.now,
      redisRunner(options),
    );
  }

  private constructor(
    private readonly client: StoreClient & QueueScripts,
    private readonly prefix: string,
    private readonly now: () => number,
    private readonly run: RedisRun,
  ) {}

  private keys(uaid: string): { registrations: string; queue: string } {
    return {
      registrations: keysOf(this.prefix, uaid).registrations,
      queue: `${this.prefix}{${uaid}}:w`,
    };
  }

  async save(uaid: string, m: QueuedMessage, bounds: QueueBounds): Promise<QueueSaveOutcome> {
    const k = this.keys(uaid);
    const now = this.now();
    const ttlMs = Math.max(1, m.expiresAt - now);
    const r = await this.run(() =>
      this.client.editionWpSave(
        k.registrations,
        k.queue,
        m.channel,
        m.id,
        encode(m),
        now,
        bounds.maxMessages,
        bounds.maxBytes,
        m.topic ?? "",
        messageBytes(m),
        ttlMs,
      ),
    );
    if (r === "stored" || r === "unregistered" || r === "gone" || r === "full") return r;
    throw new StoreError(`redis: unexpected save reply ${JSON.stringify(r)}`);
  }

  async check(uaid: string, channel: string): Promise<"stored" | "unregistered" | "gone"> {
    const r = await this.run(() =>
      this.client.editionWpCheck(this.keys(uaid).registrations, channel),
    );
    if (r === "stored" || r === "unregistered" || r === "gone") return r;
    throw new StoreError(`redis: unexpected check reply ${JSON.stringify(r)}`);
  }

  async pending(uaid: string): Promise<QueuedMessage[]> {
    const values = await this.run(() =>
      this.client.editionWpPending(this.keys(uaid).queue, this.now()),
    );
    return values.map(decode).sort((a, b) => a.at - b.at);
  }

  async ack(uaid: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.run(() => this.client.hdel(this.keys(uaid).queue, ...ids));
  }

  async remove(uaid: string, id: string): Promise<boolean> {
    return (
      (await this.run(() => this.client.editionWpRemove(this.keys(uaid).queue, this.now(), id))) ===
      1
    );
  }

  async dropChannel(uaid: string, channel: string): Promise<void> {
    await this.run(() => this.client.editionWpDropChannel(this.keys(uaid).queue, channel));
  }

  async dropUser(uaid: string): Promise<void> {
    await this.run(() => this.client.del(this.keys(uaid).queue));
  }

  async close(): Promise<void> {
    await closeClient(this.client);
  }
}
