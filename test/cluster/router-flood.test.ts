/**
 * A flood of garbage at a node's internal router port (a scanner, a misconfigured peer)
 * must not slow its WebSocket clients: the router cuts every such connection at its first
 * bad line. Real node, real etcd and Redis; the flood is bounded in connections and time.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, it } from "node:test";
import { disconnectAll, helloClient } from "../support/client.js";
import { startLocalCluster } from "../support/cluster.js";

/** Median round trip (ping → `{}`) over `n` sequential pings. */
async function medianPingMs(client: { barrier(t?: number): Promise<void> }, n: number) {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await client.barrier(5_000);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)]!;
}

// The flooder runs in its own process so its work does not slow this one's measurements.
const FLOODER = `
const net = require("node:net");
const port = Number(process.argv[1]);
const stopAt = Date.now() + 8000;
let opened = 0, closed = 0;
const junk = Buffer.alloc(16 * 1024, 0x7a);
function one() {
  if (opened >= 4000 || Date.now() > stopAt) return;
  opened++;
  const s = net.connect(port, "127.0.0.1");
  s.on("error", () => {});
  s.on("connect", () => s.write(junk));
  // Each of the 16 slots reconnects every 8 ms: about 2,000 garbage connections a second.
  s.on("close", () => { closed++; setTimeout(one, 8); });
}
for (let i = 0; i < 16; i++) one();
process.send({ started: true });
const t = setInterval(() => {
  if (closed >= opened && (opened >= 4000 || Date.now() > stopAt)) {
    clearInterval(t);
    process.send({ opened, closed }, () => process.exit(0));
  }
}, 20);
`;

describe("router flood", () => {
  it("garbage at the router port leaves WebSocket ping latency within 2x of idle", async (t) => {
    t.after(disconnectAll);
    const c = await startLocalCluster({
      nodes: 1,
      t,
      env: { EDITION_PING_MIN_INTERVAL_MS: "0", EDITION_PING_BURST: "1000" },
    });
    const node = c.nodes[0]!;
    const listening = await node.waitForLog((l) => l.json?.event === "listening");
    const routerPort = Number(listening.json!.routerPort);
    assert.ok(routerPort > 0);
    const client = await helloClient(node.wsUrl);
    await medianPingMs(client, 50); // warm up
    const before = await medianPingMs(client, 300);

    const flooder = spawn(process.execPath, ["-e", FLOODER, String(routerPort)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    t.after(() => flooder.kill("SIGKILL"));
    let started!: () => void;
    const running = new Promise<void>((r) => {
      started = r;
    });
    const done = new Promise<{ opened: number; closed: number }>((resolve, reject) => {
      flooder.on("message", (m: { started?: boolean; opened: number; closed: number }) => {
        if (m.started) started();
        else resolve(m);
      });
      flooder.once("exit", (code) => reject(new Error(`flooder exited ${code} without a report`)));
    });
    await running;
    const flooded = await medianPingMs(client, 300);
    const report = await done;
    // Idle measured on both sides of the flood: other load on the machine moves both.
    const idle = Math.max(before, await medianPingMs(client, 300));
    t.diagnostic(
      `ping median idle ${idle.toFixed(3)} ms, under flood ${flooded.toFixed(3)} ms; ` +
        `flood: ${report.opened} connections, all closed by the node`,
    );
    assert.ok(report.opened >= 100, `the flood ran (${report.opened} connections)`);
    assert.equal(report.closed, report.opened, "the node closed every flood connection");
    // Idle is floored at 1 ms: medians here are 0.15–0.25 ms, where another test file running
    // beside this one (npm test runs two at a time on 2 cores) moves them 3×. The regression
    // this guards against is of another order: the old router put ping p50 at 189 ms.
    const base = Math.max(idle, 1);
    assert.ok(flooded <= 2 * base, `under flood ${flooded} ms > 2 × idle ${base} ms`);
    const metrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
    const refused = metrics
      .split("\n")
      .filter((l) => l.startsWith("edition_router_auth_failures_total{"))
      .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
    assert.ok(refused >= report.opened / 2, `auth failures counted (${refused})`);
  });
});
