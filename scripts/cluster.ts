/**
 * `npm run cluster [-- --nodes N] [--no-balancer] [--logs]`: a local Edition region on
 * loopback — etcd, Redis, N push nodes (default 3) and a balancer — on free ports, printed
 * when ready. Ctrl-C or SIGTERM drains the nodes and stops everything.
 */
import { parseArgs } from "node:util";
import { startLocalCluster } from "../test/support/cluster.js";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "3" },
    "no-balancer": { type: "boolean", default: false },
    logs: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log("usage: npm run cluster -- [--nodes N] [--no-balancer] [--logs]");
  process.exit(0);
}
const count = Number(values.nodes);
if (!Number.isInteger(count) || count < 1 || count > 16) {
  console.error("--nodes must be an integer from 1 to 16");
  process.exit(2);
}

console.log(
  `starting etcd, redis, ${count} node(s)${values["no-balancer"] ? "" : " and a balancer"}…`,
);
const cluster = await startLocalCluster({
  nodes: count,
  balancer: !values["no-balancer"],
});

const rows: string[][] = [["process", "public (ws + PUT)", "metrics", "notes"]];
rows.push(["etcd", cluster.etcd.endpoint, "", `prefix ${cluster.env.EDITION_ETCD_PREFIX}`]);
rows.push(["redis", cluster.redis.url, "", ""]);
for (const [i, n] of cluster.nodes.entries())
  rows.push([`node-${i}`, n.wsUrl, n.adminUrl, `pid ${n.pid}`]);
if (cluster.balancer)
  rows.push(["balancer", cluster.balancer.wsUrl, cluster.balancer.adminUrl, "redirects hellos"]);
const width = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padEnd(width[c]!)).join("  "));
const entry = cluster.balancer?.wsUrl ?? cluster.nodes[0]!.wsUrl;
console.log(
  `\nready. try:  npm run client -- --url ${entry.replace(/\/$/, "")}\nCtrl-C stops everything.`,
);

if (values.logs) {
  let seen = cluster.nodes.map(() => 0);
  setInterval(() => {
    seen = cluster.nodes.map((n, i) => {
      for (const l of n.logs.slice(seen[i])) console.log(`[node-${i}] ${l.text}`);
      return n.logs.length;
    });
  }, 200).unref();
}

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: draining nodes and stopping…`);
  await cluster.stop();
  console.log("stopped.");
  process.exit(0);
};
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));
// Keep the event loop alive until a signal arrives.
setInterval(() => {}, 1 << 30);
