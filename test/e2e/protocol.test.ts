/**
 * The WebSocket protocol (docs/protocol.md) against a real node process, over real sockets:
 * subprotocol, pings, malformed frames, error replies, hello UAID rules, register and
 * unregister, frame sizes and the ping-flood limit.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import {
  connect,
  disconnectAll,
  helloClient,
  isPong,
  isType,
  type Message,
  type PushClient,
  raw,
} from "../support/client.js";
import { channelID, form, get, put } from "../support/http.js";
import { type PushNode, startNode } from "../support/node.js";

const T = { timeout: 30_000 };
const HEX32 = /^[0-9a-f]{32}$/;

let node: PushNode;
before(async () => {
  // No ping limit here (barriers are pings); the flood test starts its own node.
  node = await startNode({ env: { EDITION_PING_MIN_INTERVAL_MS: "0" } });
});
after(() => node?.stop());
afterEach(disconnectAll);

/** Expects the error reply of docs/protocol.md (the client's object + status + error), then a close. */
async function expectErrorReply(c: PushClient, sent: object, status: 401 | 503): Promise<void> {
  const reply = await c.next();
  const error = status === 401 ? "Invalid Command" : "Service Unavailable";
  assert.deepEqual(reply, { ...sent, status, error }, `reply was ${raw(reply)}`);
  await c.closed();
  assert.deepEqual(c.inbox, [], "nothing after the error reply");
}

/** Sends `frame` on a fresh socket (after a hello when `helloFirst`), expects the error reply. */
async function errorFor(frame: object, status: 401 | 503, helloFirst: boolean): Promise<void> {
  const c = helloFirst ? await helloClient(node.wsUrl) : await connect(node.wsUrl);
  c.send(frame);
  await expectErrorReply(c, frame, status);
}

/** A closed socket that never got a reply. */
async function expectSilentClose(c: PushClient): Promise<void> {
  await c.closed();
  assert.deepEqual(c.inbox.map(raw), [], "no reply before the close");
}

async function nodeStillServes(): Promise<void> {
  assert.equal((await get(`${node.adminUrl}/health`)).status, 200);
  const c = await helloClient(node.wsUrl);
  await c.barrier();
  await c.close();
}

describe("transport", () => {
  test(
    "echoes the push-notification subprotocol when offered and does not require it",
    T,
    async () => {
      const strict = await connect(node.wsUrl, { protocols: ["push-notification"] });
      const among = await connect(node.wsUrl, { protocols: ["x-other", "push-notification"] });
      const none = await connect(node.wsUrl);
      assert.equal(strict.protocol, "push-notification");
      assert.equal(among.protocol, "push-notification");
      assert.equal(none.protocol, "");
      for (const c of [strict, among, none]) {
        const reply = await c.hello();
        assert.match(reply.uaid as string, HEX32);
      }
    },
  );

  test("accepts a connection on any path", T, async () => {
    const c = await connect(`${node.wsUrl}some/path?x=1`);
    await c.hello();
  });

  test("a 256 KiB frame is accepted", T, async () => {
    const c = await connect(node.wsUrl);
    const padding = "x".repeat(256 * 1024);
    const reply = await c.hello(undefined, [], { padding });
    assert.match(reply.uaid as string, HEX32);
    assert.equal(reply.padding, undefined, "extra fields are ignored, not echoed");
    // Big register frames work too, and the socket is fully usable afterwards.
    c.send({ messageType: "register", channelID: channelID(), padding });
    const reg = await c.next(isType("register"));
    assert.equal(reg.status, 200);
  });

  test("a much bigger frame closes that socket and the node keeps serving", T, async () => {
    const bystander = await helloClient(node.wsUrl);
    const c = await connect(node.wsUrl);
    await c.hello();
    c.send({
      messageType: "hello",
      uaid: "",
      channelIDs: [],
      padding: "x".repeat(8 * 1024 * 1024),
    });
    const closed = await c.closed();
    assert.notEqual(closed.code, 1000, "not a normal close");
    assert.deepEqual(c.inbox.map(raw), []);
    await bystander.barrier();
    await nodeStillServes();
  });
});

describe("pings", () => {
  const forms: [string, string][] = [
    ["{}", "{}"],
    ["an empty frame", ""],
    ['{"messageType":"ping"}', '{"messageType":"ping"}'],
    ['{"messageType":"PING"}', '{"messageType":"PING"}'],
    ["{ } with spaces", " { } "],
  ];
  for (const [name, frame] of forms) {
    test(`${name} is answered with exactly {} before and after hello`, T, async () => {
      const c = await connect(node.wsUrl);
      c.send(frame);
      assert.equal(raw(await c.next()), "{}");
      await c.hello();
      c.send(frame);
      assert.equal(raw(await c.next()), "{}");
      c.send(frame);
      assert.equal(raw(await c.next()), "{}");
    });
  }

  test("purge is answered with {} before and after hello", T, async () => {
    const c = await connect(node.wsUrl);
    c.send({ messageType: "purge" });
    assert.equal(raw(await c.next()), "{}");
    await c.hello();
    c.send({ messageType: "Purge" });
    assert.equal(raw(await c.next()), "{}");
  });
});

describe("malformed frames", () => {
  const garbage = ["{not json", "[1,2]", '"hello"', "42", "null", "true", '{"a":1', "\u0000"];
  for (const frame of garbage) {
    for (const helloFirst of [false, true]) {
      test(
        `${JSON.stringify(frame)} ${helloFirst ? "after" : "before"} hello: closed, no reply`,
        T,
        async () => {
          const c = await connect(node.wsUrl);
          if (helloFirst) await c.hello();
          c.send(frame);
          await expectSilentClose(c);
        },
      );
    }
  }

  test("a binary frame closes the socket without a reply", T, async () => {
    const before = await connect(node.wsUrl);
    before.sendBinary(Buffer.from("{}"));
    await expectSilentClose(before);
    const helloed = await helloClient(node.wsUrl);
    helloed.sendBinary(Buffer.from('{"messageType":"ping"}'));
    await expectSilentClose(helloed);
    await nodeStillServes();
  });

  test(
    "an unknown messageType gets a 401 echo and a close, before and after hello",
    T,
    async () => {
      const frame = { messageType: "foo", uaid: "abc", channelIDs: [] };
      await errorFor(frame, 401, false);
      await errorFor(frame, 401, true);
    },
  );

  test("the error echo keeps big integers digit for digit", T, async () => {
    const c = await helloClient(node.wsUrl);
    const frame =
      '{"messageType":"foo","updates":[{"version":18446744073709551615}],"n":123456789012345678901234567890}';
    c.send(frame);
    const reply = await c.next();
    assert.match(raw(reply), /"version":18446744073709551615\b/);
    assert.match(raw(reply), /"n":123456789012345678901234567890\b/);
    assert.equal(reply.status, 401);
    await c.closed();
  });

  test("a non-string messageType gets a 401 echo and a close", T, async () => {
    await errorFor({ messageType: 5, channelID: randomUUID() }, 401, true);
    await errorFor({ messageType: ["hello"], uaid: "" }, 401, false);
    await errorFor({ messageType: null, x: 1 }, 401, true);
  });

  test("a key with surrounding whitespace does not match", T, async () => {
    await errorFor({ " messageType": "hello", uaid: "", channelIDs: [] }, 401, false);
    await errorFor({ messageType: "hello", uaid: "", " channelIDs": [] }, 401, false);
  });

  test("messageType and keys match case-insensitively; replies are lower-case", T, async () => {
    const c = await connect(node.wsUrl);
    c.send({ MESSAGETYPE: "Hello", UAID: "", ChannelIds: [] });
    const hello = await c.next();
    assert.equal(hello.messageType, "hello");
    assert.equal(hello.status, 200);
    const ch = channelID();
    c.send({ messagetype: "REGISTER", ChannelId: ch });
    const reg = await c.next();
    assert.equal(reg.messageType, "register");
    assert.equal(reg.status, 200);
    assert.equal(reg.channelID, ch);
    c.send({ MessageType: "UnRegister", CHANNELID: ch });
    const unreg = await c.next();
    assert.deepEqual(unreg, { messageType: "unregister", status: 200, channelID: ch });
  });

  test("commands before hello get a 401 echo and a close", T, async () => {
    await errorFor({ messageType: "register", channelID: randomUUID() }, 401, false);
    await errorFor({ messageType: "unregister", channelID: randomUUID() }, 401, false);
    await errorFor(
      { messageType: "ack", updates: [{ channelID: randomUUID(), version: 3 }] },
      401,
      false,
    );
  });
});

describe("hello", () => {
  test("an empty, absent or null uaid gets a fresh 32 lower-case hex UAID", T, async () => {
    const seen = new Set<string>();
    for (const frame of [
      { messageType: "hello", uaid: "", channelIDs: [] },
      { messageType: "hello", channelIDs: [] },
      { messageType: "hello", uaid: null, channelIDs: [randomUUID()] },
    ]) {
      const c = await connect(node.wsUrl);
      c.send(frame);
      const reply = await c.next();
      assert.equal(reply.messageType, "hello");
      assert.equal(reply.status, 200);
      assert.match(reply.uaid as string, HEX32);
      seen.add(reply.uaid as string);
    }
    assert.equal(seen.size, 3, "every UAID is new");
  });

  test("an unknown UAID with no channels is kept and echoed exactly as sent", T, async () => {
    const dashedUpper = randomUUID().toUpperCase();
    const c = await connect(node.wsUrl);
    c.send({ messageType: "hello", uaid: dashedUpper, channelIDs: [] });
    assert.deepEqual(await c.next(), { messageType: "hello", uaid: dashedUpper, status: 200 });
    const ch = channelID();
    const endpoint = await c.register(ch);
    await c.close();

    // Its normalised spelling is the same UAID: its stored update is flushed to it.
    assert.equal((await put(endpoint, { body: form({ version: 8 }) })).status, 202);
    const normal = dashedUpper.replaceAll("-", "").toLowerCase();
    const again = await connect(node.wsUrl);
    const reply = await again.hello(normal, [ch]);
    assert.equal(reply.uaid, normal);
    const n = await again.notification();
    assert.deepEqual(n.updates, [{ channelID: ch, version: 8 }]);
  });

  test("a uaid that is not a UUID gets a 503 echo and a close", T, async () => {
    const bad: unknown[] = [
      "abc",
      "0123456789abcdef0123456789abcdef01", // 34 hex
      "0123456789abcdef0123456789abcdeg", // 32, not hex
      "01234567-89ab-cdef-0123-456789abcdef0", // 37
      "0123456-789ab-cdef-0123-456789abcdef", // dash misplaced
      "{0123456789abcdef0123456789abcdef}",
      42,
    ];
    for (const uaid of bad) {
      await errorFor({ messageType: "hello", uaid, channelIDs: [] }, 503, false);
    }
  });

  test("channelIDs missing or not an array gets a 401 echo and a close", T, async () => {
    await errorFor({ messageType: "hello", uaid: "" }, 401, false);
    await errorFor({ messageType: "hello", uaid: "", channelIDs: "abc" }, 401, false);
    await errorFor({ messageType: "hello", uaid: "", channelIDs: null }, 401, false);
  });

  test("channelIDs contents are not validated", T, async () => {
    const c = await connect(node.wsUrl);
    const reply = await c.hello(undefined, ["not-a-uuid", 5, null] as unknown as string[]);
    assert.match(reply.uaid as string, HEX32);
  });

  test("an unknown UAID with channels gets a new UAID", T, async () => {
    const asked = randomUUID().replaceAll("-", "");
    const c = await connect(node.wsUrl);
    const reply = await c.hello(asked, [randomUUID()]);
    assert.match(reply.uaid as string, HEX32);
    assert.notEqual(reply.uaid, asked);
  });

  test("a known UAID is kept, with its channels", T, async () => {
    const c = await helloClient(node.wsUrl);
    const uaid = c.uaid!;
    const ch = channelID();
    const endpoint = await c.register(ch);
    await c.close();
    const again = await connect(node.wsUrl);
    assert.equal((await again.hello(uaid, [ch])).uaid, uaid);
    assert.equal((await put(endpoint, { body: form({ version: 1 }) })).status, 200);
    assert.deepEqual((await again.notification()).updates, [{ channelID: ch, version: 1 }]);
  });

  test("extra hello fields are ignored", T, async () => {
    const c = await connect(node.wsUrl);
    const reply = await c.hello(undefined, [], {
      connect: { ip: "10.0.0.1", port: 5000 },
      wakeup_hostport: { ip: "10.0.0.1", port: 5000 },
      mobilenetwork: { mcc: "214", mnc: "07" },
    });
    assert.deepEqual(Object.keys(reply).sort(), ["messageType", "status", "uaid"]);
  });

  test("a second hello: same or empty UAID → 200; a different one → 503 and close", T, async () => {
    const c = await helloClient(node.wsUrl);
    const uaid = c.uaid!;
    for (const again of [uaid, "", uaid.toUpperCase()]) {
      c.send({ messageType: "hello", uaid: again, channelIDs: [] });
      const reply = await c.next();
      assert.equal(reply.status, 200, raw(reply));
      assert.equal((reply.uaid as string).replaceAll("-", "").toLowerCase(), uaid);
    }
    const other = { messageType: "hello", uaid: randomUUID(), channelIDs: [] };
    c.send(other);
    await expectErrorReply(c, other, 503);
  });
});

describe("register", () => {
  test("either UUID form in any case: 200, channelID echoed, a working endpoint", T, async () => {
    const c = await helloClient(node.wsUrl);
    const base = randomUUID();
    const forms = [
      base,
      randomUUID().toUpperCase(),
      randomUUID().replaceAll("-", ""),
      randomUUID().replaceAll("-", "").toUpperCase(),
    ];
    forms.push(base.toUpperCase()); // the same channel in another spelling
    let version = 10;
    for (const ch of forms) {
      c.send({ messageType: "register", channelID: ch });
      const reply = await c.next();
      assert.deepEqual(
        { ...reply, pushEndpoint: undefined },
        {
          messageType: "register",
          uaid: c.uaid,
          status: 200,
          channelID: ch,
          pushEndpoint: undefined,
        },
      );
      const endpoint = reply.pushEndpoint as string;
      assert.ok(endpoint.startsWith(`${node.publicUrl}/update/`), endpoint);
      version++;
      assert.equal((await put(endpoint, { body: form({ version }) })).status, 200);
      const n = await c.notification();
      assert.deepEqual(n.updates, [{ channelID: ch, version }], "the channelID as registered");
    }
  });

  test("an invalid channelID gets a 401 echo and a close", T, async () => {
    const bad: object[] = [
      { messageType: "register", channelID: "" },
      { messageType: "register" },
      { messageType: "register", channelID: "0123456789abcdef0123456789abcdef01" },
      { messageType: "register", channelID: "0123456789abcdef0123456789abcde" },
      { messageType: "register", channelID: "not-a-uuid" },
      { messageType: "register", channelID: 12345 },
      { messageType: "register", channelID: null },
    ];
    for (const frame of bad) await errorFor(frame, 401, true);
  });

  test("registering again is idempotent and every endpoint works", T, async () => {
    const c = await helloClient(node.wsUrl);
    const ch = channelID();
    const first = await c.register(ch);
    const second = await c.register(ch);
    assert.equal((await put(second, { body: form({ version: 2 }) })).status, 200);
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 2 }]);
    assert.equal((await put(first, { body: form({ version: 3 }) })).status, 200);
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 3 }]);
  });
});

describe("unregister", () => {
  test("an unknown channel → 200", T, async () => {
    const c = await helloClient(node.wsUrl);
    const ch = randomUUID();
    assert.deepEqual(await c.unregister(ch), {
      messageType: "unregister",
      status: 200,
      channelID: ch,
    });
    // Not even a UUID: still 200 (nothing to delete).
    assert.equal((await c.unregister("whatever")).status, 200);
    await c.barrier();
  });

  test("after unregister a PUT gets 404 and nothing reaches the socket", T, async () => {
    const c = await helloClient(node.wsUrl);
    const ch = channelID();
    const kept = channelID();
    const endpoint = await c.register(ch);
    const keptEndpoint = await c.register(kept);
    assert.equal((await c.unregister(ch)).status, 200);
    assert.equal((await put(endpoint, { body: form({ version: 5 }) })).status, 404);
    assert.equal((await put(endpoint, { body: form({ version: 6, data: "x" }) })).status, 404);
    await c.barrier();
    assert.deepEqual(c.inbox.filter(isType("notification")), []);
    // Other channels are untouched.
    assert.equal((await put(keptEndpoint, { body: form({ version: 7 }) })).status, 200);
    assert.deepEqual((await c.notification()).updates, [{ channelID: kept, version: 7 }]);
  });

  test("unregister deletes the channel's pending update", T, async () => {
    const c = await helloClient(node.wsUrl);
    const uaid = c.uaid!;
    const ch = channelID();
    const endpoint = await c.register(ch);
    assert.equal((await put(endpoint, { body: form({ version: 5 }) })).status, 200);
    await c.notification(); // delivered, not acked: still pending
    assert.equal((await c.unregister(ch)).status, 200);
    await c.close();
    const again = await connect(node.wsUrl);
    await again.hello(uaid, []);
    await again.barrier();
    assert.deepEqual(again.inbox.filter(isType("notification")), []);
  });
});

describe("ping flood", () => {
  let limited: PushNode;
  before(async () => {
    limited = await startNode({
      env: { EDITION_PING_MIN_INTERVAL_MS: "60000", EDITION_PING_BURST: "3" },
    });
  });
  after(() => limited?.stop());

  for (const helloFirst of [false, true]) {
    test(
      `pinging past the burst ${helloFirst ? "after" : "before"} hello → 401 and close 4774`,
      T,
      async () => {
        const c = await connect(limited.wsUrl);
        if (helloFirst) await c.hello();
        const pongs: Message[] = [];
        for (let i = 0; i < 3; i++) {
          c.send(i === 1 ? "" : "{}");
          pongs.push(await c.next(isPong));
        }
        const frame = { messageType: "ping" };
        c.send(frame);
        const reply = await c.next();
        assert.deepEqual(reply, { ...frame, status: 401, error: "Invalid Command" });
        const closed = await c.closed();
        assert.equal(closed.code, 4774);
      },
    );
  }

  test("a flood on one socket does not affect another", T, async () => {
    const calm = await helloClient(limited.wsUrl);
    const noisy = await connect(limited.wsUrl);
    for (let i = 0; i < 10; i++) noisy.send("{}");
    assert.equal((await noisy.closed()).code, 4774);
    calm.send("{}");
    await calm.next(isPong);
    assert.equal(calm.isClosed, false);
  });
});
