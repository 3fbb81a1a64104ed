/**
 * `npm run cluster [-- --nodes N] [--no-balancer] [--logs] [--install]`: a local Edition
 * region on loopback — etcd, Redis, N push nodes (default 3) and a balancer — on free ports,
 * printed when ready. Ctrl-C or SIGTERM drains the nodes and stops everything.
 *
 * It needs `redis-server` and `etcd` on PATH: when one is missing it says which and how to
 * get it (or installs them with --install, through scripts/install-system-deps.sh).
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startLocalCluster } from "../test/support/cluster.js";

const USAGE = `usage: npm run cluster -- [options]

  --nodes <N>      push nodes, 1 to 16 (default 3)
  --no-balancer    no balancer in front of the nodes
  --logs           print the nodes' log lines, prefixed with the node's name
  --install        install what is missing (redis-server, etcd) with scripts/install-system-deps.sh
  -h, --help       print this help

Needs redis-server and etcd (Debian/Ubuntu: apt-get install redis-server etcd-server).
`;

function fail(msg: string, code = 1): never {
  process.stderr.write(`npm run cluster: ${msg}\n`);
  process.exit(code);
}

let values: {
  nodes: string;
  "no-balancer": boolean;
  logs: boolean;
  install: boolean;
  help: boolean;
};
try {
  ({ values } = parseArgs({
    options: {
      nodes: { type: "string", default: "3" },
      "no-balancer": { type: "boolean", default: false },
      logs: { type: "boolean", default: false },
      install: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }) as { values: typeof values });
} catch (err) {
  fail(`${(err as Error).message.split("\n")[0]} (see --help)`, 2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

/** Whether `cmd` is an executable on PATH. */
function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

const NEEDED = ["redis-server", "etcd"];
let missing = NEEDED.filter((c) => !onPath(c));
if (missing.length > 0 && values.install) {
  const script = fileURLToPath(new URL("./install-system-deps.sh", import.meta.url));
  console.log(`installing ${missing.join(" and ")}…`);
  const r = spawnSync("bash", [script, ...missing], { stdio: "inherit" });
  if (r.status !== 0) fail(`installing ${missing.join(", ")} failed (see above)`);
  missing = NEEDED.filter((c) => !onPath(c));
}
if (missing.length > 0) {
  fail(
    `needs ${missing.join(" and ")}, not found on PATH.\n` +
      "  install:  npm run cluster -- --install   (Debian/Ubuntu, uses apt-get; sudo when not root)\n" +
      "  or:       apt-get install redis-server etcd-server   (macOS: brew install redis etcd)",
  );
}
const count = Number(values.nodes);
if (!Number.isInteger(count) || count < 1 || count > 16) {
  fail("--nodes must be an integer from 1 to 16", 2);
}

console.log(
  `starting etcd, redis, ${count} node(s)${values["no-balancer"] ? "" : " and a balancer"}…`,
);
const cluster = await startLocalCluster({
  nodes: count,
  balancer: !values["no-balancer"],
}).catch((err: unknown) => fail(`could not start: ${(err as Error).message.split("\n")[0]}`));

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
