/**
 * `runRedis`'s reply timeout: a reply that arrived while the event loop was stalled (a
 * starved CPU, a long GC) is taken, not failed, although the timer is overdue when the
 * loop wakes; a reply that does not come fails with a StoreError. Real sockets on loopback.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { runRedis } from "./redis-client.js";
import { StoreError } from "./store.js";

/** A connected pair of loopback sockets. */
async function pair(): Promise<{ a: Socket; b: Socket; close(): void }> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, "connection");
  const a = connect(port, "127.0.0.1");
  await once(a, "connect");
  const [b] = (await accepted) as [Socket];
  return {
    a,
    b,
    close() {
      a.destroy();
      b.destroy();
      server.close();
    },
  };
}

function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // the event loop is blocked: no timer, no read
  }
}

describe("runRedis reply timeout", () => {
  it("takes a reply that arrived during an event-loop stall longer than the timeout", async () => {
    const p = await pair();
    try {
      const reply = runRedis(
        () => new Promise<string>((resolve) => p.b.once("data", (d) => resolve(String(d)))),
        50,
      );
      p.a.write("+OK");
      stall(150); // the reply is in the socket; the 50 ms timer is overdue
      assert.equal(await reply, "+OK");
    } finally {
      p.close();
    }
  });

  it("fails a reply that never comes with a StoreError", async () => {
    const started = Date.now();
    await assert.rejects(
      runRedis(() => new Promise<never>(() => {}), 50),
      (e: unknown) => e instanceof StoreError && /no reply within 50 ms/.test(e.message),
    );
    assert.ok(Date.now() - started >= 50);
  });
});
