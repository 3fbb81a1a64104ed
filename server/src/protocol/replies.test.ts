import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Close, ReplyError } from "./errors.js";
import { parseJson } from "./json.js";
import {
  directUpdate,
  errorReply,
  helloReply,
  notification,
  notificationPages,
  PING_REPLY,
  redirectReply,
  registerReply,
  unregisterReply,
} from "./replies.js";

const UAID = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
const CHID = "0f1e2d3c-4b5a-4697-8877-665544332211";

describe("errorReply", () => {
  it("echoes the client's object and adds status and error (the docs/protocol.md example)", () => {
    const raw = `{"messageType":"foo","uaid":"${UAID}","channelIDs":[]}`;
    assert.equal(
      errorReply(raw, "invalidCommand"),
      `{"messageType":"foo","uaid":"${UAID}","channelIDs":[],"status":401,"error":"Invalid Command"}`,
    );
  });

  it('uses "Invalid Command" for 401 and "Service Unavailable" for 503', () => {
    assert.deepEqual(parseJson(errorReply('{"a":1}', "invalidCommand")), {
      a: 1,
      status: 401,
      error: "Invalid Command",
    });
    assert.deepEqual(parseJson(errorReply('{"a":1}', "unavailable")), {
      a: 1,
      status: 503,
      error: "Service Unavailable",
    });
    assert.deepEqual(ReplyError.invalidCommand, { status: 401, error: "Invalid Command" });
    assert.deepEqual(ReplyError.unavailable, { status: 503, error: "Service Unavailable" });
  });

  it("writes every error kind as valid JSON with its status", () => {
    for (const kind of Object.keys(ReplyError) as (keyof typeof ReplyError)[]) {
      const v = parseJson(errorReply('{"messageType":"register"}', kind)) as Record<
        string,
        unknown
      >;
      assert.equal(v.status, ReplyError[kind].status);
      assert.equal(v.error, ReplyError[kind].error);
      assert.equal(v.messageType, "register");
    }
  });

  it("echoes big integers digit for digit (never through a JS number)", () => {
    const raw = `{"messageType":"ack","updates":[{"channelID":"${CHID}","version":18446744073709551615}]}`;
    const reply = errorReply(raw, "invalidCommand");
    assert.ok(reply.includes('"version":18446744073709551615}'), reply);
    assert.ok(reply.startsWith(raw.slice(0, -1)));
  });

  it("echoes the keys exactly as the client spelled them", () => {
    const raw = '{"MessageType":"FOO","ChannelIds":["x"]," uaid ":1}';
    assert.equal(
      errorReply(raw, "invalidCommand"),
      '{"MessageType":"FOO","ChannelIds":["x"]," uaid ":1,"status":401,"error":"Invalid Command"}',
    );
  });

  it("echoes an empty object as just status and error", () => {
    assert.equal(errorReply("{}", "invalidCommand"), '{"status":401,"error":"Invalid Command"}');
  });

  it("handles empty objects with whitespace", () => {
    for (const raw of ["{ }", "{\n\t}", " {}", "\r\n{ } \n", "  {  }  "]) {
      const reply = errorReply(raw, "invalidCommand");
      assert.deepEqual(parseJson(reply), { status: 401, error: "Invalid Command" }, raw);
    }
  });

  it("handles objects with whitespace before and after the closing brace", () => {
    for (const raw of ['{"a":1 }', '{"a":1}\n', ' { "a" : [ 1 ] , "b" : { } } \r\n', '{"a":{}}']) {
      const reply = errorReply(raw, "unavailable");
      const expected = {
        ...(JSON.parse(raw) as object),
        status: 503,
        error: "Service Unavailable",
      };
      assert.deepEqual(parseJson(reply), expected, raw);
    }
  });

  it("handles a closing brace inside a string value", () => {
    const raw = '{"messageType":"}{","x":"}"}';
    assert.deepEqual(parseJson(errorReply(raw, "invalidCommand")), {
      messageType: "}{",
      x: "}",
      status: 401,
      error: "Invalid Command",
    });
  });
});

describe("hello, redirect, register, unregister replies", () => {
  it("hello: lower-case type, the uaid, status 200", () => {
    assert.equal(helloReply(UAID), `{"messageType":"hello","uaid":"${UAID}","status":200}`);
  });

  it("hello: echoes a dashed upper-case uaid as given", () => {
    const echo = "9F8E7D6C-5B4A-4938-2716-A5B4C3D2E1F0";
    assert.deepEqual(parseJson(helloReply(echo)), {
      messageType: "hello",
      uaid: echo,
      status: 200,
    });
  });

  it("redirect: status 307 and the node in redirect", () => {
    assert.deepEqual(parseJson(redirectReply(UAID, "ws://10.0.0.7:8080")), {
      messageType: "hello",
      uaid: UAID,
      status: 307,
      redirect: "ws://10.0.0.7:8080",
    });
  });

  it("register: uaid, 200, the channelID as the client sent it and an /update/ endpoint", () => {
    const endpoint = "https://push.example.com/update/abc_DEF-123";
    const v = parseJson(registerReply(UAID, CHID.toUpperCase(), endpoint)) as Record<
      string,
      unknown
    >;
    assert.deepEqual(v, {
      messageType: "register",
      uaid: UAID,
      status: 200,
      channelID: CHID.toUpperCase(),
      pushEndpoint: endpoint,
    });
    assert.ok((v.pushEndpoint as string).includes("/update/"));
  });

  it("unregister: 200 and the channelID as sent, escaped when it needs to be", () => {
    assert.deepEqual(parseJson(unregisterReply(CHID)), {
      messageType: "unregister",
      status: 200,
      channelID: CHID,
    });
    const odd = 'not-a-uuid "quoted" \\ \u0000 \u2028';
    assert.deepEqual(parseJson(unregisterReply(odd)), {
      messageType: "unregister",
      status: 200,
      channelID: odd,
    });
  });

  it("ping reply is exactly {}", () => {
    assert.equal(PING_REPLY, "{}");
  });
});

describe("notification", () => {
  it("writes 2^64-1 digit for digit", () => {
    const text = notification([{ channelID: CHID, version: 18446744073709551615n }]);
    assert.equal(
      text,
      `{"messageType":"notification","updates":[{"channelID":"${CHID}","version":18446744073709551615}]}`,
    );
    const v = parseJson(text) as { updates: { version: unknown }[] };
    assert.equal(v.updates[0]!.version, 18446744073709551615n);
  });

  it("writes versions just past 2^53 without rounding", () => {
    const text = notification([{ channelID: CHID, version: 9007199254740993n }]);
    assert.ok(text.includes('"version":9007199254740993}'), text);
    assert.ok(!text.includes("9007199254740992"));
  });

  it("includes data only when given (empty data is still data)", () => {
    const without = parseJson(notification([{ channelID: CHID, version: 1n }])) as {
      updates: Record<string, unknown>[];
    };
    assert.equal("data" in without.updates[0]!, false);
    const undef = parseJson(notification([{ channelID: CHID, version: 1n, data: undefined }])) as {
      updates: Record<string, unknown>[];
    };
    assert.equal("data" in undef.updates[0]!, false);
    const empty = parseJson(notification([{ channelID: CHID, version: 1n, data: "" }])) as {
      updates: Record<string, unknown>[];
    };
    assert.equal(empty.updates[0]!.data, "");
    const data = 'hé "x"\n\\ 18446744073709551615';
    const withData = parseJson(notification([{ channelID: CHID, version: 2n, data }])) as {
      updates: Record<string, unknown>[];
    };
    assert.deepEqual(withData.updates[0], { channelID: CHID, version: 2, data });
  });

  it("carries every update of a flush, in order", () => {
    const updates = [
      { channelID: "a".repeat(32), version: 3n },
      { channelID: "b".repeat(32), version: 18446744073709551615n },
      { channelID: "c".repeat(32), version: 0n },
    ];
    const v = parseJson(notification(updates)) as { messageType: string; updates: unknown[] };
    assert.equal(v.messageType, "notification");
    assert.deepEqual(v.updates, [
      { channelID: "a".repeat(32), version: 3 },
      { channelID: "b".repeat(32), version: 18446744073709551615n },
      { channelID: "c".repeat(32), version: 0 },
    ]);
  });

  it("keeps every random u64 version exact through write and parse", () => {
    let x = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < 2000; i++) {
      // xorshift64: deterministic u64s spread over the whole range.
      x ^= (x << 13n) & 0xffffffffffffffffn;
      x ^= x >> 7n;
      x ^= (x << 17n) & 0xffffffffffffffffn;
      const version = x >> BigInt(i % 64);
      const v = parseJson(notification([{ channelID: CHID, version }])) as {
        updates: { version: number | bigint }[];
      };
      assert.equal(BigInt(v.updates[0]!.version), version);
    }
  });
});

describe("close codes", () => {
  it("ping flood closes with 4774 and garbage with a non-normal code", () => {
    assert.equal(Close.pingFlood, 4774);
    assert.equal(Close.normal, 1000);
    assert.notEqual(Close.unsupported, Close.normal);
  });
});

describe("notificationPages", () => {
  const updates = Array.from({ length: 500 }, (_, i) => ({
    channelID: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    version: 18446744073709551615n - BigInt(i),
  }));

  it("cuts the flush into frames of at most maxBytes holding every update once, in order", () => {
    for (const max of [100, 1024, 4096, 1 << 20]) {
      const frames = notificationPages(updates, max);
      const seen: unknown[] = [];
      for (const f of frames) {
        const v = parseJson(f) as {
          messageType: string;
          updates: { channelID: string; version: bigint }[];
        };
        // Over the bound only when one update alone does not fit.
        assert.ok(Buffer.byteLength(f) <= max || v.updates.length === 1, `${f.length} > ${max}`);
        assert.equal(v.messageType, "notification");
        assert.ok(v.updates.length > 0);
        seen.push(...v.updates);
      }
      assert.deepEqual(seen, updates);
      if (max === 1 << 20) assert.deepEqual(frames, [notification(updates)]);
    }
    assert.deepEqual(notificationPages([], 1024), []);
  });
});

describe("directUpdate", () => {
  it("reads back the channel and exact version of a direct notification, and nothing else", () => {
    const ch = "AAAAAAAA-0000-4000-8000-00000000000A";
    assert.deepEqual(
      directUpdate(notification([{ channelID: ch, version: 18446744073709551615n, data: "x" }])),
      { channelID: ch, version: 18446744073709551615n, data: true },
    );
    assert.deepEqual(directUpdate(notification([{ channelID: ch, version: 0n }])), {
      channelID: ch,
      version: 0n,
      data: false,
    });
    assert.equal(
      directUpdate('{"messageType":"notification","channelID":"x","version":"id"}'),
      undefined,
    );
    assert.equal(directUpdate("{}"), undefined);
    assert.equal(
      directUpdate('{"messageType":"notification","updates":[{"channelID":"x"}]}'),
      undefined,
    );
  });
});
