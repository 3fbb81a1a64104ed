import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeReply, decodeRequest, RouterDecodeError } from "./router-messages.js";

describe("router messages", () => {
  it("decodes every request the router carries, dropping router fields", () => {
    const all = [
      { op: "announce", uaid: "u", node: "n1", since: 5 },
      { op: "withdraw", uaid: "u", node: "n1", since: 0 },
      { op: "evict", uaid: "u", since: 7 },
      { op: "nudge", uaid: "u" },
      { op: "nudge", uaid: "u", fwd: 1 },
      { op: "flush", uaid: "u", since: 8 },
      { op: "route", uaid: "u", frame: "{}" },
      { op: "route", uaid: "u", frame: "{}", fwd: 1 },
      { op: "route", uaid: "u", frame: "{}", stamp: "k.1", fwd: 1 },
      { op: "deliver", uaid: "u", frame: "" },
      { op: "deliver", uaid: "u", frame: "", stamp: "k.2" },
    ];
    for (const m of all) assert.deepEqual(decodeRequest({ ...m, i: 42 }), m);
  });

  it("rejects malformed requests with a clear error", () => {
    const bad: Record<string, unknown>[] = [
      {},
      { op: "nope", uaid: "u" },
      { op: "announce", uaid: "u", node: "n" },
      { op: "announce", uaid: "u", node: 3, since: 1 },
      { op: "announce", uaid: "", node: "n", since: 1 },
      { op: "evict", uaid: "u", since: -1 },
      { op: "evict", uaid: "u", since: Number.NaN },
      { op: "evict", uaid: "x".repeat(300), since: 1 },
      { op: "route", uaid: "u", frame: 1 },
      { op: "route", uaid: "u", frame: "{}", fwd: 2 },
      { op: "deliver", uaid: "u" },
      { op: "flush", uaid: "u" },
      { op: "nudge" },
      { op: "deliver", uaid: "u", frame: "", stamp: 3 },
      { op: "deliver", uaid: "u", frame: "", stamp: "s".repeat(65) },
      { op: ["announce"], uaid: "u", node: "n", since: 1 },
    ];
    for (const m of bad) {
      const r = decodeRequest(m);
      assert.ok(r instanceof RouterDecodeError, JSON.stringify(m));
      assert.equal(r.code, "ROUTER_BAD_MESSAGE");
    }
  });

  it("decodes replies and rejects unknown flag values", () => {
    assert.deepEqual(decodeReply({ r: 1 }), {});
    assert.deepEqual(decodeReply({ r: 1, d: 1 }), { d: 1 });
    assert.deepEqual(decodeReply({ r: 1, d: 0, flush: 1 }), { d: 0, flush: 1 });
    assert.deepEqual(decodeReply({ r: 1, d: 1, h: "n2" }), { d: 1, h: "n2" });
    assert.ok(decodeReply({ d: 1, h: 5 }) instanceof RouterDecodeError);
    assert.ok(decodeReply({ d: "1" }) instanceof RouterDecodeError);
    assert.ok(decodeReply({ d: 2 }) instanceof RouterDecodeError);
    assert.ok(decodeReply({ flush: true }) instanceof RouterDecodeError);
  });
});
