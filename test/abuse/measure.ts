/**
 * Prints what each attack of issue 13 does to a node built from any checkout:
 *
 *   node --import tsx test/abuse/measure.ts <checkout root> [EDITION_X=v …]
 *
 * Used for the before/after table (docs/limits.md); not a test (no assertions).
 */
import { connect } from "node:net";
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
  wellBehaved,
} from "./attacks.js";
import { spawnNode } from "./spawn.js";

const root = process.argv[2] ?? process.cwd();
const extra = Object.fromEntries(
  process.argv.slice(3).map((a) => a.split("=", 2) as [string, string]),
);
const env = { EDITION_PING_MIN_INTERVAL_MS: "20", EDITION_LOG_LEVEL: "info", ...extra };
const only = process.env.ATTACKS?.split(",");
const mb = (b: number) => Math.round(b / 1e5) / 10;

async function main() {
  const node = await spawnNode(root, env);
  const t: Target = {
    port: node.port,
    wsUrl: `ws://127.0.0.1:${node.port}/`,
    httpUrl: `http://127.0.0.1:${node.port}`,
    adminUrl: `http://127.0.0.1:${node.metricsPort}`,
  };
  const heap = async () => {
    await node.gc();
    return metric(t.adminUrl, "nodejs_heap_size_used_bytes");
  };
  const rss = async () => {
    await node.gc();
    return metric(t.adminUrl, "process_resident_memory_bytes");
  };
  const good = await wellBehaved(t, 25);
  const idle = async () => {
    await good.take();
    await new Promise((r) => setTimeout(r, 2000));
    return p99((await good.take()).samples);
  };
  const run = async (name: string, f: () => Promise<unknown>) => {
    if (only && !only.includes(name)) return;
    const i = await idle();
    const t0 = performance.now();
    let r: unknown;
    try {
      r = await f();
    } catch (err) {
      r = { error: String(err) };
    }
    const during = p99((await good.take()).samples);
    console.log(
      JSON.stringify({
        attack: name,
        ms: Math.round(performance.now() - t0),
        idleP99: +i.toFixed(1),
        attackP99: +during.toFixed(1),
        ...(r as object),
      }),
    );
  };

  await run("channels", async () => {
    const r = await registerFlood(t, 1500, "127.0.0.2");
    return { registered: r.accepted, refused: r.refused, closeCode: r.closeCode };
  });
  await run("uaid-records", async () => {
    const h0 = await heap();
    const r = await anonymousRounds(t, 5000, "127.0.0.3");
    const h1 = await heap();
    await new Promise((res) =>
      setTimeout(res, Number(extra.EDITION_UAID_TTL_SECONDS ?? 0) * 1000 + 2500),
    );
    const h2 = await heap();
    const put = await fetch(r.endpoints[0]!, {
      method: "PUT",
      body: new URLSearchParams("version=1"),
    });
    return {
      rounds: r.rounds,
      heapAfterMB: mb(h1 - h0),
      heapLaterMB: mb(h2 - h0),
      putOldEndpoint: put.status,
    };
  });
  await run("pending-flush", () => pendingFlush(t, 1200, "127.0.0.4"));
  await run("bigint", async () => {
    const digits = "9".repeat(520_000);
    return oneFrame(
      t,
      `{"messageType":"ack","updates":[{"channelID":"x","version":${digits}}]}`,
      "127.0.0.5",
    );
  });
  await run("nesting", async () => {
    const d = 250_000;
    return oneFrame(
      t,
      `{"messageType":"ack","v":12345678901234567890,"x":${"[".repeat(d)}${"]".repeat(d)}}`,
      "127.0.0.5",
    );
  });
  await run("purge", () => flood(t, '{"messageType":"purge"}', 2000, "127.0.0.6"));
  await run("partial-frames", async () => {
    const r0 = await rss();
    const r = await partialFrames(t, 100, 500 * 1024, 480 * 1024, "127.0.0.7");
    const r1 = await rss();
    const closed = await rawClosedWithin(r.sockets, 15_000);
    const r2 = await rss();
    return {
      sockets: r.sockets.length,
      refused: r.refused,
      rssDuringMB: mb(r1 - r0),
      closedWithin15s: closed,
      rssAfterMB: mb(r2 - r0),
    };
  });
  await run("never-hello", async () => {
    const r = await silentSockets(t, 300, "127.0.0.8");
    return {
      sockets: r.sockets.length,
      refused: r.refused,
      closeCodesWithin15s: await closedWithin(r.sockets, 15_000),
    };
  });
  await run("oversize", async () => {
    const r = await oneFrame(t, bigObject(600 * 1024), "127.0.0.9");
    return { closeCode: r.closeCode };
  });
  await run("per-ip-connections", async () => {
    const r = await silentSockets(t, 1200, "127.0.0.10");
    for (const ws of r.sockets) ws.terminate();
    return { opened: r.sockets.length, refused: r.refused };
  });
  await run("metrics-bind", async () => {
    const n2 = await spawnNode(root, { ...env, EDITION_HOST: "0.0.0.0" });
    const ok = await new Promise<boolean>((res) => {
      const s = connect({ host: "127.0.0.2", port: n2.metricsPort });
      s.on("connect", () => {
        s.destroy();
        res(true);
      });
      s.on("error", () => res(false));
    });
    n2.kill();
    return { metricsReachableOn127002: ok };
  });
  await run("port-taken", async () => {
    try {
      const fixed = String(20000 + Math.floor(Math.random() * 20000));
      const n1 = await spawnNode(root, { ...env, EDITION_HOST: "0.0.0.0", EDITION_PORT: fixed });
      const n2 = await spawnNode(root, {
        ...env,
        EDITION_HOST: "0.0.0.0",
        EDITION_PORT: String(n1.port),
      }).finally(() => n1.kill());
      n2.kill();
      return { secondNode: "started" };
    } catch (err) {
      return {
        secondNode: "refused",
        message: String(err)
          .split("\n")
          .find((l) => /port|listen/i.test(l)),
      };
    }
  });
  await good.stop();
  node.kill();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
