/**
 * `npm run client` as people use it: the real CLI as a child process, against real nodes.
 * Usage mistakes are one line and exit 2; the README's first-notification walkthrough works
 * as written (the UAID survives a restart through --state, stored updates are flushed
 * without their data); --reconnect follows the balancer's redirects and comes back on
 * another node after its node is killed, saying which node it is on.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { OPTIONS } from "../../server/src/client/args.js";
import { endpointVia, startLocalCluster } from "../support/cluster.js";
import { form, put } from "../support/http.js";
import { startNode } from "../support/node.js";
import { runClient } from "./run-client.js";

const ENDPOINT = /^ {2}endpoint (http\S+)$/;
const CONNECTED = /^connected to (ws:\/\/\S+) as uaid ([0-9a-f]{32})$/;

describe("npm run client: usage", () => {
  it("--help lists every option and exits 0", async (t) => {
    const c = runClient(["--help"], t);
    assert.equal(await c.exited, 0);
    const text = c.stdout.join("\n");
    for (const o of OPTIONS) assert.match(text, new RegExp(`--${o.name}\\b`), o.name);
    assert.match(text, /exit codes/);
  });

  const dir = mkdtempSync(join(tmpdir(), "edition-client-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: [string, string[], RegExp][] = [
    [
      "a URL without scheme",
      ["--url", "localhost:8080"],
      /has no scheme; write it as ws:\/\/localhost:8080/,
    ],
    ["an http URL", ["--url", "http://localhost:8080"], /use ws:\/\/localhost:8080/],
    ["an unknown flag", ["--chanels", "2"], /Unknown option '--chanels'.*--help/],
    ["a bad channel count", ["--channels", "lots"], /--channels must be an integer from 0 to 1000/],
    ["a flag without its value", ["--channels", "-1"], /--channels.*ambiguous/],
    [
      "a state file in a missing directory",
      ["--state", join(dir, "nope", "me.json")],
      /--state .*cannot create it/,
    ],
    ["a state path that is a directory", ["--state", dir], /is a directory/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one line on stderr, exit 2, no stack trace`, async (t) => {
      const c = runClient(args, t);
      assert.equal(await c.exited, 2);
      assert.equal(c.stderr.length, 1, c.stderr.join("\n"));
      assert.match(c.stderr[0]!, /^edition-client: /);
      assert.match(c.stderr[0]!, message);
      assert.equal(c.stdout.length, 0);
    });
  }

  it("a node that is not there: one line, exit 1; with --reconnect it backs off, then gives up", async (t) => {
    const node = await startNode({ t });
    const url = node.wsUrl;
    await node.stop();
    const once = runClient(["--url", url], t);
    assert.equal(await once.exited, 1);
    assert.match(
      once.stderr.join("\n"),
      /cannot connect to ws:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/,
    );
    assert.doesNotMatch(once.stderr.join("\n"), /^\s+at /m);

    const retrying = runClient(["--url", url, "--reconnect", "--max-attempts", "2"], t);
    assert.equal(await retrying.exited, 1);
    const out = retrying.stdout.join("\n");
    assert.match(out, /reconnecting to \S+ in \d+\.\ds \(attempt 1 of 2\)/);
    assert.match(out, /reconnecting to \S+ in \d+\.\ds \(attempt 2 of 2\)/);
    assert.match(retrying.stderr.join("\n"), /giving up after 2 failed attempts/);
  });
});

describe("npm run client: the README walkthrough", () => {
  it("keeps its UAID through --state; an update PUT while away is flushed at the next hello, without its data", async (t) => {
    const node = await startNode({ t });
    const dir = mkdtempSync(join(tmpdir(), "edition-client-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const state = join(dir, "me.json");

    const first = runClient(["--url", node.wsUrl, "--state", state], t);
    const [, onUrl, uaid] = CONNECTED.exec((await first.waitFor(CONNECTED)).line)!;
    assert.equal(onUrl, node.wsUrl);
    const endpoint = ENDPOINT.exec((await first.waitFor(ENDPOINT)).line)![1]!;
    await first.waitFor(/curl -X PUT -d version=5 http/);

    assert.equal((await put(endpoint, { body: form({ version: 5 }) })).status, 200);
    await first.waitFor(/notification channel=\S+ version=5$/);

    first.child.kill("SIGINT");
    assert.equal(await first.exited, 0);

    const away = await put(endpoint, { body: form({ version: 6, data: "hello" }) });
    assert.equal(away.status, 202);

    const second = runClient(["--url", node.wsUrl, "--state", state], t);
    assert.equal(CONNECTED.exec((await second.waitFor(CONNECTED)).line)![2], uaid);
    const flushed = await second.waitFor(/notification channel=\S+ version=6/);
    assert.doesNotMatch(flushed.line, /data=/);
    second.child.kill("SIGINT");
    assert.equal(await second.exited, 0);
  });
});

describe("npm run client --reconnect in a cluster", () => {
  it("the balancer answers a PUT with where to go; the client follows its redirect, and after its node is killed comes back on another node", async (t) => {
    const cluster = await startLocalCluster({ nodes: 2, balancer: true, t });
    t.after(() => cluster.stop());
    await cluster.converged();
    // An app server that PUTs to the balancer's address is told where to go instead.
    const misdirected = await put(`${cluster.balancer!.httpUrl}/update/sometoken`, {
      body: form({ version: 1 }),
    });
    assert.equal(misdirected.status, 404);
    assert.match(JSON.parse(misdirected.body).message, /balancer.*PUT to the endpoint URL/s);
    const dir = mkdtempSync(join(tmpdir(), "edition-client-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));

    const c = runClient(
      ["--url", cluster.balancer!.wsUrl, "--reconnect", "--state", join(dir, "me.json")],
      t,
    );
    const redirected = await c.waitFor(/^redirected to ws:\/\//);
    const hit = await c.waitFor(CONNECTED);
    const [, onUrl, uaid] = CONNECTED.exec(hit.line)!;
    assert.equal(
      `${onUrl}`.replace(/\/$/, ""),
      redirected.line.slice("redirected to ".length).replace(/\/$/, ""),
    );
    const endpoint = ENDPOINT.exec((await c.waitFor(ENDPOINT)).line)![1]!;
    const holder = cluster.nodes.find((n) => n.port === Number(new URL(onUrl!).port));
    const other = cluster.nodes.find((n) => n !== holder);
    assert.ok(holder && other, `connected to ${onUrl}, not one of the nodes`);

    holder.kill("SIGKILL");
    const lost = await c.waitFor(/^disconnected from /, 20_000, hit.index);
    await c.waitFor(
      /^reconnecting to ws:\/\/\S+ in \d+\.\ds \(attempt 1 of 20\)/,
      5_000,
      lost.index,
    );
    const back = await c.waitFor(CONNECTED, 60_000, lost.index);
    const [, newUrl, sameUaid] = CONNECTED.exec(back.line)!;
    assert.equal(Number(new URL(newUrl!).port), other.port, "back on the surviving node");
    assert.equal(sameUaid, uaid, "the UAID is kept (it is stored in Redis)");

    const r = await put(endpointVia(endpoint, other), { body: form({ version: 42 }) });
    assert.ok(r.status === 200 || r.status === 202, `PUT → ${r.status} ${r.body}`);
    await c.waitFor(/notification channel=\S+ version=42$/, 20_000, back.index);
  });
});
