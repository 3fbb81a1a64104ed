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
const r = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=300000", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(r.status ?? 1);
