/**
 * The app-server endpoint (docs/protocol.md "App-server endpoint") against a real node, with
 * real HTTP requests and a real WebSocket client on the receiving end: statuses, exact
 * versions, data, tokens, CORS, and store-and-flush for offline clients.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { TokenCodec } from "../../server/src/endpoint/token.js";
import {
  big,
  connect,
  disconnectAll,
  helloClient,
  isType,
  type PushClient,
  raw,
} from "../support/client.js";
import { channelID, form, put } from "../support/http.js";
import { type PushNode, startNode } from "../support/node.js";

const T = { timeout: 30_000 };
const MAX_U64 = 18446744073709551615n;
const KEY = { id: 7, key: randomBytes(32) };

let node: PushNode;
before(async () => {
  node = await startNode({
    env: {
      EDITION_PING_MIN_INTERVAL_MS: "0",
      EDITION_MAX_CHANNELS: "3",
      // A known key, so the tests can mint valid tokens the server never handed out.
      EDITION_TOKEN_KEYS: `${KEY.id}:${KEY.key.toString("base64")}`,
      EDITION_REGION: "test-1",
    },
  });
});
after(() => node?.stop());
afterEach(disconnectAll);

/** A connected client with one registered channel. */
async function subscriber(): Promise<{ c: PushClient; ch: string; endpoint: string }> {
  const c = await helloClient(node.wsUrl);
  const ch = channelID();
  return { c, ch, endpoint: await c.register(ch) };
}

/** Proves that no notification reached `c` (the server sends before it answers the PUT). */
async function nothingArrived(c: PushClient): Promise<void> {
  await c.barrier();
  assert.deepEqual(c.inbox.filter(isType("notification")).map(raw), []);
}

function nowRange(before: number, after: number): [bigint, bigint] {
  return [BigInt(Math.floor(before / 1000)), BigInt(Math.ceil(after / 1000))];
}

describe("delivery to a connected client", () => {
  test("PUT version=N → 200 {} and one notification with exactly that version", T, async () => {
    const { c, ch, endpoint } = await subscriber();
    for (const v of [1n, 12n, 9007199254740993n, 12345678901234567890n, MAX_U64]) {
      const r = await put(endpoint, { body: `version=${v}` });
      assert.equal(r.status, 200);
      assert.equal(r.body, "{}");
      const n = await c.notification();
      const updates = n.updates as { channelID: string; version: unknown }[];
      assert.equal(updates.length, 1, "one update per direct delivery");
      assert.deepEqual(Object.keys(updates[0]!), ["channelID", "version"]);
      assert.equal(updates[0]!.channelID, ch);
      assert.equal(big(updates[0]!.version), v);
      assert.ok(raw(n).includes(`"version":${v}}`), `every digit kept: ${raw(n)}`);
    }
  });

  test("data is delivered to a connected client and never stored", T, async () => {
    const { c, ch, endpoint } = await subscriber();
    const uaid = c.uaid!;
    assert.equal(
      (await put(endpoint, { body: form({ version: 3, data: "hello world & more=" }) })).status,
      200,
    );
    assert.deepEqual((await c.notification()).updates, [
      { channelID: ch, version: 3, data: "hello world & more=" },
    ]);
    // Raw UTF-8 in the form (curl -d 'data=héllo') arrives as sent.
    assert.equal((await put(endpoint, { body: "version=4&data=héllo ✓" })).status, 200);
    assert.deepEqual((await c.notification()).updates, [
      { channelID: ch, version: 4, data: "héllo ✓" },
    ]);
    // Not acked: flushed at the next hello, without its data.
    await c.close();
    const again = await connect(node.wsUrl);
    await again.hello(uaid, [ch]);
    const flush = await again.notification();
    assert.deepEqual(flush.updates, [{ channelID: ch, version: 4 }]);
  });

  test("a PUT without data carries no data key", T, async () => {
    const { c, endpoint } = await subscriber();
    await put(endpoint, { body: "version=9" });
    const u = ((await c.notification()).updates as object[])[0]!;
    assert.equal("data" in u, false);
    await put(endpoint, { body: "version=10&data=" });
    const empty = ((await c.notification()).updates as { data?: string }[])[0]!;
    assert.equal(empty.data, "", "an empty data field is still data");
  });

  test("version missing, empty or 0 → the server time in seconds", T, async () => {
    const { c, endpoint } = await subscriber();
    const bodies: { body?: string | Uint8Array; contentType?: string | null }[] = [
      { body: "version=" },
      { body: "version=0" },
      { body: "data=abc" },
      { body: "" },
      {},
      { body: new Uint8Array(), contentType: null },
    ];
    for (const b of bodies) {
      const t0 = Date.now();
      const r = await put(endpoint, b);
      const t1 = Date.now();
      assert.equal(r.status, 200, JSON.stringify(b));
      const v = big(((await c.notification()).updates as { version: unknown }[])[0]!.version);
      const [lo, hi] = nowRange(t0, t1);
      assert.ok(v >= lo && v <= hi, `${v} is the time in seconds (${lo}..${hi})`);
    }
  });

  test("version may come in the query string", T, async () => {
    const { c, ch, endpoint } = await subscriber();
    assert.equal((await put(endpoint, { query: "version=77" })).status, 200);
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 77 }]);
    assert.equal(
      (await put(endpoint, { query: `version=${MAX_U64}`, body: "data=q" })).status,
      200,
    );
    const n = await c.notification();
    assert.equal(big((n.updates as { version: unknown }[])[0]!.version), MAX_U64);
  });

  test("a form Content-Type with parameters is still a form", T, async () => {
    const { c, ch, endpoint } = await subscriber();
    const r = await put(endpoint, {
      body: "version=31&data=x",
      contentType: "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
    });
    assert.equal(r.status, 200);
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 31, data: "x" }]);
    // No Content-Type at all: a form too.
    await put(endpoint, { body: "version=32&data=y", contentType: null });
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 32, data: "y" }]);
  });

  test("with another Content-Type the body is ignored", T, async () => {
    const { c, ch, endpoint } = await subscriber();
    for (const contentType of [
      "application/json",
      "text/plain",
      "multipart/form-data; boundary=x",
    ]) {
      const t0 = Date.now();
      const r = await put(endpoint, { body: "version=5&data=secret", contentType });
      const t1 = Date.now();
      assert.equal(r.status, 200);
      const u = ((await c.notification()).updates as { version: unknown; data?: unknown }[])[0]!;
      const [lo, hi] = nowRange(t0, t1);
      assert.ok(big(u.version) >= lo && big(u.version) <= hi, "version 5 was ignored");
      assert.equal(u.data, undefined, "data was ignored");
    }
    // The query string still counts.
    await put(endpoint, {
      body: '{"version":1}',
      contentType: "application/json",
      query: "version=9",
    });
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 9 }]);
  });

  test("a version that is not a u64 → 400 and nothing is delivered", T, async () => {
    const { c, endpoint } = await subscriber();
    const bad = [
      "18446744073709551616",
      "-1",
      "1.5",
      "0x10",
      "abc",
      "1e3",
      "+5",
      " 5",
      "5 ",
      "99999999999999999999999",
    ];
    for (const v of bad) {
      const inBody = await put(endpoint, { body: form({ version: v }) });
      assert.equal(inBody.status, 400, `body version ${JSON.stringify(v)}`);
      assert.equal(JSON.parse(inBody.body).code, 400);
      const inQuery = await put(endpoint, { query: form({ version: v }) });
      assert.equal(inQuery.status, 400, `query version ${JSON.stringify(v)}`);
    }
    await nothingArrived(c);
  });

  test("data longer than 4096 bytes → 413; exactly 4096 → delivered", T, async () => {
    const { c, ch, endpoint } = await subscriber();
    for (const data of ["a".repeat(4097), `${"é".repeat(2048)}a`, "€".repeat(1366)]) {
      assert.equal((await put(endpoint, { body: form({ version: 1, data }) })).status, 413);
    }
    await nothingArrived(c);
    for (const [i, data] of [
      "a".repeat(4096),
      "é".repeat(2048),
      `${"€".repeat(1365)}a`,
    ].entries()) {
      assert.equal((await put(endpoint, { body: form({ version: 2 + i, data }) })).status, 200);
      assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 2 + i, data }]);
    }
  });

  test("a huge body → 413 and the node keeps serving", T, async () => {
    const { c, ch, endpoint } = await subscriber();
    const r = await put(endpoint, { body: `version=1&data=${"a".repeat(1024 * 1024)}` });
    assert.equal(r.status, 413);
    await nothingArrived(c);
    assert.equal((await put(endpoint, { body: "version=2" })).status, 200);
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 2 }]);
  });
});

describe("tokens", () => {
  /** `endpoint` with its token replaced. */
  function withToken(endpoint: string, token: string): string {
    return endpoint.slice(0, endpoint.lastIndexOf("/update/") + "/update/".length) + token;
  }

  test(
    "forged, truncated, garbage and bit-flipped tokens → 404, nothing delivered",
    T,
    async () => {
      const { c, ch, endpoint } = await subscriber();
      const token = endpoint.slice(endpoint.lastIndexOf("/") + 1);
      const bytes = Buffer.from(token, "base64url");
      const tokens: string[] = [
        token.slice(0, -1),
        token.slice(0, -4),
        token.slice(0, token.length >> 1),
        token.slice(1),
        `${token}A`,
        `${token}AAAA`,
        "abc",
        "A".repeat(token.length),
        "A".repeat(600),
        encodeURIComponent("!!!!$$$$"),
        "%00",
        randomBytes(bytes.length).toString("base64url"),
        // Same key id, right length, random content.
        Buffer.concat([Buffer.of(KEY.id), randomBytes(bytes.length - 1)]).toString("base64url"),
        // A well-formed token minted with another key (same id).
        new TokenCodec([{ id: KEY.id, key: randomBytes(32) }]).encode({
          region: "test-1",
          uaid: c.uaid!,
          channelID: ch,
        }),
        // Our key, another region.
        new TokenCodec([KEY]).encode({ region: "elsewhere", uaid: c.uaid!, channelID: ch }),
      ];
      // One flipped bit in each part: key id, nonce, ciphertext, tag.
      for (const at of [0, 1, 12, 13, 20, 40, bytes.length - 16, bytes.length - 1]) {
        for (const bit of [0x01, 0x80]) {
          const b = Buffer.from(bytes);
          b[at] = b[at]! ^ bit;
          tokens.push(b.toString("base64url"));
        }
      }
      for (const t of tokens) {
        const r = await put(withToken(endpoint, t), { body: "version=5&data=x" });
        assert.equal(r.status, 404, `token ${t.slice(0, 40)}…`);
        assert.equal(JSON.parse(r.body).code, 404);
        assert.equal(r.body.includes(token), false, "the token is never echoed");
      }
      await nothingArrived(c);
      // The real token still works.
      assert.equal((await put(endpoint, { body: "version=6" })).status, 200);
    },
  );

  test("a valid token for a channel that is not registered → 404", T, async () => {
    const { c, endpoint } = await subscriber();
    const codec = new TokenCodec([KEY]);
    const other = codec.encode({ region: "test-1", uaid: c.uaid!, channelID: randomUUID() });
    assert.equal((await put(withToken(endpoint, other), { body: "version=5" })).status, 404);
    await nothingArrived(c);
  });

  test("a UAID that was reset → 410 at its old endpoints", T, async () => {
    // EDITION_MAX_CHANNELS=3: a hello naming 4 channels resets the UAID.
    const c = await helloClient(node.wsUrl);
    const old = c.uaid!;
    const ch = channelID();
    const endpoint = await c.register(ch);
    assert.equal((await put(endpoint, { body: "version=1" })).status, 200);
    await c.close();

    const again = await connect(node.wsUrl);
    const channels = [ch, channelID(), channelID(), channelID()];
    const reply = await again.hello(old, channels);
    assert.notEqual(reply.uaid, old, "a new UAID");
    const gone = await put(endpoint, { body: "version=2" });
    assert.equal(gone.status, 410);
    assert.equal(JSON.parse(gone.body).code, 410);
    await nothingArrived(again);
    // The client re-registers under its new UAID and gets a working endpoint.
    const fresh = await again.register(ch);
    assert.equal((await put(fresh, { body: "version=3" })).status, 200);
    assert.deepEqual((await again.notification()).updates, [{ channelID: ch, version: 3 }]);
  });

  test("a client at the channel limit keeps its UAID", T, async () => {
    const c = await helloClient(node.wsUrl);
    const uaid = c.uaid!;
    const chs = [channelID(), channelID(), channelID()];
    const endpoints = [];
    for (const ch of chs) endpoints.push(await c.register(ch));
    await c.close();
    const again = await connect(node.wsUrl);
    assert.equal((await again.hello(uaid, chs)).uaid, uaid);
    assert.equal((await put(endpoints[2]!, { body: "version=4" })).status, 200);
  });
});

describe("methods and CORS", () => {
  test("POST, GET, DELETE and PATCH → 405 and nothing is delivered", T, async () => {
    const { c, endpoint } = await subscriber();
    for (const method of ["POST", "GET", "DELETE", "PATCH"]) {
      const r = await put(endpoint, {
        method,
        body: method === "GET" ? undefined : "version=5",
      });
      assert.equal(r.status, 405, method);
    }
    await nothingArrived(c);
  });

  test("OPTIONS → 405 when CORS is not configured", T, async () => {
    const { endpoint } = await subscriber();
    const r = await put(endpoint, { method: "OPTIONS", contentType: null });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get("access-control-allow-origin"), null);
  });

  test("OPTIONS → 200 with CORS headers when EDITION_CORS_ORIGIN is set", T, async (t) => {
    const cors = await startNode({ t, env: { EDITION_CORS_ORIGIN: "https://app.example" } });
    const c = await helloClient(cors.wsUrl);
    const ch = channelID();
    const endpoint = await c.register(ch);
    const pre = await put(endpoint, {
      method: "OPTIONS",
      contentType: null,
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type",
      },
    });
    assert.equal(pre.status, 200);
    assert.equal(pre.headers.get("access-control-allow-origin"), "https://app.example");
    assert.match(pre.headers.get("access-control-allow-methods") ?? "", /\bPUT\b/);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /content-type/i);
    // The PUT itself carries the origin too, so a browser can read its status.
    const r = await put(endpoint, {
      body: "version=3",
      headers: { origin: "https://app.example" },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example");
    assert.deepEqual((await c.notification()).updates, [{ channelID: ch, version: 3 }]);
    await cors.stop();
  });
});

describe("offline clients", () => {
  test("202 while offline, one flush without data at hello, not again once acked", T, async () => {
    const c = await helloClient(node.wsUrl);
    const uaid = c.uaid!;
    const [a, b] = [channelID(), channelID()];
    const ea = await c.register(a);
    const eb = await c.register(b);
    await c.close();

    for (const [endpoint, body] of [
      [ea, "version=5&data=first"],
      [eb, `version=${MAX_U64}&data=big`],
      [ea, "version=7&data=latest"], // supersedes 5
    ] as const) {
      const r = await put(endpoint, { body });
      assert.equal(r.status, 202, body);
      assert.equal(r.body, "{}");
    }

    const back = await connect(node.wsUrl);
    await back.hello(uaid, [a, b]);
    const flush = await back.notification();
    const updates = flush.updates as { channelID: string; version: unknown }[];
    assert.deepEqual(
      [...updates].sort((x, y) => x.channelID.localeCompare(y.channelID)),
      [
        { channelID: a, version: 7 },
        { channelID: b, version: MAX_U64 },
      ].sort((x, y) => x.channelID.localeCompare(y.channelID)),
      `one notification with the latest of each, no data: ${raw(flush)}`,
    );
    await back.barrier();
    assert.deepEqual(back.inbox.filter(isType("notification")), [], "exactly one flush");

    back.ack(updates as { channelID: string; version: bigint }[]);
    await back.barrier(); // the ack has been handled
    await back.close();

    const third = await connect(node.wsUrl);
    await third.hello(uaid, [a, b]);
    await nothingArrived(third);
  });

  test("an ack only clears pending versions up to the acked one", T, async () => {
    const c = await helloClient(node.wsUrl);
    const uaid = c.uaid!;
    const [a, b] = [channelID(), channelID()];
    const ea = await c.register(a);
    const eb = await c.register(b);
    await c.close();
    assert.equal((await put(ea, { body: "version=10" })).status, 202);
    assert.equal((await put(eb, { body: "version=20" })).status, 202);

    const back = await connect(node.wsUrl);
    await back.hello(uaid, [a, b]);
    await back.notification();
    // An older version for a (stays pending), b acked as a string (cleared), plus junk.
    back.send(
      `{"messageType":"ack","updates":[{"channelID":"${a}","version":9},{"channelID":"${b}","version":"20"},{"channelID":"${a}","version":"x"},{"version":1},"junk"]}`,
    );
    await back.barrier();
    assert.equal(back.isClosed, false, "acks get no reply and do not close the socket");
    assert.deepEqual(back.inbox, []);
    await back.close();

    const third = await connect(node.wsUrl);
    await third.hello(uaid, [a, b]);
    assert.deepEqual((await third.notification()).updates, [{ channelID: a, version: 10 }]);
  });

  test(
    "pending updates of a dashed upper-case channel are flushed with its spelling",
    T,
    async () => {
      const c = await helloClient(node.wsUrl);
      const uaid = c.uaid!;
      const ch = randomUUID().toUpperCase();
      const endpoint = await c.register(ch);
      await c.close();
      assert.equal((await put(endpoint, { body: "version=3" })).status, 202);
      const back = await connect(node.wsUrl);
      await back.hello(uaid, [ch]);
      const flush = await back.notification();
      assert.deepEqual(flush.updates, [{ channelID: ch, version: 3 }]);
      // Acking with the other spelling of the same id clears it.
      back.ack([{ channelID: ch.replaceAll("-", "").toLowerCase(), version: 3 }]);
      await back.barrier();
      await back.close();
      const third = await connect(node.wsUrl);
      await third.hello(uaid, [ch]);
      await nothingArrived(third);
    },
  );
});
