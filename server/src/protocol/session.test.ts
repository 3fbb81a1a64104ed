import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Close } from "./errors.js";
import { helloReply } from "./replies.js";
import {
  helloDone,
  type Limits,
  newSession,
  Phase,
  type Session,
  type Step,
  step,
} from "./session.js";

const LIMITS: Limits = { pingMinIntervalMs: 1000, pingBurst: 3 };
const UAID = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
const UAID_DASHED = "9f8e7d6c-5b4a-4938-2716-a5b4c3d2e1f0";
const OTHER = "11111111222233334444555555555555";
const CHID = "0f1e2d3c4b5a46978877665544332211";
const CHID_DASHED_UPPER = "0F1E2D3C-4B5A-4697-8877-665544332211";

const PONG: Step = { do: "reply", text: "{}" };
const NONE: Step = { do: "none" };
const GARBAGE: Step = {
  do: "close",
  text: undefined,
  code: Close.unsupported,
  error: "MALFORMED_FRAME",
};

function fresh(): Session {
  return newSession(0, LIMITS.pingBurst);
}

/** A session after a successful hello (the shell has answered 200). */
function ready(uaid = UAID): Session {
  const s = fresh();
  const st = step(s, `{"messageType":"hello","uaid":"${uaid}","channelIDs":[]}`, 0, LIMITS);
  assert.equal(st.do, "hello");
  helloDone(s, uaid);
  return s;
}

/** A session whose first hello is still being resolved by the shell. */
function helloPending(): Session {
  const s = fresh();
  assert.equal(step(s, '{"messageType":"hello","channelIDs":[]}', 0, LIMITS).do, "hello");
  assert.equal(s.phase, Phase.Hello);
  return s;
}

function invalidCommand(raw: string): Step {
  return {
    do: "close",
    text: `${raw.slice(0, raw.lastIndexOf("}"))},"status":401,"error":"Invalid Command"}`,
    code: Close.normal,
    error: "INVALID_COMMAND",
  };
}

function unavailable(raw: string): Step {
  return {
    do: "close",
    text: `${raw.slice(0, raw.lastIndexOf("}"))},"status":503,"error":"Service Unavailable"}`,
    code: Close.normal,
    error: "BAD_UAID",
  };
}

/** Runs `text` and asserts the error close, and that the session ignores everything after. */
function assertClosedWith(s: Session, text: string, expected: Step): void {
  assert.deepEqual(step(s, text, 0, LIMITS), expected);
  assert.equal(s.phase, Phase.Closed);
  assert.deepEqual(step(s, "{}", 0, LIMITS), NONE);
}

const phases: [string, () => Session][] = [
  ["before hello", fresh],
  ["while hello resolves", helloPending],
  ["after hello", () => ready()],
];

describe("ping", () => {
  for (const [when, make] of phases) {
    for (const text of [
      "{}",
      "",
      "{ }",
      " {}\n",
      "{\r\n\t}",
      '{"messageType":"ping"}',
      '{"messageType":"PING"}',
      '{"MessageType":"Ping"}',
      '{"messagetype":"pInG"}',
      '{"messageType":"ping","uaid":"x","extra":[1,2]}',
    ]) {
      it(`${JSON.stringify(text)} ${when} → exactly {} and the socket stays open`, () => {
        const s = make();
        const phase = s.phase;
        assert.deepEqual(step(s, text, 0, LIMITS), PONG);
        assert.equal(s.phase, phase);
      });
    }
  }

  it("a ping key with surrounding whitespace does not match: error, not pong", () => {
    const raw = '{" messageType":"ping"}';
    assertClosedWith(fresh(), raw, invalidCommand(raw));
    const raw2 = '{"messageType ":"ping"}';
    assertClosedWith(ready(), raw2, invalidCommand(raw2));
  });

  it("a ping type with surrounding whitespace is an unknown type", () => {
    const raw = '{"messageType":"ping "}';
    assertClosedWith(fresh(), raw, invalidCommand(raw));
  });
});

describe("garbage frames: close, no reply", () => {
  const garbage = [
    "not json",
    "{",
    "}",
    "{}}",
    "{}{}",
    '{"messageType":"hello",}',
    "{'messageType':'hello'}",
    '{messageType:"hello"}',
    "[]",
    "[{}]",
    '[{"messageType":"ping"}]',
    "42",
    "-1.5",
    "18446744073709551615",
    '"hello"',
    '""',
    "null",
    "true",
    "false",
    " ",
    "\n",
    "\uFEFF{}",
    "{18446744073709551615:1}",
    '{"messageType":"hello","channelIDs":[],18446744073709551615:1}',
    '{"messageType":"ack","updates":[{"version":012345678901234567890}]}',
    '{"messageType":"ack","updates":[{"version":01}]}',
  ];
  for (const [when, make] of phases) {
    for (const text of garbage) {
      it(`${JSON.stringify(text)} ${when}`, () => {
        const s = make();
        assert.deepEqual(step(s, text, 0, LIMITS), GARBAGE);
        assert.equal(s.phase, Phase.Closed);
      });
    }
  }
});

describe("unknown or invalid messageType: error reply echoing the object, then close", () => {
  it("echoes the docs/protocol.md example exactly", () => {
    const raw = `{"messageType":"foo","uaid":"${UAID}","channelIDs":[]}`;
    assert.deepEqual(step(fresh(), raw, 0, LIMITS), {
      do: "close",
      text: `{"messageType":"foo","uaid":"${UAID}","channelIDs":[],"status":401,"error":"Invalid Command"}`,
      code: Close.normal,
      error: "INVALID_COMMAND",
    });
  });

  const invalid = [
    '{"messageType":"foo"}',
    '{"messageType":"notification","updates":[]}',
    '{"messageType":""}',
    '{"messageType":" hello","channelIDs":[]}',
    '{"messageType":"hello\\u0000","channelIDs":[]}',
    '{"messageType":5}',
    '{"messageType":18446744073709551615}',
    '{"messageType":null}',
    '{"messageType":true}',
    '{"messageType":["hello"],"channelIDs":[]}',
    '{"messageType":{"type":"hello"}}',
    '{"uaid":"","channelIDs":[]}',
    '{" messageType":"hello","channelIDs":[]}',
    '{"messageType ":"hello","channelIDs":[]}',
    '{"message_type":"hello","channelIDs":[]}',
    '{"type":"hello","channelIDs":[]}',
  ];
  for (const [when, make] of phases) {
    for (const raw of invalid) {
      it(`${raw} ${when}`, () => {
        assertClosedWith(make(), raw, invalidCommand(raw));
      });
    }
  }

  it("echoes big integers and odd spacing in the client's object exactly", () => {
    const raw = '{ "messageType" : "foo", "n" : 18446744073709551615 , "m":[ 9007199254740993 ] }';
    const st = step(fresh(), raw, 0, LIMITS);
    assert.equal(st.do, "close");
    assert.equal(
      (st as { text: string }).text,
      '{ "messageType" : "foo", "n" : 18446744073709551615 , "m":[ 9007199254740993 ],"status":401,"error":"Invalid Command"}',
    );
  });
});

describe("messageType and keys are case-insensitive", () => {
  it("hello in any case, keys in any case", () => {
    for (const raw of [
      `{"messageType":"HELLO","uaid":"${UAID}","channelIDs":[]}`,
      `{"MESSAGETYPE":"Hello","UAID":"${UAID}","CHANNELIDS":[]}`,
      `{"messagetype":"hElLo","Uaid":"${UAID}","ChannelIds":[]}`,
    ]) {
      const st = step(fresh(), raw, 0, LIMITS);
      assert.deepEqual(st, { do: "hello", requested: UAID, echo: UAID, channelCount: 0, raw });
    }
  });

  it("register, unregister and ack in any case", () => {
    const reg = `{"MessageType":"REGISTER","ChannelID":"${CHID}"}`;
    assert.deepEqual(step(ready(), reg, 0, LIMITS), {
      do: "register",
      channelID: CHID,
      channel: CHID,
      raw: reg,
    });
    const unreg = `{"messagetype":"UnRegister","CHANNELID":"${CHID}"}`;
    assert.deepEqual(step(ready(), unreg, 0, LIMITS), {
      do: "unregister",
      channelID: CHID,
      channel: CHID,
      raw: unreg,
    });
    const ack = `{"MESSAGETYPE":"Ack","Updates":[{"ChannelId":"${CHID}","VERSION":7}]}`;
    assert.deepEqual(step(ready(), ack, 0, LIMITS), {
      do: "ack",
      updates: [{ channel: CHID, version: 7n }],
    });
    assert.deepEqual(step(ready(), '{"messageType":"Purge"}', 0, LIMITS), PONG);
  });

  it("keys with surrounding whitespace do not match", () => {
    const raw = `{"messageType":"hello","uaid":"${UAID}"," channelIDs":[]}`;
    assertClosedWith(fresh(), raw, invalidCommand(raw));
    const raw2 = `{"messageType":"register","channelID ":"${CHID}"}`;
    assertClosedWith(ready(), raw2, invalidCommand(raw2));
    // A whitespace-padded uaid key is ignored: the hello counts as having no uaid.
    const raw3 = `{"messageType":"hello","uaid ":"${UAID}","channelIDs":[]}`;
    assert.deepEqual(step(fresh(), raw3, 0, LIMITS), {
      do: "hello",
      requested: undefined,
      echo: undefined,
      channelCount: 0,
      raw: raw3,
    });
  });
});

describe("commands before a successful hello: error reply, then close", () => {
  const cmds = [
    `{"messageType":"register","channelID":"${CHID}"}`,
    `{"messageType":"unregister","channelID":"${CHID}"}`,
    `{"messageType":"ack","updates":[{"channelID":"${CHID}","version":18446744073709551615}]}`,
    `{"messageType":"ack","updates":[]}`,
  ];
  for (const [when, make] of phases.slice(0, 2)) {
    for (const raw of cmds) {
      it(`${raw} ${when}`, () => {
        assertClosedWith(make(), raw, invalidCommand(raw));
      });
    }
  }

  it("ack before hello echoes its updates with every digit", () => {
    const raw = `{"messageType":"ack","updates":[{"channelID":"${CHID}","version":18446744073709551615},{"channelID":"${CHID}","version":"12"}]}`;
    const st = step(fresh(), raw, 0, LIMITS) as { do: string; text: string };
    assert.equal(st.do, "close");
    assert.ok(
      st.text.includes(
        `"updates":[{"channelID":"${CHID}","version":18446744073709551615},{"channelID":"${CHID}","version":"12"}]`,
      ),
      st.text,
    );
  });
});

describe("purge", () => {
  for (const [when, make] of phases) {
    it(`replies {} ${when} and keeps the socket`, () => {
      const s = make();
      const phase = s.phase;
      assert.deepEqual(step(s, '{"messageType":"purge"}', 0, LIMITS), PONG);
      assert.deepEqual(step(s, '{"messageType":"PURGE","anything":[1]}', 0, LIMITS), PONG);
      assert.equal(s.phase, phase);
    });
  }
});

describe("hello", () => {
  it("no uaid → hello request that mints; phase becomes Hello", () => {
    const raw = '{"messageType":"hello","channelIDs":[]}';
    const s = fresh();
    assert.deepEqual(step(s, raw, 0, LIMITS), {
      do: "hello",
      requested: undefined,
      echo: undefined,
      channelCount: 0,
      raw,
    });
    assert.equal(s.phase, Phase.Hello);
  });

  it('uaid "" → mint', () => {
    const raw = '{"messageType":"hello","uaid":"","channelIDs":["a"]}';
    assert.deepEqual(step(fresh(), raw, 0, LIMITS), {
      do: "hello",
      requested: undefined,
      echo: undefined,
      channelCount: 1,
      raw,
    });
  });

  it("uaid null → treated as empty: mint", () => {
    const st = step(fresh(), '{"messageType":"hello","uaid":null,"channelIDs":[]}', 0, LIMITS);
    assert.equal(st.do, "hello");
    assert.equal((st as { requested: unknown }).requested, undefined);
  });

  for (const [name, uaid] of [
    ["32 lower-case hex", UAID],
    ["32 upper-case hex", UAID.toUpperCase()],
    ["32 mixed-case hex", "9F8e7D6c5B4a49382716A5b4C3d2E1f0"],
    ["36 dashed lower-case", UAID_DASHED],
    ["36 dashed upper-case", UAID_DASHED.toUpperCase()],
  ] as const) {
    it(`valid uaid, ${name} → requested normalised, echo exactly as sent`, () => {
      const raw = `{"messageType":"hello","uaid":"${uaid}","channelIDs":[]}`;
      assert.deepEqual(step(fresh(), raw, 0, LIMITS), {
        do: "hello",
        requested: UAID,
        echo: uaid,
        channelCount: 0,
        raw,
      });
    });
  }

  for (const [name, uaid] of [
    ["too short", '"abc"'],
    ["31 hex", `"${UAID.slice(1)}"`],
    ["33 hex", `"${UAID}0"`],
    ["34 hex", `"${UAID}00"`],
    ["non-hex letter", `"${UAID.slice(0, 31)}z"`],
    ["dashes in the wrong places", '"9f8e7d6c5-b4a-4938-2716-a5b4c3d2e1f0"'],
    ["braced", `"{${UAID_DASHED}}"`],
    ["padded with spaces", `" ${UAID} "`],
    ["a number", "12345"],
    ["a big number", "18446744073709551615"],
    ["true", "true"],
    ["an object", `{"uaid":"${UAID}"}`],
    ["an array", `["${UAID}"]`],
  ] as const) {
    it(`invalid uaid (${name}) → 503 echo, close`, () => {
      const raw = `{"messageType":"hello","uaid":${uaid},"channelIDs":[]}`;
      assertClosedWith(fresh(), raw, unavailable(raw));
    });
  }

  for (const [name, field] of [
    ["missing", ""],
    ["a string", ',"channelIDs":"abc"'],
    ["an object", ',"channelIDs":{}'],
    ["null", ',"channelIDs":null'],
    ["a number", ',"channelIDs":0'],
    ["misspelled", ',"channelID":[]'],
  ] as const) {
    it(`channelIDs ${name} → 401 echo, close`, () => {
      const raw = `{"messageType":"hello","uaid":"${UAID}"${field}}`;
      assertClosedWith(fresh(), raw, invalidCommand(raw));
    });
  }

  it("channelIDs missing is checked before the uaid (401, not 503)", () => {
    const raw = '{"messageType":"hello","uaid":"bogus"}';
    assertClosedWith(fresh(), raw, invalidCommand(raw));
  });

  it("channelIDs contents are not validated; only their number is passed on", () => {
    const raw = `{"messageType":"hello","uaid":"${UAID}","channelIDs":["not-a-uuid",5,null,{},[],"${CHID}"]}`;
    const st = step(fresh(), raw, 0, LIMITS);
    assert.equal(st.do, "hello");
    assert.equal((st as { channelCount: number }).channelCount, 6);
  });

  it("extra request fields are ignored", () => {
    const raw = `{"messageType":"hello","uaid":"${UAID}","channelIDs":[],"connect":{"regid":"x"},"wakeup_hostport":{"ip":"10.0.0.1","port":9},"mobilenetwork":{"mcc":"214","mnc":"07"},"status":5}`;
    assert.deepEqual(step(fresh(), raw, 0, LIMITS), {
      do: "hello",
      requested: UAID,
      echo: UAID,
      channelCount: 0,
      raw,
    });
  });

  it("a second hello while the first is still resolving → 401, close", () => {
    const raw = `{"messageType":"hello","uaid":"${UAID}","channelIDs":[]}`;
    assertClosedWith(helloPending(), raw, invalidCommand(raw));
  });

  describe("second hello on a ready socket", () => {
    for (const [name, uaidField] of [
      ["same uaid", `"uaid":"${UAID}",`],
      ["same uaid, dashed upper-case", `"uaid":"${UAID_DASHED.toUpperCase()}",`],
      ["empty uaid", '"uaid":"",'],
      ["no uaid", ""],
    ] as const) {
      it(`${name} → 200 with the current uaid, socket stays open`, () => {
        const s = ready();
        const raw = `{"messageType":"hello",${uaidField}"channelIDs":["${CHID}"]}`;
        // The reply echoes the client's own spelling of the UAID, as the first hello does.
        const echoed = name === "same uaid, dashed upper-case" ? UAID_DASHED.toUpperCase() : UAID;
        assert.deepEqual(step(s, raw, 5, LIMITS), { do: "reply", text: helloReply(echoed) });
        assert.equal(s.phase, Phase.Ready);
        assert.equal(s.uaid, UAID);
        assert.equal(
          step(s, `{"messageType":"register","channelID":"${CHID}"}`, 6, LIMITS).do,
          "register",
        );
      });
    }

    it("reply is the exact hello 200 frame", () => {
      const st = step(
        ready(),
        `{"messageType":"hello","uaid":"${UAID}","channelIDs":[]}`,
        0,
        LIMITS,
      );
      assert.deepEqual(st, {
        do: "reply",
        text: `{"messageType":"hello","uaid":"${UAID}","status":200}`,
      });
    });

    it("different uaid → 503 echo, close", () => {
      const raw = `{"messageType":"hello","uaid":"${OTHER}","channelIDs":[]}`;
      assertClosedWith(ready(), raw, unavailable(raw));
    });

    it("invalid uaid → 503 echo, close", () => {
      const raw = '{"messageType":"hello","uaid":"nope","channelIDs":[]}';
      assertClosedWith(ready(), raw, unavailable(raw));
    });

    it("missing channelIDs → 401 echo, close", () => {
      const raw = `{"messageType":"hello","uaid":"${UAID}"}`;
      assertClosedWith(ready(), raw, invalidCommand(raw));
    });
  });
});

describe("register", () => {
  for (const [name, chid] of [
    ["32 lower-case hex", CHID],
    ["32 upper-case hex", CHID.toUpperCase()],
    ["36 dashed upper-case", CHID_DASHED_UPPER],
    ["36 dashed lower-case", CHID_DASHED_UPPER.toLowerCase()],
  ] as const) {
    it(`channelID ${name} → register request (as sent + normalised)`, () => {
      const raw = `{"messageType":"register","channelID":"${chid}"}`;
      const s = ready();
      assert.deepEqual(step(s, raw, 0, LIMITS), {
        do: "register",
        channelID: chid,
        channel: CHID,
        raw,
      });
      assert.equal(s.phase, Phase.Ready);
    });
  }

  for (const [name, field] of [
    ["empty", ',"channelID":""'],
    ["missing", ""],
    ["34 hex", `,"channelID":"${CHID}ab"`],
    ["31 hex", `,"channelID":"${CHID.slice(1)}"`],
    ["not hex", ',"channelID":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"'],
    ["dashes misplaced", ',"channelID":"0f1e2d3c4-b5a-4697-8877-665544332211"'],
    ["a number", ',"channelID":12345'],
    ["a big number", ',"channelID":18446744073709551615'],
    ["null", ',"channelID":null'],
    ["an array", `,"channelID":["${CHID}"]`],
    ["an object", `,"channelID":{"id":"${CHID}"}`],
    ["a key with whitespace", `," channelID":"${CHID}"`],
    ["plural key", `,"channelIDs":["${CHID}"]`],
  ] as const) {
    it(`channelID ${name} → 401 echo, close`, () => {
      const raw = `{"messageType":"register"${field}}`;
      assertClosedWith(ready(), raw, invalidCommand(raw));
    });
  }
});

describe("unregister", () => {
  it("a UUID channelID → request with the normalised channel", () => {
    const raw = `{"messageType":"unregister","channelID":"${CHID_DASHED_UPPER}"}`;
    const s = ready();
    assert.deepEqual(step(s, raw, 0, LIMITS), {
      do: "unregister",
      channelID: CHID_DASHED_UPPER,
      channel: CHID,
      raw,
    });
    assert.equal(s.phase, Phase.Ready);
  });

  it("any other non-empty string → request with no channel (still answered 200 by the shell)", () => {
    for (const chid of ["x", "not-a-uuid", `${CHID}ab`, " "]) {
      const raw = `{"messageType":"unregister","channelID":${JSON.stringify(chid)}}`;
      assert.deepEqual(step(ready(), raw, 0, LIMITS), {
        do: "unregister",
        channelID: chid,
        channel: undefined,
        raw,
      });
    }
  });

  for (const [name, field] of [
    ["empty", ',"channelID":""'],
    ["missing", ""],
    ["a number", ',"channelID":5'],
    ["null", ',"channelID":null'],
    ["an array", `,"channelID":["${CHID}"]`],
    ["true", ',"channelID":true'],
  ] as const) {
    it(`channelID ${name} → 401 echo, close`, () => {
      const raw = `{"messageType":"unregister"${field}}`;
      assertClosedWith(ready(), raw, invalidCommand(raw));
    });
  }
});

describe("ack", () => {
  function ackOf(updates: string): Step {
    return step(ready(), `{"messageType":"ack","updates":${updates}}`, 0, LIMITS);
  }

  it("acks a numeric version and sends no reply", () => {
    const s = ready();
    assert.deepEqual(
      step(s, `{"messageType":"ack","updates":[{"channelID":"${CHID}","version":12}]}`, 0, LIMITS),
      {
        do: "ack",
        updates: [{ channel: CHID, version: 12n }],
      },
    );
    assert.equal(s.phase, Phase.Ready);
  });

  it("acks a string version", () => {
    assert.deepEqual(ackOf(`[{"channelID":"${CHID}","version":"12"}]`), {
      do: "ack",
      updates: [{ channel: CHID, version: 12n }],
    });
  });

  it("acks 18446744073709551615 exactly, as a number or as a string", () => {
    for (const v of ["18446744073709551615", '"18446744073709551615"']) {
      assert.deepEqual(ackOf(`[{"channelID":"${CHID}","version":${v}}]`), {
        do: "ack",
        updates: [{ channel: CHID, version: 18446744073709551615n }],
      });
    }
  });

  it("acks versions just past 2^53 exactly", () => {
    assert.deepEqual(
      ackOf(
        `[{"channelID":"${CHID}","version":9007199254740993},{"channelID":"${CHID}","version":9007199254740992}]`,
      ),
      {
        do: "ack",
        updates: [
          { channel: CHID, version: 9007199254740993n },
          { channel: CHID, version: 9007199254740992n },
        ],
      },
    );
  });

  it("acks 0", () => {
    assert.deepEqual(ackOf(`[{"channelID":"${CHID}","version":0}]`), {
      do: "ack",
      updates: [{ channel: CHID, version: 0n }],
    });
  });

  it("normalises the channelID and matches update keys case-insensitively", () => {
    assert.deepEqual(ackOf(`[{"CHANNELID":"${CHID_DASHED_UPPER}","Version":3}]`), {
      do: "ack",
      updates: [{ channel: CHID, version: 3n }],
    });
  });

  for (const v of [
    "-1",
    "1.5",
    "1e400",
    "18446744073709551616",
    "-18446744073709551615",
    '"18446744073709551616"',
    '"abc"',
    '""',
    '"-5"',
    '"1.0"',
    '" 12"',
    "null",
    "true",
    "[12]",
    '{"v":12}',
  ]) {
    it(`version ${v} acks nothing (no reply, socket stays open)`, () => {
      const s = ready();
      const raw = `{"messageType":"ack","updates":[{"channelID":"${CHID}","version":${v}}]}`;
      assert.deepEqual(step(s, raw, 0, LIMITS), NONE);
      assert.equal(s.phase, Phase.Ready);
    });
  }

  it("a missing version acks nothing", () => {
    assert.deepEqual(ackOf(`[{"channelID":"${CHID}"}]`), NONE);
  });

  it("an unparseable entry does not stop the others", () => {
    const other = "a".repeat(32);
    assert.deepEqual(
      ackOf(
        `[{"channelID":"${CHID}","version":"x"},5,null,"s",[],{"channelID":"${other}","version":18446744073709551615}]`,
      ),
      { do: "ack", updates: [{ channel: other, version: 18446744073709551615n }] },
    );
  });

  it("entries whose channelID is not a UUID ack nothing", () => {
    assert.deepEqual(
      ackOf('[{"channelID":"nope","version":1},{"channelID":5,"version":1},{"version":1}]'),
      NONE,
    );
  });

  it("an empty update list is not an error", () => {
    const s = ready();
    assert.deepEqual(step(s, '{"messageType":"ack","updates":[]}', 0, LIMITS), NONE);
    assert.equal(s.phase, Phase.Ready);
  });

  for (const [name, field] of [
    ["missing", ""],
    ["an object", `,"updates":{"channelID":"${CHID}","version":1}`],
    ["a string", ',"updates":"x"'],
    ["a number", ',"updates":18446744073709551615'],
    ["null", ',"updates":null'],
  ] as const) {
    it(`updates ${name} → 401 echo, close`, () => {
      const raw = `{"messageType":"ack"${field}}`;
      assertClosedWith(ready(), raw, invalidCommand(raw));
    });
  }
});

describe("ping flood (token bucket)", () => {
  const FLOOD: Step = {
    do: "close",
    text: '{"status":401,"error":"Invalid Command"}',
    code: Close.pingFlood,
    error: "PING_FLOOD",
  };

  it("allows pingBurst pings back to back, then closes with 4774", () => {
    const s = fresh();
    for (let i = 0; i < LIMITS.pingBurst; i++) assert.deepEqual(step(s, "{}", 0, LIMITS), PONG);
    assert.deepEqual(step(s, "{}", 0, LIMITS), FLOOD);
    assert.equal(s.phase, Phase.Closed);
    assert.deepEqual(step(s, "{}", 60_000, LIMITS), NONE);
  });

  it("the flood reply for an explicit ping echoes it", () => {
    const s = ready();
    for (let i = 0; i < LIMITS.pingBurst; i++) step(s, '{"messageType":"ping"}', 0, LIMITS);
    assert.deepEqual(step(s, '{"messageType":"Ping"}', 10, LIMITS), {
      do: "close",
      text: '{"messageType":"Ping","status":401,"error":"Invalid Command"}',
      code: Close.pingFlood,
      error: "PING_FLOOD",
    });
  });

  it("empty frames, {} and explicit pings share one bucket", () => {
    const s = fresh();
    assert.deepEqual(step(s, "", 0, LIMITS), PONG);
    assert.deepEqual(step(s, "{ }", 0, LIMITS), PONG);
    assert.deepEqual(step(s, '{"messageType":"ping"}', 0, LIMITS), PONG);
    assert.equal((step(s, "", 0, LIMITS) as { code?: number }).code, Close.pingFlood);
  });

  it("earns one ping per pingMinIntervalMs", () => {
    const s = fresh();
    for (let i = 0; i < LIMITS.pingBurst; i++) step(s, "{}", 0, LIMITS);
    assert.deepEqual(step(s, "{}", 1000, LIMITS), PONG);
    assert.deepEqual(step(s, "{}", 1999, LIMITS), FLOOD);
  });

  it("one ping short of the interval is still a flood once the burst is spent", () => {
    const s = fresh();
    for (let i = 0; i < LIMITS.pingBurst; i++) step(s, "{}", 0, LIMITS);
    assert.deepEqual(step(s, "{}", 999, LIMITS), FLOOD);
  });

  it("pinging every pingMinIntervalMs forever is never a flood", () => {
    const s = ready();
    for (let t = 0; t < 1000 * 10_000; t += 1000) assert.deepEqual(step(s, "{}", t, LIMITS), PONG);
  });

  it("pinging a little faster than the interval is caught after the burst", () => {
    const s = ready();
    let t = 0;
    let pongs = 0;
    for (;;) {
      const st = step(s, "{}", t, LIMITS);
      if (st.do !== "reply") {
        assert.deepEqual(st, FLOOD);
        break;
      }
      pongs++;
      t += 900;
    }
    // 3 back to back plus one per second earned over ~10 pings at 0.9 s.
    assert.ok(pongs > LIMITS.pingBurst && pongs < 40, String(pongs));
  });

  it("a long idle period refills the bucket only up to pingBurst", () => {
    const s = fresh();
    const t = 3_600_000;
    for (let i = 0; i < LIMITS.pingBurst; i++) assert.deepEqual(step(s, "{}", t, LIMITS), PONG);
    assert.deepEqual(step(s, "{}", t, LIMITS), FLOOD);
  });

  it("a clock that goes backwards grants nothing", () => {
    const s = newSession(10_000, LIMITS.pingBurst);
    for (let i = 0; i < LIMITS.pingBurst; i++) step(s, "{}", 10_000, LIMITS);
    assert.deepEqual(step(s, "{}", 0, LIMITS), FLOOD);
  });

  it("pingMinIntervalMs 0 disables the limit", () => {
    const s = fresh();
    const off = { pingMinIntervalMs: 0, pingBurst: 1 };
    for (let i = 0; i < 10_000; i++) assert.deepEqual(step(s, "{}", 0, off), PONG);
  });

  it("purge and a repeated hello share the ping bucket; other commands do not use it", () => {
    for (const control of [
      '{"messageType":"purge"}',
      `{"messageType":"hello","uaid":"","channelIDs":[]}`,
    ]) {
      const s = ready();
      for (let i = 0; i < 50; i++) {
        assert.deepEqual(step(s, `{"messageType":"ack","updates":[]}`, 0, LIMITS), NONE);
      }
      for (let i = 0; i < LIMITS.pingBurst; i++) {
        const st = step(s, i % 2 === 0 ? control : "{}", 0, LIMITS);
        assert.equal(st.do, "reply", control);
      }
      const flood = step(s, control, 0, LIMITS);
      assert.equal(flood.do, "close");
      assert.equal((flood as { code: number }).code, Close.pingFlood);
    }
  });
});

describe("a closed session ignores everything", () => {
  const frames = [
    "{}",
    "",
    '{"messageType":"ping"}',
    '{"messageType":"purge"}',
    `{"messageType":"hello","uaid":"${UAID}","channelIDs":[]}`,
    `{"messageType":"register","channelID":"${CHID}"}`,
    `{"messageType":"ack","updates":[{"channelID":"${CHID}","version":1}]}`,
    '{"messageType":"foo"}',
    "garbage",
  ];
  for (const [name, closing] of [
    ["garbage", "[]"],
    ["an error reply", '{"messageType":"foo"}'],
    ["a 503", '{"messageType":"hello","uaid":"x","channelIDs":[]}'],
  ] as const) {
    it(`after ${name}`, () => {
      const s = ready();
      assert.equal(step(s, closing, 0, LIMITS).do, "close");
      for (const f of frames) assert.deepEqual(step(s, f, 0, LIMITS), NONE, f);
      assert.equal(s.phase, Phase.Closed);
    });
  }
});
