/**
 * `npm run cluster` as the README tells people to use it: without redis-server or etcd it
 * says what is missing and how to get it (no stack trace); with them it starts a region,
 * prints the balancer's address, and the README's client command gets a notification
 * through it; Ctrl-C stops everything.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runClient } from "../client/run-client.js";
import { form, put } from "../support/http.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCRIPT = fileURLToPath(new URL("../../scripts/cluster.ts", import.meta.url));

function runCluster(args: string[], env: NodeJS.ProcessEnv, t: { after(fn: () => unknown): void }) {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: string[] = [];
  const err: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (l) => {
    out.push(l);
    for (const w of waiters) w();
  });
  createInterface({ input: child.stderr! }).on("line", (l) => err.push(l));
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = out.find((l) => re.test(l));
        if (hit !== undefined) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${re} within ${ms} ms:\n${out.join("\n")}\n${err.join("\n")}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { child, out, err, exited, waitFor };
}

describe("npm run cluster", () => {
  it("without redis-server and etcd: names them and how to install them, exit 1", async (t) => {
    // A PATH with node and nothing else: a machine with only Node installed.
    const bin = mkdtempSync(join(tmpdir(), "edition-path-"));
    t.after(() => rmSync(bin, { recursive: true, force: true }));
    symlinkSync(process.execPath, join(bin, "node"));
    const c = runCluster([], { HOME: process.env.HOME, PATH: bin }, t);
    assert.equal(await c.exited, 1);
    const text = c.err.join("\n");
    assert.match(text, /needs redis-server and etcd, not found on PATH/);
    assert.match(text, /npm run cluster -- --install/);
    assert.doesNotMatch(text, /^\s+at /m, "no stack trace");
    assert.doesNotMatch(text, /ENOENT/);
  });

  it("starts a region; the README's client gets a notification through the balancer; Ctrl-C stops it", async (t) => {
    const c = runCluster(["--nodes", "1"], process.env, t);
    const hint = await c.waitFor(/try: +npm run client -- --url ws:\/\//, 60_000);
    const url = /--url (ws:\/\/\S+)/.exec(hint)![1]!;
    const balancerRow = c.out.find((l) => l.startsWith("balancer "));
    assert.ok(balancerRow?.includes(url), "the client is sent to the balancer");

    const client = runClient(["--url", url], t);
    await client.waitFor(/^redirected to ws:\/\//);
    const endpoint = /^ {2}endpoint (http\S+)$/.exec(
      (await client.waitFor(/^ {2}endpoint http/)).line,
    )![1]!;
    assert.equal((await put(endpoint, { body: form({ version: 7 }) })).status, 200);
    await client.waitFor(/notification channel=\S+ version=7$/);
    client.child.kill("SIGINT");
    assert.equal(await client.exited, 0);

    c.child.kill("SIGINT");
    assert.equal(await c.exited, 0);
    assert.ok(c.out.includes("stopped."), c.out.join("\n"));
  });
});
