import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { UpdateInput } from "../delivery/deliver.js";
import { MemoryStore } from "../storage/memory-store.js";
import { FORWARDED_HEADER, foreignUpdates } from "./forward.js";

const input: UpdateInput = {
  token: "tok",
  contentType: "application/x-www-form-urlencoded",
  body: "version=3",
  query: "ttl=60",
  startedAt: 0,
};
const target = { region: "a", uaid: "1".repeat(32), channel: "2".repeat(32), channelID: "c" };

/** Forwards every foreign token to `base` (no region adopted here) through `fetch`. */
function forwarderTo(base: string, fetch: typeof globalThis.fetch) {
  return foreignUpdates({
    regions: { adopted: () => false, adoptedStore: () => undefined, endpointOf: () => base },
    deliverInto: async () => assert.fail("not adopted"),
    timeoutMs: 1000,
    fetch,
  });
}

describe("foreignUpdates", () => {
  it("forwards to the token's region endpoint and answers with its status", async () => {
    const seen: { url: string; init: RequestInit | undefined }[] = [];
    const f = forwarderTo("http://a", (async (url: string, init?: RequestInit) => {
      seen.push({ url, init });
      return new Response("", { status: 202 });
    }) as typeof fetch);
    assert.deepEqual(await f(target, input), { status: 202 });
    assert.equal(seen[0]?.url, "http://a/update/tok?ttl=60");
    assert.equal(seen[0]?.init?.method, "PUT");
    assert.equal(seen[0]?.init?.body, "version=3");
    assert.equal(
      (seen[0]?.init?.headers as Record<string, string> | undefined)?.[FORWARDED_HEADER],
      "1",
      "marked as forwarded",
    );
    // A PUT that was forwarded to us is never sent on again (no bouncing between regions).
    assert.equal((await f(target, { ...input, forwarded: true })).status, 503);
    assert.equal(seen.length, 1);
  });

  it("passes the other region's refusal on with its message and Retry-After (ours when it sent none)", async () => {
    const answers = [
      new Response('{"code":503,"error":"Service Unavailable","message":"overloaded"}', {
        status: 503,
        headers: { "retry-after": "9" },
      }),
      new Response('{"code":503}', { status: 503 }),
      new Response("no such endpoint\n", { status: 404 }),
    ];
    const f = forwarderTo("http://a", (async () => answers.shift()!) as unknown as typeof fetch);
    // Our own body's message is passed on, not the JSON nested in a string.
    assert.deepEqual(await f(target, input), {
      status: 503,
      reason: "overloaded",
      retryAfter: 9,
    });
    assert.deepEqual(await f(target, input), {
      status: 503,
      reason: '{"code":503}',
      retryAfter: 5,
    });
    assert.deepEqual(await f(target, input), { status: 404, reason: "no such endpoint" });
  });

  it("answers 503, never 404, when the region cannot be reached or is unknown", async () => {
    const regions = { adopted: () => false, adoptedStore: () => undefined };
    const down = foreignUpdates({
      regions: { ...regions, endpointOf: () => "http://a" },
      deliverInto: async () => assert.fail(),
      timeoutMs: 1000,
      fetch: (async () => {
        throw new TypeError("fetch failed");
      }) as typeof fetch,
    });
    assert.equal((await down(target, input)).status, 503);
    const unknown = foreignUpdates({
      regions: { ...regions, endpointOf: () => undefined },
      deliverInto: async () => assert.fail(),
      timeoutMs: 1000,
    });
    assert.equal((await unknown(target, input)).status, 503);
  });

  it("delivers into the adopted region's store when it is adopted here", async () => {
    const a = new MemoryStore();
    const f = foreignUpdates({
      regions: { adopted: () => true, adoptedStore: () => a, endpointOf: () => "http://a" },
      deliverInto: async (store, region) => {
        assert.equal(store, a);
        assert.equal(region, "a");
        return { status: 202 };
      },
      timeoutMs: 1000,
    });
    assert.deepEqual(await f(target, input), { status: 202 });
  });
});
