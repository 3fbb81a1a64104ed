import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "node:net";
import { after, describe, it } from "node:test";
import { binaryWire, encodeFrame } from "../routing/router-codec.js";
import type { RouterFrame, RouterRequest } from "../routing/router-messages.js";
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

function mac(secret: string, role: string, c: Buffer, s: Buffer): Buffer {
  return createHmac("sha256", secret)
    .update(`${role}|${c.toString("hex")}|${s.toString("hex")}`)
    .digest();
}

const NUDGE: RouterRequest = { op: "nudge", uaid: "u" };
const req = (id: number, r: RouterRequest = NUDGE) => encodeFrame({ t: "request", id, req: r });
const hello = (nonce: Buffer) => encodeFrame({ t: "hello", nonce });
const auth = (proof: Buffer) => encodeFrame({ t: "auth", proof });

/** A raw TCP peer that reads binary frames, for speaking the handshake by hand. */
function rawPeer(port: number) {
  const sock = connect({ host: "127.0.0.1", port });
  sock.on("error", () => {});
  const decoder = binaryWire.decoder(() => 1 << 20);
  const frames: RouterFrame[] = [];
  const waiters: Array<(f: RouterFrame) => void> = [];
  sock.on("data", (c: Buffer) => {
    decoder.push(c, (f) => {
      const w = waiters.shift();
      if (w) w(f);
      else frames.push(f);
      return true;
    });
  });
  // Not events.once: it rejects on "error", and a reset is one way a refused peer is closed.
  const closed = new Promise<void>((r) => sock.once("close", () => r()));
  return {
    sock,
    closed,
    frame: () =>
      new Promise<RouterFrame>((resolve, reject) => {
        const f = frames.shift();
        if (f !== undefined) return resolve(f);
        const t = setTimeout(() => reject(new Error("no frame within 2 s")), 2_000);
        waiters.push((x) => {
          clearTimeout(t);
          resolve(x);
        });
      }),
  };
}

/** Hello and challenge by hand: the client nonce and the server's challenge. */
async function challenged(raw: ReturnType<typeof rawPeer>) {
  const c = randomBytes(16);
  raw.sock.write(hello(c));
  const ch = await raw.frame();
  assert.equal(ch.t, "challenge");
  return { c, ch: ch as Extract<RouterFrame, { t: "challenge" }> };
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
      const uaid = "uaid" in m ? m.uaid : m.node;
      if (Number(uaid) % 7 === 0) await new Promise((r) => setTimeout(r, 20));
      return { d: 1, h: uaid };
    });
    const peers = new RouterPeers(SECRET);
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, n) => peers.request(addr, { op: "nudge", uaid: `${n}` })),
    );
    assert.deepEqual(
      replies.map((r) => r.h),
      Array.from({ length: 500 }, (_, n) => `${n}`),
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
    await assert.rejects(stranger.request(addr, NUDGE), RouterUnreachable);
    assert.equal(handled, 0, "nothing from an unauthenticated peer reaches the handler");
    stranger.close();
  });

  it("closes a connection that sends garbage instead of the auth line", async () => {
    const addr = await serve(() => ({}));
    const [host, port] = addr.split(":") as [string, string];
    const sock = connect({ host, port: Number(port) });
    sock.on("error", () => {});
    sock.resume(); // read (and drop) the challenge so the end of the stream is seen
    sock.write(hello(randomBytes(16)));
    sock.write(Buffer.from([0, 0, 0, 3, 0xff, 1, 2])); // an unknown frame type
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
      () => ({ d: 1 as const }),
      () => {},
    );
    const port = await s.listen("127.0.0.1", 0);
    s.close();
    await assert.rejects(peers.request(`127.0.0.1:${port}`, NUDGE), RouterUnreachable);
    const again = new RouterServer(
      SECRET,
      () => ({ d: 1 as const }),
      () => {},
    );
    servers.push(again);
    await again.listen("127.0.0.1", port);
    assert.equal((await peers.request(`127.0.0.1:${port}`, NUDGE)).d, 1);
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
    const held = Array.from({ length: 5 }, () => peers.request(addr, NUDGE));
    await assert.rejects(peers.request(addr, NUDGE), RouterOverloaded);
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
    await assert.rejects(peers.request(addr, NUDGE), RouterUnreachable);
    peers.close();
  });

  it("drops a connection that went silent and reaches the peer again on a new one", async () => {
    // A proxy in front of the peer: the first connection goes silent (a killed pod: its
    // address vanished, no FIN or RST ever comes), later ones work (the pod replaced under
    // the same name).
    const target = await serve(async () => ({ d: 1 as const }));
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
      requestTimeoutMs: 500, // a loaded CI machine must set up the new connection within it
      reconnectBackoffMs: 0,
    });
    try {
      assert.equal((await peers.request(addr, NUDGE)).d, 1);
      silent = true;
      await assert.rejects(peers.request(addr, NUDGE), RouterUnreachable);
      assert.equal((await peers.request(addr, NUDGE)).d, 1, "a new connection reaches the peer");
      assert.equal(connections, 2);
    } finally {
      peers.close();
      for (const s of open) s.destroy();
      proxy.close();
    }
  });

  it("a server with the wrong secret is refused by the client, which sends it nothing", async () => {
    const impostor = await serveCounted(
      () => ({ d: 1 as const }),
      {},
      "an-impostor-secret-xxxxxxxxx",
    );
    const clientFailures: string[] = [];
    const peers = new RouterPeers(SECRET, undefined, (reason) => clientFailures.push(reason));
    await assert.rejects(peers.request(impostor.addr, NUDGE), RouterUnreachable);
    assert.deepEqual(clientFailures, ["bad_server_proof"]);
    assert.equal(impostor.handled(), 0, "no request was sent to a server that did not prove");
    peers.close();
  });

  it("a client with the wrong secret is refused and the failure is reported", async () => {
    const srv = await serveCounted(() => ({ d: 1 as const }));
    // The stranger's server-side check fails first (the server proves with the real secret).
    const stranger = new RouterPeers("not-the-secret-at-all-no");
    await assert.rejects(stranger.request(srv.addr, NUDGE), RouterUnreachable);
    stranger.close();
    // A client that skips its own check and just answers with a wrong proof.
    const raw = rawPeer(srv.port);
    const { c, ch } = await challenged(raw);
    raw.sock.write(Buffer.concat([auth(mac("wrong", "client", c, ch.nonce)), req(1)]));
    await withDeadline(raw.closed, 1_000, "close after a bad proof");
    assert.deepEqual(srv.failures, ["bad_proof"]);
    assert.equal(srv.handled(), 0, "nothing after a failed proof is parsed");
  });

  it("a proof cannot be replayed on another connection or reflected back", async () => {
    const srv = await serveCounted(() => ({ d: 1 }));
    // An honest handshake by hand, recorded.
    const a = rawPeer(srv.port);
    const { c, ch: first } = await challenged(a);
    assert.deepEqual(first.proof, mac(SECRET, "server", c, first.nonce));
    const recorded = mac(SECRET, "client", c, first.nonce);
    a.sock.write(Buffer.concat([auth(recorded), req(1)]));
    assert.deepEqual(await a.frame(), { t: "reply", id: 1, reply: { d: 1 } });
    // Replay: same client nonce, same recorded proof, on a new connection (new server nonce).
    const b = rawPeer(srv.port);
    b.sock.write(hello(c));
    await b.frame();
    b.sock.write(Buffer.concat([auth(recorded), req(1)]));
    await withDeadline(b.closed, 1_000, "close after a replayed proof");
    // Reflection: answer the server's own proof back as the client proof.
    const r = rawPeer(srv.port);
    const { ch: challenge } = await challenged(r);
    r.sock.write(Buffer.concat([auth(challenge.proof), req(1)]));
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
    // An HTTP request: its first four bytes read as a length far over the pre-auth bound.
    const junk = rawPeer(srv.port);
    junk.sock.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await withDeadline(junk.closed, 1_000, "close on garbage");
    const wrongShape = rawPeer(srv.port);
    wrongShape.sock.write(req(1));
    await withDeadline(wrongShape.closed, 1_000, "close on a request before auth");
    const unknown = rawPeer(srv.port);
    unknown.sock.write(Buffer.from([0, 0, 0, 1, 0xee]));
    await withDeadline(unknown.closed, 1_000, "close on an unknown frame type");
    const truncated = rawPeer(srv.port);
    truncated.sock.write(Buffer.from([0, 0, 0, 5, 1, 1, 2, 3, 4])); // hello: nonce of 4 bytes
    await withDeadline(truncated.closed, 1_000, "close on a truncated hello");
    // A JSON line (what older nodes speak) that is garbage all the same.
    const json = rawPeer(srv.port);
    json.sock.write("{not json\n");
    await withDeadline(json.closed, 1_000, "close on a bad JSON line");
    assert.ok(Date.now() - started < 2_000);
    assert.deepEqual(srv.failures, [
      "preauth_bytes",
      "preauth_bytes",
      "malformed",
      "malformed",
      "malformed",
      "malformed",
    ]);
    assert.equal(srv.handled(), 0);
  });

  it("closes a connection that never authenticates at the auth deadline", async () => {
    const srv = await serveCounted(() => ({}), { authDeadlineMs: 200 });
    const idle = rawPeer(srv.port);
    await withDeadline(idle.closed, 1_500, "close at the auth deadline");
    assert.deepEqual(srv.failures, ["deadline"]);
  });

  it("bounds unauthenticated connections and still serves a real peer after the flood", async () => {
    const srv = await serveCounted(() => ({ d: 1 as const }), { maxUnauthenticated: 8 });
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
      ok = await peers.request(srv.addr, NUDGE).then(
        (r) => r.d,
        () => undefined,
      );
    }
    assert.equal(ok, 1);
    peers.close();
  });

  it("drops a peer that does not read its replies once they pass the bound", async () => {
    // Every request fails with a 1 KB error message: 100,000 small requests ask for 100 MB.
    const srv = await serveCounted(
      () => {
        throw new Error("x".repeat(1000));
      },
      { maxReplyBufferedBytes: 1024 * 1024 },
    );
    const raw = rawPeer(srv.port);
    const { c, ch } = await challenged(raw);
    raw.sock.write(auth(mac(SECRET, "client", c, ch.nonce)));
    raw.sock.pause(); // never reads again: replies pile up on the server side
    const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => req(i + 1)));
    for (let i = 0; i < 100 && !raw.sock.destroyed; i++) {
      if (!raw.sock.write(batch)) await new Promise((r) => setTimeout(r, 5));
    }
    await withDeadline(raw.closed, 5_000, "server drops the non-reading peer");
  });

  it("after auth, a bad frame closes the connection and nothing after it is handled", async () => {
    const errors: unknown[] = [];
    let handled = 0;
    const s = new RouterServer(
      SECRET,
      () => {
        handled++;
        return {};
      },
      (err) => errors.push(err),
    );
    servers.push(s);
    const port = await s.listen("127.0.0.1", 0);
    const raw = rawPeer(port);
    const { c, ch } = await challenged(raw);
    raw.sock.write(Buffer.concat([auth(mac(SECRET, "client", c, ch.nonce)), req(1)]));
    assert.deepEqual(await raw.frame(), { t: "reply", id: 1, reply: {} });
    raw.sock.write(
      Buffer.concat([
        Buffer.from([0, 0, 0, 5, 0xee, 0, 0, 0, 2]), // unknown type
        req(3),
      ]),
    );
    await withDeadline(raw.closed, 1_000, "close on an unknown frame after auth");
    assert.equal(handled, 1);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as { code?: string }).code, "ROUTER_BAD_MESSAGE");
  });

  it("speaks JSON lines to and from nodes of the previous version (rolling upgrade)", async () => {
    const srv = await serveCounted((m) => ({ d: 1, h: "uaid" in m ? m.uaid : m.node }));
    // A new node dialing an old one: JSON lines, the same typed requests and replies.
    const peers = new RouterPeers(SECRET);
    const push = { kind: "simplepush", channelID: "c", version: 2n ** 63n, stamp: "s" } as const;
    let seen: RouterRequest | undefined;
    const srv2 = await serveCounted((m) => {
      seen = m;
      return { d: 1 };
    });
    assert.deepEqual(await peers.request(srv.addr, { op: "nudge", uaid: "u1" }, "json"), {
      d: 1,
      h: "u1",
    });
    assert.deepEqual(await peers.request(srv2.addr, { op: "deliver", uaid: "u2", push }, "json"), {
      d: 1,
    });
    assert.deepEqual(seen, { op: "deliver", uaid: "u2", push: { ...push, data: undefined } });
    // The same address again in binary: a new connection (a pod replaced by a newer one).
    assert.deepEqual(await peers.request(srv.addr, { op: "nudge", uaid: "u3" }), {
      d: 1,
      h: "u3",
    });
    peers.close();
    // An old node's exact handshake, by hand.
    const sock = connect({ host: "127.0.0.1", port: srv.port });
    sock.setEncoding("utf8");
    let buf = "";
    const line = () =>
      withDeadline(
        new Promise<Record<string, unknown>>((resolve) => {
          const take = () => {
            const nl = buf.indexOf("\n");
            if (nl < 0) return false;
            const l = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            resolve(JSON.parse(l));
            return true;
          };
          if (take()) return;
          const on = (d: string) => {
            buf += d;
            if (take()) sock.off("data", on);
          };
          sock.on("data", on);
        }),
        2_000,
        "a JSON line",
      );
    const c = randomBytes(16);
    sock.write(`${JSON.stringify({ hello: c.toString("hex") })}\n`);
    const ch = await line();
    const s = Buffer.from(ch.nonce as string, "hex");
    assert.equal(ch.proof, mac(SECRET, "server", c, s).toString("hex"));
    sock.write(`${JSON.stringify({ auth: mac(SECRET, "client", c, s).toString("hex") })}\n`);
    sock.write(`${JSON.stringify({ op: "nudge", uaid: "old", i: 7 })}\n`);
    assert.deepEqual(await line(), { d: 1, h: "old", r: 7 });
    sock.destroy();
    assert.deepEqual(srv.failures, []);
  });
});
