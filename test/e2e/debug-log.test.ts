/**
 * The node's debug events (docs/logging.md) against a real node at EDITION_LOG_LEVEL=debug:
 * one line per connect, hello, register, PUT and close, with the keys the reference names,
 * and never a token, a full UAID, a version or a payload. At the default level, none.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { connect, disconnectAll } from "../support/client.js";
import { channelID, form, put } from "../support/http.js";
import { type LogLine, type PushNode, startNode } from "../support/node.js";

after(disconnectAll);

const events = (n: PushNode, name: string): Record<string, unknown>[] =>
  n.logs.filter((l) => l.json?.event === name).map((l) => l.json!);

async function session(node: PushNode): Promise<{ uaid: string; endpoint: string }> {
  const c = await connect(node.wsUrl);
  await c.hello();
  const endpoint = await c.register(channelID());
  const r = await put(endpoint, { body: form({ version: 987654321, data: "s3cret-payload" }) });
  assert.equal(r.status, 200);
  await c.notification();
  await c.close(1000);
  return { uaid: c.uaid!, endpoint };
}

describe("debug log events", () => {
  it("at debug: connect, hello, register, put and close, without secrets", async (t) => {
    const node = await startNode({ t, env: { EDITION_LOG_LEVEL: "debug" } });
    const { uaid, endpoint } = await session(node);
    const bad = await put(`${endpoint}x`, { body: form({ version: 1 }) });
    assert.equal(bad.status, 404);
    await node.waitForLog((l: LogLine) => l.json?.event === "close");
    await node.waitForLog((l: LogLine) => l.json?.event === "put" && l.json.status === 404);

    assert.equal(events(node, "connect").length, 1);
    const [hello] = events(node, "hello");
    assert.deepEqual(
      {
        outcome: hello!.outcome,
        uaid: hello!.uaid,
        channels: hello!.channels,
        level: hello!.level,
      },
      { outcome: "minted", uaid: `${uaid.slice(0, 8)}…`, channels: 0, level: "debug" },
    );
    assert.equal(events(node, "register")[0]!.outcome, "ok");
    const puts = events(node, "put");
    assert.deepEqual(
      puts.map((p) => p.status),
      [200, 404],
    );
    assert.equal(puts[0]!.uaid, `${uaid.slice(0, 8)}…`);
    assert.equal(typeof puts[0]!.dataLength, "number");
    const [closed] = events(node, "close");
    assert.equal(closed!.code, 1000);
    assert.equal(closed!.reason, "normal");

    const token = new URL(endpoint).pathname.split("/").pop()!;
    for (const l of node.logs) {
      assert.ok(!l.text.includes(uaid), `full UAID in: ${l.text}`);
      assert.ok(!l.text.includes(token.slice(0, 16)), `token in: ${l.text}`);
      assert.ok(!l.text.includes("s3cret-payload"), `payload in: ${l.text}`);
      assert.ok(!l.text.includes("987654321"), `version in: ${l.text}`);
    }
  });

  it("at the default level: none of them", async (t) => {
    const node = await startNode({ t });
    await session(node);
    for (const name of ["connect", "hello", "register", "put", "close"])
      assert.equal(events(node, name).length, 0, name);
  });
});
