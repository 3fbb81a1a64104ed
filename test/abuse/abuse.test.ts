/**
 * The abuse suite (issue 13): each attack runs against a real node with the memory store,
 * then against a node on a real redis-server. For each it asserts the limit, the reply
 * (close code or status, as docs/limits.md names them), that memory is flat after the
 * attack (heap after a full GC, read from the node's own /metrics; RSS for frames uWS
 * buffers), and that a well-behaved client on the same node — on its own thread and
 * source address — keeps its p99 ping round trip within 3× of idle.
 *
 * Limits are set low so that each attack reaches them in a second or two. Attackers use
 * 127.0.0.2+ source addresses, each attack its own, so per-IP limits only bite where tested.
 */
import assert from "node:assert/strict";
import { connect as netConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import { type PushNode, runNode, startNode } from "../support/node.js";
import { freePort, type RedisServer, redisCommand, startRedis } from "../support/redis.js";
import {
  anonymousRounds,
  bigObject,
  closedWithin,
  flood,
  metric,
  oneFrame,
  p99,
  partialFrames,
  pendingFlush,
  rawClosedWithin,
  registerFlood,
  silentSockets,
  type Target,
  trickledFrame,
  wellBehaved,
} from "./attacks.js";
import { GC_PRELOAD } from "./spawn.js";

const MAX_CHANNELS = 100;
const HELLO_TIMEOUT_S = 2;
const IDLE_TIMEOUT_S = 8;
const FRAME_TIMEOUT_S = 9;
const UAID_TTL_S = 6;
const PER_IP = 60;
const HANDSHAKES_PER_S = 50;
const NOTIFICATION_BYTES = 4096;
/** Idle p99 floor (ms): below it, scheduler noise on a shared 2-core machine dominates. */
const IDLE_FLOOR_MS = 25;
/** Round trips an attack window must hold at least (the pinger sends one every 5 ms). */
const MIN_SAMPLES = 5;

const ENV = {
  EDITION_PING_MIN_INTERVAL_MS: "2",
  EDITION_PING_BURST: "20",
  EDITION_MAX_CHANNELS: String(MAX_CHANNELS),
  EDITION_HELLO_TIMEOUT_SECONDS: String(HELLO_TIMEOUT_S),
  EDITION_IDLE_TIMEOUT_SECONDS: String(IDLE_TIMEOUT_S),
  EDITION_FRAME_TIMEOUT_SECONDS: String(FRAME_TIMEOUT_S),
  EDITION_UAID_TTL_SECONDS: String(UAID_TTL_S),
  EDITION_MAX_CONNECTIONS_PER_IP: String(PER_IP),
  EDITION_HANDSHAKES_PER_IP_PER_SECOND: String(HANDSHAKES_PER_S),
  EDITION_MAX_NOTIFICATION_BYTES: String(NOTIFICATION_BYTES),
  EDITION_LOG_LEVEL: "warn",
  NODE_OPTIONS: `--import=${GC_PRELOAD}`,
};

let nextSource = 2;
/** A fresh attacker source address. */
const source = () => `127.0.0.${nextSource++}`;

function suite(kind: "memory" | "redis") {
  describe(`abuse against a node (${kind} store)`, () => {
    let node: PushNode;
    let redis: RedisServer | undefined;
    let t: Target;
    let good: Awaited<ReturnType<typeof wellBehaved>>;
    let gcs = 0;

    before(async () => {
      if (kind === "redis") redis = await startRedis();
      // `listening` is logged at info level; the rest of the node's chatter is not needed.
      node = await startNode({
        env: { ...ENV, EDITION_LOG_LEVEL: "info", EDITION_REDIS_URL: redis?.url },
      });
      t = { port: node.port, wsUrl: node.wsUrl, httpUrl: node.httpUrl, adminUrl: node.adminUrl };
      good = await wellBehaved(t, 5);
    });
    after(async () => {
      await good?.stop();
      node?.kill();
      await redis?.dispose();
    });

    /** Heap after a full GC (the preload runs it on SIGUSR2), from the node's /metrics. */
    async function heap(): Promise<number> {
      const n = ++gcs;
      process.kill(node.pid, "SIGUSR2");
      await node.waitForLog((l) => l.json?.event === "test_gc" && l.json.n === n);
      return metric(t.adminUrl, "nodejs_heap_size_used_bytes");
    }
    async function rss(): Promise<number> {
      await heap();
      return metric(t.adminUrl, "process_resident_memory_bytes");
    }

    /**
     * Runs `attack` between an idle window and its own window of the well-behaved client's
     * round trips, and asserts the client kept p99 within 3× of idle and was never closed.
     * A `repeatable` attack (fresh sockets and sources each time, nothing it leaves behind)
     * whose window missed the bound is run once more and judged on that second run: a
     * stall of the shared machine lands in one window, an attack that costs the node that
     * much latency shows in both.
     */
    async function underAttack<T>(
      name: string,
      attack: () => Promise<T>,
      { repeatable = false } = {},
    ): Promise<T> {
      let first = "";
      for (let attempt = 1; ; attempt++) {
        const m = await measured(name, attack);
        assert.equal(m.closedCode, undefined, `${name}: the well-behaved client was closed`);
        assert.ok(m.samples >= 3, `${name}: too few round trips (${m.samples})`);
        const within = m.attackP99 <= 3 * m.idleP99;
        const why = `${name}: well-behaved p99 ${m.attackP99.toFixed(1)} ms > 3 × idle ${m.idleP99.toFixed(1)} ms`;
        if (within || !repeatable || attempt >= 2) {
          assert.ok(within, attempt > 1 ? `${why} (second run; first: ${first})` : why);
          return m.out;
        }
        console.log(`# ${why}: run again`);
        first = why;
      }
    }
    async function measured<T>(name: string, attack: () => Promise<T>) {
      await good.take();
      await new Promise((r) => setTimeout(r, 1000)); // an idle window of ~200 round trips
      const idle = await good.take();
      const t0 = performance.now();
      const out = await attack();
      const ms = performance.now() - t0;
      let during = await good.take();
      // A short attack: keep measuring until a few round trips overlapped or followed it.
      for (let i = 0; i < 20 && during.samples.length < MIN_SAMPLES; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const more = await good.take();
        during = { ...more, samples: [...during.samples, ...more.samples] };
      }
      if (process.env.ABUSE_DEBUG) {
        const tail = [...during.samples]
          .sort((a, b) => b - a)
          .slice(0, 5)
          .map((x) => x.toFixed(1));
        const itail = [...idle.samples]
          .sort((a, b) => b - a)
          .slice(0, 3)
          .map((x) => x.toFixed(1));
        console.log(
          `${kind} ${name}: ${ms.toFixed(0)} ms, ${during.samples.length} rtts, top ${tail}; idle top ${itail}`,
        );
      }
      return {
        out,
        closedCode: during.closedCode,
        samples: during.samples.length,
        idleP99: Math.max(p99(idle.samples), IDLE_FLOOR_MS),
        attackP99: p99(during.samples),
      };
    }

    it("channels per UAID are bounded at register: 401 errno 104, then close; the rest stay", async () => {
      const r = await underAttack("channels", () => registerFlood(t, MAX_CHANNELS + 20, source()));
      assert.equal(r.accepted, MAX_CHANNELS, JSON.stringify(r.refused ?? r.closeCode));
      assert.equal(r.refused?.status, 401);
      assert.equal(r.refused?.errno, 104);
      assert.equal(r.refused?.messageType, "register");
      assert.equal(r.closeCode, 1000);
      // Nothing accepted is lost: the first channel still takes updates.
      const res = await fetch(r.endpoints[0]!, {
        method: "PUT",
        body: new URLSearchParams("version=3"),
      });
      assert.equal(res.status, 202);
    });

    it("a large flush is paged into notification frames of bounded size, every update once", async () => {
      const h0 = await heap();
      const r = await underAttack("pending-flush", () => pendingFlush(t, MAX_CHANNELS, source()));
      assert.equal(r.registered, MAX_CHANNELS, JSON.stringify(r.refused));
      assert.deepEqual(r.putStatuses, { 202: MAX_CHANNELS });
      assert.equal(r.updates, MAX_CHANNELS);
      assert.ok(r.frames >= 2, `${r.frames} frame(s)`);
      assert.ok(r.maxFrameBytes <= NOTIFICATION_BYTES, `largest frame ${r.maxFrameBytes} B`);
      assert.ok((await heap()) - h0 < 1_000_000, "heap flat after the flush");
    });

    it("UAID records of clients that never come back expire: memory flat, old endpoints 410", async () => {
      const rounds = 1500;
      const h0 = await heap();
      const keys0 = redis ? Number(await redisCommand(redis.port, ["DBSIZE"])) : 0;
      const sources = Array.from({ length: 3 }, source);
      const records0 = await metric(t.adminUrl, "edition_store_records");
      const r = await underAttack("uaid-records", async () => {
        const parts = await Promise.all(
          sources.map((s) => anonymousRounds(t, rounds / sources.length, s, 2)),
        );
        return { rounds: parts.reduce((a, p) => a + p.rounds, 0), endpoints: parts[0]!.endpoints };
      });
      assert.equal(r.rounds, rounds);
      // Expired after UAID_TTL_S of inactivity, swept within a second or two after that.
      const end = Date.now() + (UAID_TTL_S + 10) * 1000;
      let status = 0;
      while (Date.now() < end) {
        const res = await fetch(r.endpoints[0]!, {
          method: "PUT",
          body: new URLSearchParams("version=4"),
        });
        status = res.status;
        if (status === 410) break;
        await new Promise((res) => setTimeout(res, 250));
      }
      assert.equal(status, 410, "an expired UAID's endpoint answers 410");
      if (redis) {
        let keys = Number.POSITIVE_INFINITY;
        while (Date.now() < end && keys > keys0) {
          keys = Number(await redisCommand(redis.port, ["DBSIZE"]));
          if (keys > keys0) await new Promise((res) => setTimeout(res, 250));
        }
        assert.ok(keys <= keys0, `Redis keys ${keys0} → ${keys}`);
      } else {
        // The sweep (every second) removes every expired record.
        let records = Number.POSITIVE_INFINITY;
        while (Date.now() < end && records > records0) {
          records = await metric(t.adminUrl, "edition_store_records");
          if (records > records0) await new Promise((res) => setTimeout(res, 250));
        }
        assert.ok(records <= records0, `store records ${records0} → ${records}`);
      }
      // Heap: within the same 1 MB as every attack here (the records gauge above is exact).
      const grown = (await heap()) - h0;
      assert.ok(grown < 1_000_000, `heap grew ${(grown / 1e6).toFixed(2)} MB and stayed`);
    });

    it("huge integers and deep nesting are refused by a linear scan (1003), fast", async () => {
      const h0 = await heap();
      const r = await underAttack(
        "json",
        async () => {
          const digits = await oneFrame(
            t,
            `{"messageType":"ack","updates":[{"channelID":"x","version":${"9".repeat(520_000)}}]}`,
            source(),
          );
          const d = 250_000;
          const nesting = await oneFrame(
            t,
            `{"messageType":"ack","v":12345678901234567890,"x":${"[".repeat(d)}${"]".repeat(d)}}`,
            source(),
          );
          return { digits, nesting };
        },
        { repeatable: true },
      );
      for (const x of [r.digits, r.nesting]) {
        assert.equal(x.closeCode, 1003);
        assert.deepEqual(x.replies, [], "no reply to an invalid frame");
      }
      assert.ok((await heap()) - h0 < 1_000_000, "heap flat");
    });

    it("every control message shares one rate limit: purge and hello floods are closed with 4774", async () => {
      const r = await underAttack(
        "control-flood",
        async () => ({
          purge: await flood(t, '{"messageType":"purge"}', 500, source()),
          hello: await flood(t, '{"messageType":"hello","uaid":"","channelIDs":[]}', 500, source()),
        }),
        { repeatable: true },
      );
      for (const x of [r.purge, r.hello]) {
        assert.equal(x.closeCode, 4774, JSON.stringify(x.errors));
        assert.ok(x.errors.length === 1 && x.errors[0]!.status === 401, JSON.stringify(x.errors));
        assert.ok(x.pongs <= 30, `${x.pongs} replies before the close`);
      }
    });

    it("sockets that never say hello are closed at the hello deadline (4408)", async () => {
      const h0 = await heap();
      const r = await underAttack("never-hello", async () => {
        const parts = await Promise.all(
          [source(), source(), source()].map((src) => silentSockets(t, 50, src)),
        );
        const sockets = parts.flatMap((p) => p.sockets);
        const refused = parts.reduce((a, p) => a + p.refused, 0);
        return { refused, codes: await closedWithin(sockets, (HELLO_TIMEOUT_S + 3) * 1000) };
      });
      assert.equal(r.refused, 0);
      assert.deepEqual(r.codes, { 4408: 150 });
      assert.ok((await heap()) - h0 < 1_000_000, "heap flat");
    });

    it("half-sent frames are dropped with their sockets: RSS back down", async () => {
      const r0 = await rss();
      const r = await underAttack("partial-frames", async () => {
        const parts = await Promise.all(
          [source(), source()].map((src) => partialFrames(t, 50, 256 * 1024, 240 * 1024, src)),
        );
        const sockets = parts.flatMap((p) => p.sockets);
        const during = await rss();
        const closed = await rawClosedWithin(sockets, (HELLO_TIMEOUT_S + 3) * 1000);
        return { refused: parts.reduce((a, p) => a + p.refused, 0), during, closed };
      });
      assert.equal(r.refused, 0);
      assert.equal(r.closed, 100);
      // 100 × 240 KiB were buffered (~24 MB); freed with the sockets.
      const r1 = await rss();
      assert.ok(
        r1 - r0 < 12_000_000,
        `RSS ${((r.during - r0) / 1e6).toFixed(1)} MB during, ${((r1 - r0) / 1e6).toFixed(1)} MB after`,
      );
    });

    it("a frame kept half-sent after hello (trickled) is dropped at the frame timeout (4408)", async () => {
      // Data keeps uWS's idle timer alive; only completed frames (and pongs) count here.
      const r = await trickledFrame(t, 256 * 1024, source(), (FRAME_TIMEOUT_S + 4) * 1000);
      assert.notEqual(r.ms, "open", "still open past the frame timeout");
      assert.equal(r.closeCode, 4408, `closed after ${r.ms} ms`);
    });

    it("an oversized frame is refused with 1009 and no reply", async () => {
      const r = await underAttack(
        "oversize",
        async () => ({
          over: await oneFrame(t, bigObject(600 * 1024), source()),
          justOver: await oneFrame(t, bigObject(512 * 1024 + 1), source()),
          limit: await oneFrame(t, bigObject(512 * 1024), source()),
        }),
        { repeatable: true },
      );
      assert.equal(r.over.closeCode, 1009);
      assert.equal(r.justOver.closeCode, 1009);
      // Exactly the limit is a frame like any other (a ping here: answered `{}` twice).
      assert.equal(r.limit.closeCode, "open");
      assert.equal(r.limit.replies[0], "{}");
    });

    it("per-source-IP: connections past the limit and handshakes past the rate get 429", async () => {
      const r = await underAttack("per-ip", async () => {
        const many = await silentSockets(t, PER_IP + 30, source()); // within the rate burst
        const open = many.sockets.filter((ws) => ws.readyState === ws.OPEN).length;
        for (const ws of many.sockets) ws.terminate();
        // Open-and-drop as fast as possible: the bucket (burst 2 s worth) runs dry.
        const src = source();
        let accepted = 0;
        let refused = 0;
        const end = Date.now() + 10_000;
        while (refused === 0 && accepted < 3 * HANDSHAKES_PER_S && Date.now() < end) {
          const batch = await silentSockets(t, 50, src);
          accepted += batch.sockets.length;
          refused += batch.refused;
          for (const ws of batch.sockets) ws.terminate();
        }
        return { open, refusedConnections: many.refused, accepted, refused };
      });
      assert.equal(r.open, PER_IP);
      assert.equal(r.refusedConnections, 30);
      assert.ok(r.refused > 0, `no handshake refused after ${r.accepted}`);
      assert.ok(
        r.accepted >= 2 * HANDSHAKES_PER_S,
        `${r.accepted} accepted before the first refusal`,
      );
    });
  });
}

suite("memory");
suite("redis");

describe("start-up checks", () => {
  it("a second node on a taken port exits non-zero with a clear message", async (tc) => {
    const port = await freePort();
    const first = await startNode({
      env: { EDITION_HOST: "0.0.0.0", EDITION_PORT: String(port) },
      t: tc,
    });
    const second = await runNode({ env: { EDITION_HOST: "0.0.0.0", EDITION_PORT: String(port) } });
    assert.notEqual(second.code, 0);
    assert.match(
      second.stdout + second.stderr,
      new RegExp(`port ${port} on 0\\.0\\.0\\.0 is already in use`),
    );
    first.kill();
  });

  it("metrics listen on loopback when the public host is a wildcard", async (tc) => {
    const node = await startNode({ env: { EDITION_HOST: "0.0.0.0" }, t: tc });
    const reach = (host: string) =>
      new Promise<boolean>((resolve) => {
        const s = netConnect({ host, port: node.metricsPort });
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      });
    assert.equal(await reach("127.0.0.1"), true);
    assert.equal(await reach("127.0.0.2"), false, "not on every address");
    // The public port does listen on every address.
    const pub = await fetch(`http://127.0.0.2:${node.port}/update/x`, { method: "PUT" });
    assert.equal(pub.status, 404);
  });

  it("a cluster node refuses to start without token keys or with a guessable secret", async () => {
    const base = {
      EDITION_ETCD_ENDPOINTS: "http://127.0.0.1:1",
      EDITION_CLUSTER_SECRET: "0f3a9c1b7e5d2468ab",
      EDITION_TOKEN_KEYS: `1:${Buffer.alloc(32, 9).toString("base64")}`,
    };
    const noKeys = await runNode({ env: { ...base, EDITION_TOKEN_KEYS: undefined } });
    assert.equal(noKeys.code, 2);
    assert.match(noKeys.stderr, /EDITION_TOKEN_KEYS: required with EDITION_ETCD_ENDPOINTS/);
    const weak = await runNode({ env: { ...base, EDITION_CLUSTER_SECRET: "aaaaaaaaaaaaaaaa" } });
    assert.equal(weak.code, 2);
    assert.match(weak.stderr, /EDITION_CLUSTER_SECRET: too guessable/);
  });
});
