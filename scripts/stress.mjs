#!/usr/bin/env node
// Runs the same test files again and again while other processes keep every core busy,
// and stops at the first failure: the flake hunt behind "passes N times in a row under
// load". Usage:
//
//   npm run stress -- [--runs=20] [--busy=2] [--timeout-min=15] [file or filter …]
//
// Default files: every cluster, kill -9 and drain test (test/cluster/*.test.ts). `--busy`
// spawns that many busy-loop processes (plain `node -e` spinning at normal priority) for
// the whole run; they are killed at the end, or after `--timeout-min` per run at most.
// Prints one line per run and a summary (runs passed in a row, per-run wall time, the
// load average seen); exits 1 at the first failing run (its output is printed).
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const opts = { runs: 20, busy: 2, "timeout-min": 15 };
const filters = [];
for (const a of process.argv.slice(2)) {
  const m = /^--([a-z-]+)=(\d+)$/.exec(a);
  if (m && m[1] in opts) opts[m[1]] = Number(m[2]);
  else if (a.startsWith("--")) {
    console.error(`unknown option ${a} (known: --runs=N --busy=N --timeout-min=N)`);
    process.exit(2);
  } else filters.push(a);
}
if (opts.runs < 1 || opts.runs > 1000) {
  console.error("--runs must be 1..1000");
  process.exit(2);
}

const clusterDir = join(root, "test/cluster");
const all = readdirSync(clusterDir)
  .filter((f) => f.endsWith(".test.ts"))
  .map((f) => `test/cluster/${f}`)
  .sort();
const files =
  filters.length === 0
    ? all
    : filters.map((f) => (f.endsWith(".ts") ? f : (all.find((x) => x.includes(f)) ?? f)));

// A busy loop in 50 ms slices that ends on its own when this script goes away (its IPC
// channel closes) or after the longest the whole run may take.
const SPIN = `const end = Date.now() + ${opts.runs * opts["timeout-min"] * 60_000};
function spin() {
  const slice = Date.now() + 50;
  while (Date.now() < slice) {}
  if (Date.now() < end && process.connected) setImmediate(spin);
  else process.exit(0);
}
spin();`;
const spinners = [];
for (let i = 0; i < opts.busy; i++) {
  spinners.push(
    spawn(process.execPath, ["-e", SPIN], { stdio: ["ignore", "ignore", "ignore", "ipc"] }),
  );
}
const stopSpinners = () => {
  for (const s of spinners) s.kill("SIGKILL");
};
process.on("exit", stopSpinners);
process.on("SIGINT", () => process.exit(130));

function runOnce() {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--test", "--test-concurrency=1", "--test-timeout=300000", ...files],
      { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    const keep = (b) => {
      out += b;
      // Bounded: only the tail matters for a failure report.
      if (out.length > 2_000_000) out = out.slice(-1_000_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), opts["timeout-min"] * 60_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const tests = /^# tests (\d+)/m.exec(out)?.[1] ?? "?";
      const pass = /^# pass (\d+)/m.exec(out)?.[1] ?? "?";
      const fail = /^# fail (\d+)/m.exec(out)?.[1] ?? "?";
      resolve({ ok: code === 0, code, signal, ms: Date.now() - t0, tests, pass, fail, out });
    });
  });
}

console.log(
  `stress: ${files.length} files, up to ${opts.runs} runs, ${opts.busy} busy-loop processes beside them`,
);
for (const f of files) console.log(`  ${f}`);
const times = [];
let loadMax = 0;
for (let i = 1; i <= opts.runs; i++) {
  const r = await runOnce();
  const load = loadavg()[0];
  loadMax = Math.max(loadMax, load);
  times.push(r.ms);
  console.log(
    `run ${i}: ${r.ok ? "pass" : "FAIL"} in ${(r.ms / 1000).toFixed(0)} s (tests ${r.tests}, pass ${r.pass}, fail ${r.fail}), load average ${load.toFixed(1)}`,
  );
  if (!r.ok) {
    console.log(r.out.slice(-20_000));
    console.log(`stress: failed on run ${i} after ${i - 1} in a row`);
    process.exit(1);
  }
}
times.sort((a, b) => a - b);
console.log(
  `stress: ${opts.runs} runs in a row passed; per run ${(times[0] / 1000).toFixed(0)}–${(times.at(-1) / 1000).toFixed(0)} s; highest 1-min load average ${loadMax.toFixed(1)} on ${(await import("node:os")).cpus().length} cores`,
);
// The spinners' IPC channels keep this process alive: end them, and it, explicitly.
stopSpinners();
process.exit(0);
