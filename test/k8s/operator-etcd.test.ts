/**
 * The operator's etcd adapter against a real etcd: members are read from what nodes write,
 * region states land where nodes watch, and an unreachable region answers within the
 * timeout instead of stalling the reconcile.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { createServer } from "node:net";
import { test } from "node:test";
import { Etcd3 } from "etcd3";
import { membersPrefix, regionStateKey } from "../../operator/src/region-etcd.js";
import { Etcd3RegionEtcd } from "../../operator/src/region-etcd3.js";
import { findTool, kubeSkip } from "../support/kube.js";
import { scratchDir } from "../support/scratch.js";

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });

test("Etcd3RegionEtcd reads members and publishes region states", {
  skip: kubeSkip(["etcd"]),
  timeout: 60_000,
}, async (t) => {
  const dir = scratchDir("edition-op-etcd-");
  const [client, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${client}`;
  const etcd = spawn(
    findTool("etcd")!,
    [
      `--data-dir=${dir}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=default=http://127.0.0.1:${peer}`,
      "--log-level=error",
      "--logger=zap",
    ],
    { stdio: "ignore" },
  );
  const adapter = new Etcd3RegionEtcd(1000);
  const raw = new Etcd3({ hosts: url });
  t.after(async () => {
    raw.close();
    await adapter.close();
    etcd.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
  });
  const target = { endpoints: [url], prefix: "/edition" };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await raw.put("/probe").value("1");
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await raw.put(`${membersPrefix("/edition", "eu")}push-eu-0`).value(
    JSON.stringify({
      nodeId: "push-eu-0",
      capacity: 100,
      connections: 42,
      draining: false,
      updatedAt: "x",
    }),
  );
  await raw.put(`${membersPrefix("/edition", "eu")}garbage`).value("not json");
  await raw
    .put(`${membersPrefix("/edition", "us")}push-us-0`)
    .value(JSON.stringify({ nodeId: "push-us-0", capacity: 1, connections: 1 }));
  const members = await adapter.members(target, "eu");
  assert.deepEqual(
    members.map((m) => [m.nodeId, m.connections, m.capacity]),
    [["push-eu-0", 42, 100]],
  );

  await adapter.publishRegionStates(target, {
    eu: { state: "active", since: "s" },
    us: { state: "failed", since: "t" },
  });
  assert.equal(
    await raw.get(regionStateKey("/edition", "us")).string(),
    '{"state":"failed","since":"t"}',
  );
  await adapter.removeRegionStates(target, ["eu", "us"]);
  assert.equal(await raw.get(regionStateKey("/edition", "us")).string(), null);

  const started = Date.now();
  await assert.rejects(
    adapter.members(
      { endpoints: [`http://127.0.0.1:${await freePort()}`], prefix: "/edition" },
      "eu",
    ),
  );
  assert.ok(Date.now() - started < 5000, "an unreachable etcd answers within the timeout");
});
