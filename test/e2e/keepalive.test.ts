/**
 * Keepalive as a client sees it: the server keeps idle sockets alive with WebSocket ping
 * frames (never an unsolicited `{}`), and drops a client that stopped answering them.
 * Takes about one idle timeout (the minimum, 8 s), so it lives in its own file to run
 * alongside the others.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { connect, disconnectAll, helloClient, raw } from "../support/client.js";
import { eventually, sample, scrape } from "../support/http.js";
import { startNode } from "../support/node.js";

after(disconnectAll);

test("idle sockets get WebSocket pings, never {}; a silent client is dropped", {
  timeout: 45_000,
}, async (t) => {
  const idleSeconds = 8;
  const node = await startNode({ t, env: { EDITION_IDLE_TIMEOUT_SECONDS: String(idleSeconds) } });
  const alive = await helloClient(node.wsUrl);
  const silent = await connect(node.wsUrl, { autoPong: false });
  await silent.hello();
  let pings = 0;
  const startedAt = Date.now();
  const pingedPastTimeout = new Promise<void>((resolve) => {
    alive.ws.on("ping", () => {
      pings++;
      if (Date.now() - startedAt > idleSeconds * 1000 + 1000) resolve();
    });
  });

  const closed = await silent.closed();
  const silentFor = Date.now() - startedAt;
  // uWS counts timeouts in 4 s ticks, so "idle for 8 s" means somewhere in (4 s, 8 s].
  assert.ok(silentFor > (idleSeconds - 4) * 1000, `dropped after only ${silentFor} ms`);
  assert.notEqual(closed.code, 1012);
  assert.deepEqual(silent.inbox.map(raw), [], "no unsolicited frames to the silent client");

  await pingedPastTimeout;
  assert.ok(pings >= 2, `${pings} pings`);
  assert.equal(alive.isClosed, false, "a client that answers pings outlives the idle timeout");
  assert.deepEqual(alive.inbox.map(raw), [], "keepalive is ping frames, never {}");
  await eventually(async () => {
    const m = await scrape(node.adminUrl);
    return sample(m, "edition_connections") === 1 ? true : undefined;
  }, "the dropped socket to leave edition_connections");
  await alive.close();
  await node.stop();
});
