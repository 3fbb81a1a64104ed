import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { RouterOverloaded, RouterPeers, RouterServer, RouterUnreachable } from "./router.js";

const SECRET = "a-cluster-secret-of-some-length";
const servers: RouterServer[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: ConstructorParameters<typeof RouterServer>[1], secret = SECRET) {
  const s = new RouterServer(secret, handler, () => {});
  servers.push(s);
  const port = await s.listen("127.0.0.1", 0);
  return `127.0.0.1:${port}`;
}

describe("internal router", () => {
  it("answers many multiplexed requests on one connection, in any order", async () => {
    const addr = await serve(async (m) => {
      if (m.slow) await new Promise((r) => setTimeout(r, 20));
      return { echo: m.n };
    });
    const peers = new RouterPeers(SECRET);
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, n) => peers.request(addr, { n, slow: n % 7 === 0 })),
    );
    assert.deepEqual(
      replies.map((r) => r.echo),
      Array.from({ length: 500 }, (_, n) => n),
    );
    peers.close();
  });

  it("refuses a peer that does not know the cluster secret", async () => {
    let handled = 0;
    const addr = await serve(() => {
      handled++;
      return {};
    });
    const stranger = new RouterPeers("not-the-secret-at-all-no");
    await assert.rejects(stranger.request(addr, { op: "x" }), RouterUnreachable);
    assert.equal(handled, 0, "nothing from an unauthenticated peer reaches the handler");
    stranger.close();
  });

  it("closes a connection that sends garbage instead of the auth line", async () => {
    const addr = await serve(() => ({}));
    const [host, port] = addr.split(":") as [string, string];
    const sock = connect({ host, port: Number(port) });
    sock.on("error", () => {});
    sock.resume(); // read (and drop) the nonce so the end of the stream is seen
    sock.write("this is not json\n");
    await new Promise<void>((r) => sock.once("close", () => r()));
  });

  it("fails fast when a peer is down, and works again once it is up", async () => {
    const peers = new RouterPeers(SECRET, {
      maxInflight: 10,
      maxBufferedBytes: 1 << 20,
      requestTimeoutMs: 1_000,
      reconnectBackoffMs: 0,
    });
    const s = new RouterServer(
      SECRET,
      () => ({ ok: 1 }),
      () => {},
    );
    const port = await s.listen("127.0.0.1", 0);
    s.close();
    await assert.rejects(peers.request(`127.0.0.1:${port}`, {}), RouterUnreachable);
    const again = new RouterServer(
      SECRET,
      () => ({ ok: 1 }),
      () => {},
    );
    servers.push(again);
    await again.listen("127.0.0.1", port);
    assert.equal((await peers.request(`127.0.0.1:${port}`, {})).ok, 1);
    peers.close();
  });

  it("sheds requests past the in-flight bound instead of queueing them", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const addr = await serve(async () => {
      await gate;
      return {};
    });
    const peers = new RouterPeers(SECRET, {
      maxInflight: 5,
      maxBufferedBytes: 1 << 20,
      requestTimeoutMs: 5_000,
      reconnectBackoffMs: 0,
    });
    const held = Array.from({ length: 5 }, () => peers.request(addr, {}));
    await assert.rejects(peers.request(addr, {}), RouterOverloaded);
    release();
    await Promise.all(held);
    peers.close();
  });

  it("times out a request the peer never answers", async () => {
    const addr = await serve(() => new Promise(() => {}));
    const peers = new RouterPeers(SECRET, {
      maxInflight: 5,
      maxBufferedBytes: 1 << 20,
      requestTimeoutMs: 200,
      reconnectBackoffMs: 0,
    });
    await assert.rejects(peers.request(addr, {}), RouterUnreachable);
    peers.close();
  });

  it("drops a connection that went silent and reaches the peer again on a new one", async () => {
    // A proxy in front of the peer: the first connection goes silent (a killed pod: its
    // address vanished, no FIN or RST ever comes), later ones work (the pod replaced under
    // the same name).
    const target = await serve(async () => ({ ok: 1 }));
    const [host, port] = target.split(":") as [string, string];
    let silent = false;
    let connections = 0;
    const open: Socket[] = [];
    const proxy = createServer((client) => {
      const first = connections++ === 0;
      const upstream = connect(Number(port), host);
      open.push(client, upstream);
      client.on("error", () => {});
      upstream.on("error", () => {});
      client.on("data", (b) => {
        if (!(first && silent)) upstream.write(b);
      });
      upstream.on("data", (b) => {
        if (!(first && silent)) client.write(b);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const addr = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
    const peers = new RouterPeers(SECRET, {
      maxInflight: 5,
      maxBufferedBytes: 1 << 20,
      requestTimeoutMs: 200,
      reconnectBackoffMs: 0,
    });
    try {
      assert.equal((await peers.request(addr, {})).ok, 1);
      silent = true;
      await assert.rejects(peers.request(addr, {}), RouterUnreachable);
      assert.equal((await peers.request(addr, {})).ok, 1, "a new connection reaches the peer");
      assert.equal(connections, 2);
    } finally {
      peers.close();
      for (const s of open) s.destroy();
      proxy.close();
    }
  });
});
