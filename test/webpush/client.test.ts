/**
 * `npm run client -- --webpush`: the client subscribes (with a VAPID key), prints a
 * subscription the `web-push` library sends to over https, decrypts and prints the payload;
 * restarted with its state file, it gets what was pushed while it was away.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import webpush from "web-push";
import { startNode } from "../support/node.js";
import { makeCerts } from "./tls.js";

const CLI = fileURLToPath(new URL("../../server/src/client/cli.ts", import.meta.url));

function client(args: string[], t: { after(fn: () => unknown): void }) {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "tsx", CLI, "--webpush", ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  t.after(() => child.kill("SIGKILL"));
  const lines: string[] = [];
  const waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  for (const s of [child.stdout!, child.stderr!]) {
    createInterface({ input: s }).on("line", (l) => {
      lines.push(l);
      const w = waiters.findIndex((x) => x.pred(l));
      if (w >= 0) waiters.splice(w, 1)[0]!.resolve(l);
    });
  }
  const line = (pred: (l: string) => boolean, what: string, ms = 20_000) => {
    const seen = lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${what} within ${ms} ms:\n${lines.join("\n")}`)),
        ms,
      );
      waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  };
  const stop = () =>
    new Promise<void>((r) => {
      child.once("close", () => r());
      child.kill("SIGINT");
    });
  return { line, stop };
}

describe("npm run client -- --webpush", () => {
  it("prints a subscription, decrypts pushes, and catches up after a restart", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "edition-wp-client-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const certs = makeCerts(dir);
    const node = await startNode({
      t,
      env: { EDITION_TLS_CERT: certs.certFile, EDITION_TLS_KEY: certs.keyFile },
    });
    const vapid = webpush.generateVAPIDKeys();
    const args = [
      "--url",
      node.publicUrl.replace(/^https/, "wss"),
      "--ca",
      certs.caFile,
      "--key",
      vapid.publicKey,
      "--state",
      join(dir, "state.json"),
    ];
    const options = {
      TTL: 60,
      agent: new Agent({ ca: certs.ca }),
      vapidDetails: {
        subject: "mailto:t@example.invalid",
        publicKey: vapid.publicKey,
        privateKey: vapid.privateKey,
      },
    };

    let c = client(args, t);
    const subLine = await c.line((l) => l.startsWith("subscription "), "subscription");
    const sub = JSON.parse(subLine.slice("subscription ".length));
    assert.match(sub.endpoint, /\/wpush\//);
    assert.equal((await webpush.sendNotification(sub, "first ✓", options)).statusCode, 201);
    await c.line((l) => / push [0-9a-f]{32} "first ✓"$/.test(l), "decrypted push");
    await c.stop();

    assert.equal((await webpush.sendNotification(sub, "while away", options)).statusCode, 201);
    c = client(args, t);
    const again = await c.line((l) => l.startsWith("subscription "), "subscription after restart");
    assert.equal(JSON.parse(again.slice("subscription ".length)).endpoint, sub.endpoint);
    await c.line((l) => l.endsWith('"while away"'), "push sent while away");
    await c.stop();
  });
});
