import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import {
  type AuthFailureReason,
  DEFAULT_ROUTER_SERVER_LIMITS,
  RouterOverloaded,
  RouterPeers,
  RouterServer,
  type RouterServerLimits,
  RouterUnreachable,
} from "./router.js";

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

/** A server whose handshake failures are recorded (what cluster.ts counts in the metric). */
async function serveCounted(
  handler: ConstructorParameters<typeof RouterServer>[1],
  limits: Partial<RouterServerLimits> = {},
  secret = SECRET,
) {
  const failures: AuthFailureReason[] = [];
  let handled = 0;
  const s = new RouterServer(
    secret,
    (m) => {
      handled++;
      return handler(m);
    },
    () => {},
    (reason) => failures.push(reason),
    { ...DEFAULT_ROUTER_SERVER_LIMITS, ...limits },
  );
  servers.push(s);
  const port = await s.listen("127.0.0.1", 0);
  return { addr: `127.0.0.1:${port}`, port, failures, handled: () => handled };
}

function mac(secret: string, role: string, c: string, s: string): string {
  return createHmac("sha256", secret).update(`${role}|${c}|${s}`).digest("hex");
}

/** A raw TCP peer that reads lines, for speaking the handshake by hand. */
function rawPeer(port: number) {
  const sock = connect({ host: "127.0.0.1", port });
  sock.on("error", () => {});
  sock.setEncoding("utf8");
  let buf = "";
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  sock.on("data", (c: string) => {
    buf += c;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  // Not events.once: it rejects on "error", and a reset is one way a refused peer is closed.
  const closed = new Promise<void>((r) => sock.once("close", () => r()));
  return {
    sock,
    closed,
    line: () =>
      new Promise<Record<string, string>>((resolve, reject) => {
        const l = lines.shift();
        if (l !== undefined) return resolve(JSON.parse(l));
        const t = setTimeout(() => reject(new Error("no line within 2 s")), 2_000);
        waiters.push((x) => {
          clearTimeout(t);
          resolve(JSON.parse(x));
        });
      }),
  };
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
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

  it("a server with the wrong secret is refused by the client, which sends it nothing", async () => {
    const impostor = await serveCounted(() => ({ ok: 1 }), {}, "an-impostor-secret-xxxxxxxxx");
    const clientFailures: string[] = [];
    const peers = new RouterPeers(SECRET, undefined, (reason) => clientFailures.push(reason));
    await assert.rejects(peers.request(impostor.addr, { op: "x" }), RouterUnreachable);
    assert.deepEqual(clientFailures, ["bad_server_proof"]);
    assert.equal(impostor.handled(), 0, "no request was sent to a server that did not prove");
    peers.close();
  });

  it("a client with the wrong secret is refused and the failure is reported", async () => {
    const srv = await serveCounted(() => ({ ok: 1 }));
    // The stranger's server-side check fails first (the server proves with the real secret).
    const stranger = new RouterPeers("not-the-secret-at-all-no");
    await assert.rejects(stranger.request(srv.addr, {}), RouterUnreachable);
    stranger.close();
    // A client that skips its own check and just answers with a wrong proof.
    const raw = rawPeer(srv.port);
    const c = randomBytes(16).toString("hex");
    raw.sock.write(`${JSON.stringify({ hello: c })}\n`);
    const { nonce } = await raw.line();
    raw.sock.write(`${JSON.stringify({ auth: mac("wrong", "client", c, nonce!) })}\n`);
    raw.sock.write(`${JSON.stringify({ i: 1, op: "x" })}\n`);
    await withDeadline(raw.closed, 1_000, "close after a bad proof");
    assert.deepEqual(srv.failures, ["bad_proof"]);
    assert.equal(srv.handled(), 0, "nothing after a failed proof is parsed");
  });

  it("a proof cannot be replayed on another connection or reflected back", async () => {
    const srv = await serveCounted(() => ({ ok: 1 }));
    // An honest handshake by hand, recorded.
    const a = rawPeer(srv.port);
    const c = randomBytes(16).toString("hex");
    a.sock.write(`${JSON.stringify({ hello: c })}\n`);
    const first = await a.line();
    assert.equal(first.proof, mac(SECRET, "server", c, first.nonce!));
    const recorded = mac(SECRET, "client", c, first.nonce!);
    a.sock.write(`${JSON.stringify({ auth: recorded })}\n${JSON.stringify({ i: 1 })}\n`);
    assert.equal((await a.line()).ok, 1);
    // Replay: same client nonce, same recorded proof, on a new connection (new server nonce).
    const b = rawPeer(srv.port);
    b.sock.write(`${JSON.stringify({ hello: c })}\n`);
    await b.line();
    b.sock.write(`${JSON.stringify({ auth: recorded })}\n${JSON.stringify({ i: 1 })}\n`);
    await withDeadline(b.closed, 1_000, "close after a replayed proof");
    // Reflection: answer the server's own proof back as the client proof.
    const r = rawPeer(srv.port);
    r.sock.write(`${JSON.stringify({ hello: c })}\n`);
    const challenge = await r.line();
    r.sock.write(`${JSON.stringify({ auth: challenge.proof })}\n${JSON.stringify({ i: 1 })}\n`);
    await withDeadline(r.closed, 1_000, "close after a reflected proof");
    assert.deepEqual(srv.failures, ["bad_proof", "bad_proof"]);
    assert.equal(srv.handled(), 1, "only the honest connection was served");
    a.sock.destroy();
  });

  it("cuts off garbage and oversized pre-auth input at once, without reading it", async () => {
    const srv = await serveCounted(() => ({}));
    const started = Date.now();
    // 4 MB without a newline: bounded by maxPreAuthBytes, not buffered.
    const big = rawPeer(srv.port);
    big.sock.write(Buffer.alloc(4 * 1024 * 1024, 0x61));
    await withDeadline(big.closed, 1_000, "close on an oversized pre-auth line");
    const junk = rawPeer(srv.port);
    junk.sock.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await withDeadline(junk.closed, 1_000, "close on garbage");
    const wrongShape = rawPeer(srv.port);
    wrongShape.sock.write(`${JSON.stringify({ i: 1, op: "presence" })}\n`);
    await withDeadline(wrongShape.closed, 1_000, "close on a request before auth");
    assert.ok(Date.now() - started < 2_000);
    assert.deepEqual(srv.failures, ["preauth_bytes", "malformed", "malformed"]);
    assert.equal(srv.handled(), 0);
  });

  it("closes a connection that never authenticates at the auth deadline", async () => {
    const srv = await serveCounted(() => ({}), { authDeadlineMs: 200 });
    const idle = rawPeer(srv.port);
    await withDeadline(idle.closed, 1_500, "close at the auth deadline");
    assert.deepEqual(srv.failures, ["deadline"]);
  });

  it("bounds unauthenticated connections and still serves a real peer after the flood", async () => {
    const srv = await serveCounted(() => ({ ok: 1 }), { maxUnauthenticated: 8 });
    const flood = Array.from({ length: 40 }, () => rawPeer(srv.port));
    // Everything past the bound is closed at once; the first 8 wait for the deadline.
    const refused = srv.failures;
    const deadline = Date.now() + 2_000;
    while (refused.length < 32 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    assert.equal(refused.filter((r) => r === "too_many_unauthenticated").length, 32);
    for (const f of flood) f.sock.destroy();
    await Promise.all(flood.map((f) => f.closed));
    const peers = new RouterPeers(SECRET);
    // The slots free up as the flood closes; a real peer gets in.
    const until = Date.now() + 2_000;
    let ok: unknown;
    while (ok === undefined && Date.now() < until) {
      ok = await peers.request(srv.addr, {}).then(
        (r) => r.ok,
        () => undefined,
      );
    }
    assert.equal(ok, 1);
    peers.close();
  });

  it("drops a peer that does not read its replies once they pass the bound", async () => {
    const big = "x".repeat(256 * 1024);
    const srv = await serveCounted(() => ({ big }), { maxReplyBufferedBytes: 1024 * 1024 });
    const raw = rawPeer(srv.port);
    const c = randomBytes(16).toString("hex");
    raw.sock.write(`${JSON.stringify({ hello: c })}\n`);
    const { nonce } = await raw.line();
    raw.sock.write(`${JSON.stringify({ auth: mac(SECRET, "client", c, nonce!) })}\n`);
    raw.sock.pause(); // never reads again: replies pile up on the server side
    // 400 × 256 KB = 100 MB of replies requested; the server must not buffer them.
    for (let i = 1; i <= 400; i++) raw.sock.write(`${JSON.stringify({ i })}\n`);
    await withDeadline(raw.closed, 5_000, "server drops the non-reading peer");
  });
});
