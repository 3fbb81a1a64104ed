#!/usr/bin/env node
// Runs every test tier with node:test. Node 20 does not expand globs after --test, so the
// file list is built here. Tiers: unit (*.test.ts beside the code), contract and
// end-to-end (test/**/*.test.ts). Usage: node scripts/test.mjs [--unit|--e2e] [filter]
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const tier = args.find((a) => a === "--unit" || a === "--e2e");
const filter = args.find((a) => !a.startsWith("--"));

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}

const unit = [...walk(join(root, "server/src")), ...walk(join(root, "operator/src"))];
const e2e = walk(join(root, "test"));
let files = tier === "--unit" ? unit : tier === "--e2e" ? e2e : [...unit, ...e2e];
if (filter) files = files.filter((f) => f.includes(filter));
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
// The real-Kubernetes tier (a control plane, containerd, pods and k6 on the same 2 cores)
// runs alone, after the rest: beside it, the timing of the cluster and observability tiers
// is not what they were written for.
const alone = files.filter((f) => f.startsWith("test/kube-e2e/"));
const shared = files.filter((f) => !alone.includes(f));
let status = 0;
// Per file: the real-Kubernetes file brings a cluster up, builds images and rolls pods; on a
// slow CI machine it outlived 300 s (its own suite allows 900 s).
for (const [batch, concurrency, timeoutMs] of [
  [shared, 2, 300_000],
  [alone, 1, 900_000],
]) {
  if (batch.length === 0) continue;
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      `--test-concurrency=${concurrency}`,
      `--test-timeout=${timeoutMs}`,
      ...batch,
    ],
    { cwd: root, stdio: "inherit" },
  );
  if ((r.status ?? 1) !== 0) status = r.status ?? 1;
}
process.exit(status);
