import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Close } from "./errors.js";
import { helloDone, type Limits, newSession, Phase, type Session, step } from "./session.js";
import {
  BROADCAST_REPLY,
  canonicalServerKey,
  webpushHelloReply,
  webpushNotification,
} from "./webpush-session.js";

const LIMITS: Limits = { pingMinIntervalMs: 1000, pingBurst: 3 };
const UAID = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
const CHID = "0f1e2d3c-4b5a-4697-8877-665544332211";
const CHANNEL = "0f1e2d3c4b5a46978877665544332211";
const MSG = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
/** An uncompressed P-256 point (the prefix byte and length are what is checked). */
const KEY = Buffer.concat([Buffer.of(4), Buffer.alloc(64, 7)]);
const FIREFOX_HELLO = '{"messageType":"hello","broadcasts":{},"use_webpush":true}';

function firefox(): Session {
  const s = newSession(0, LIMITS.pingBurst);
  const st = step(s, FIREFOX_HELLO, 0, LIMITS);
  assert.equal(st.do, "hello");
  helloDone(s, UAID);
  return s;
}

function simplePush(): Session {
  const s = newSession(0, LIMITS.pingBurst);
  step(s, `{"messageType":"hello","uaid":"${UAID}","channelIDs":[]}`, 0, LIMITS);
  helloDone(s, UAID);
  return s;
}

describe("Web Push hello", () => {
  it("accepts Firefox's hello without channelIDs and enters Web Push mode", () => {
    const s = newSession(0, LIMITS.pingBurst);
    const st = step(s, FIREFOX_HELLO, 0, LIMITS);
    assert.deepEqual(st, {
      do: "hello",
      requested: undefined,
      echo: undefined,
      channelCount: 0,
      raw: FIREFOX_HELLO,
    });
    assert.equal(s.webpush, true);
  });

  it("keeps a Firefox UAID sent back", () => {
    const s = newSession(0, LIMITS.pingBurst);
    const st = step(
      s,
      `{"messageType":"hello","broadcasts":{"remote-settings/monitor_changes":"\\"0\\""},"use_webpush":true,"uaid":"${UAID}"}`,
      0,
      LIMITS,
    );
    assert.equal(st.do, "hello");
    assert.equal(st.do === "hello" && st.requested, UAID);
    // Counted as holding subscriptions: an unknown UAID is then replaced (hello.ts rules).
    assert.equal(st.do === "hello" && st.channelCount, 1);
  });

  it("answers use_webpush and an empty broadcasts object, also to a repeated hello", () => {
    assert.deepEqual(JSON.parse(webpushHelloReply(UAID)), {
      messageType: "hello",
      uaid: UAID,
      status: 200,
      use_webpush: true,
      broadcasts: {},
    });
    const s = firefox();
    assert.deepEqual(step(s, FIREFOX_HELLO, 0, LIMITS), {
      do: "reply",
      text: webpushHelloReply(UAID),
    });
  });

  it("still refuses a SimplePush hello without channelIDs (legacy protocol unchanged)", () => {
    const s = newSession(0, LIMITS.pingBurst);
    const st = step(s, '{"messageType":"hello","use_webpush":false}', 0, LIMITS);
    assert.equal(st.do, "close");
    assert.equal(s.webpush, false);
  });
});

describe("Web Push commands", () => {
  it("register with and without an application server key (Firefox pads it)", () => {
    const s = firefox();
    assert.deepEqual(step(s, `{"messageType":"register","channelID":"${CHID}"}`, 0, LIMITS), {
      do: "register",
      channelID: CHID,
      channel: CHANNEL,
      raw: `{"messageType":"register","channelID":"${CHID}"}`,
    });
    const padded = KEY.toString("base64").replaceAll("+", "-").replaceAll("/", "_");
    assert.ok(padded.endsWith("="));
    const raw = `{"channelID":"${CHID}","messageType":"register","key":"${padded}"}`;
    assert.deepEqual(step(s, raw, 0, LIMITS), {
      do: "register",
      channelID: CHID,
      channel: CHANNEL,
      raw,
      key: KEY.toString("base64url"),
    });
  });

  it("closes on a key that is not an uncompressed P-256 point", () => {
    const s = firefox();
    const st = step(s, `{"messageType":"register","channelID":"${CHID}","key":"AAAA"}`, 0, LIMITS);
    assert.equal(st.do, "close");
    assert.equal(s.phase, Phase.Closed);
    assert.equal(canonicalServerKey(Buffer.alloc(65, 2).toString("base64url")), undefined);
  });

  it("acks by message id with a code; skips malformed entries", () => {
    const s = firefox();
    const st = step(
      s,
      JSON.stringify({
        messageType: "ack",
        updates: [
          { channelID: CHID, version: MSG, code: 100 },
          { channelID: CHID, version: MSG.toUpperCase(), code: 101 },
          { channelID: CHID, version: 5 },
          { channelID: "nope", version: MSG },
        ],
      }),
      0,
      LIMITS,
    );
    assert.deepEqual(st, {
      do: "webpushAck",
      acks: [
        { channel: CHANNEL, id: MSG, code: 100 },
        { channel: CHANNEL, id: MSG, code: 101 },
      ],
    });
  });

  it("nack, broadcast_subscribe and unknown types never close a Web Push session", () => {
    const s = firefox();
    assert.deepEqual(step(s, `{"messageType":"nack","version":"${MSG}","code":301}`, 0, LIMITS), {
      do: "nack",
      code: 301,
    });
    assert.deepEqual(
      step(s, '{"messageType":"broadcast_subscribe","broadcasts":{"x":"v1"}}', 0, LIMITS),
      { do: "reply", text: BROADCAST_REPLY },
    );
    assert.deepEqual(step(s, '{"messageType":"from_the_future"}', 0, LIMITS), { do: "none" });
    assert.deepEqual(step(s, '{"messageType":"ack","updates":"x"}', 0, LIMITS), { do: "none" });
    assert.equal(s.phase, Phase.Ready);
  });

  it("a SimplePush session still closes (401) on nack, broadcast_subscribe and unknown types", () => {
    for (const frame of [
      `{"messageType":"nack","version":"${MSG}","code":301}`,
      '{"messageType":"broadcast_subscribe","broadcasts":{}}',
      '{"messageType":"from_the_future"}',
    ]) {
      const s = simplePush();
      const st = step(s, frame, 0, LIMITS);
      assert.equal(st.do, "close", frame);
      assert.equal(st.do === "close" && st.code, Close.normal);
      assert.match(st.do === "close" ? st.text! : "", /"status":401/);
    }
  });
});

describe("Web Push notification frame", () => {
  it("carries data and headers only with a payload", () => {
    assert.deepEqual(
      JSON.parse(
        webpushNotification({
          channelID: CHID,
          id: MSG,
          ttlSeconds: 60,
          data: "AbC_-",
          headers: { encoding: "aesgcm", crypto_key: "dh=BX", encryption: "salt=Y" },
        }),
      ),
      {
        messageType: "notification",
        channelID: CHID,
        version: MSG,
        ttl: 60,
        data: "AbC_-",
        headers: { encoding: "aesgcm", crypto_key: "dh=BX", encryption: "salt=Y" },
      },
    );
    assert.deepEqual(
      JSON.parse(
        webpushNotification({
          channelID: CHID,
          id: MSG,
          ttlSeconds: 0,
          data: undefined,
          headers: undefined,
        }),
      ),
      { messageType: "notification", channelID: CHID, version: MSG, ttl: 0 },
    );
  });
});
