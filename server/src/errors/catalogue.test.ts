import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { ConfigError } from "../config.js";
import { PushError } from "../endpoint/push-errors.js";
import { createMetrics } from "../metrics.js";
import { Close, LimitErrno, ReplyError } from "../protocol/errors.js";
import { type Limits, newSession, type Step, step } from "../protocol/session.js";
import { RouterDecodeError } from "../routing/router-messages.js";
import { ReplicationTimeout } from "../storage/replication.js";
import { StoreError } from "../storage/store.js";
import { RouterOverloaded, RouterUnreachable } from "../transport/router.js";
import {
  CloseCodes,
  closeLabel,
  closeOf,
  type ErrorEntry,
  Errors,
  entry,
  REFUSALS,
  SIMPLEPUSH_PUT_CODES,
  StatusText,
  statusLine,
} from "./catalogue.js";

type ErrorCodeName = keyof typeof Errors;
const entries = Object.entries(Errors) as [string, ErrorEntry][];
/** A label value a PromQL matcher needs no quoting tricks for, and a dashboard can spell. */
const LABEL = /^[a-z][a-z0-9_]*$/;

describe("error catalogue", () => {
  it("codes are UPPER_SNAKE and each has a unique, Prometheus-safe metric label", () => {
    const labels = new Map<string, string>();
    for (const [code, e] of entries) {
      assert.match(code, /^[A-Z][A-Z0-9_]*$/, code);
      assert.match(e.label, LABEL, `${code}: label ${e.label}`);
      assert.equal(
        labels.get(e.label),
        undefined,
        `${code} and ${labels.get(e.label)} share ${e.label}`,
      );
      labels.set(e.label, code);
      assert.ok(e.meaning.length > 0, `${code} says when`);
    }
    for (const c of Object.values(CloseCodes)) assert.match(c.label, LABEL);
  });

  it("every code is answered somehow, or is an error class of its own", () => {
    for (const [code, e] of entries)
      assert.ok(
        e.close !== undefined || e.http !== undefined || e.errorClass !== undefined,
        `${code} has no answer`,
      );
  });

  it("every HTTP status has its reason phrase, and status lines use it", () => {
    for (const [code, e] of entries) {
      if (e.http === undefined) continue;
      assert.ok(StatusText[e.http.status], `${code}: ${e.http.status} has no status text`);
      assert.ok(e.http.status >= 400 && e.http.status <= 599, `${code}: ${e.http.status}`);
    }
    assert.equal(statusLine(503), "503 Service Unavailable");
    assert.equal(statusLine(413), "413 Payload Too Large");
  });

  it("close codes are in the ranges RFC 6455 allows, and the server sends none it reserves", () => {
    const codes = Object.values(CloseCodes).map((c) => c.code);
    assert.equal(new Set(codes).size, codes.length, "each close code once");
    for (const c of codes)
      assert.ok((c >= 1000 && c <= 1014) || (c >= 3000 && c <= 4999), `close code ${c}`);
    // 1005 and 1006 are what a peer reports when no close frame came: never sent.
    for (const [code, e] of entries) {
      if (e.close === undefined) continue;
      const sent: number = CloseCodes[e.close].code;
      assert.ok(![1005, 1006, 1015].includes(sent), `${code} sends ${sent}`);
    }
    assert.equal(closeLabel(4774), "ping_flood");
    assert.equal(closeLabel(1012), "drain");
    assert.equal(closeLabel(3999), "other");
  });

  it("an error reply always ends with a close, and a status has one error string", () => {
    const byStatus = new Map<number, string>();
    for (const [code, e] of entries) {
      if (e.reply === undefined) continue;
      assert.notEqual(e.close, undefined, `${code} replies but never closes`);
      const seen = byStatus.get(e.reply.status);
      if (seen !== undefined) assert.equal(e.reply.error, seen, `${code}: ${e.reply.status}`);
      byStatus.set(e.reply.status, e.reply.error);
    }
  });

  it("a store failure answers the same on the WebSocket and over HTTP: 503, retry", () => {
    const s = Errors.STORE_UNAVAILABLE;
    assert.equal(s.reply.status, s.http.status);
    assert.equal(s.http.status, 503);
    assert.ok(s.http.retryAfter > 0);
    assert.deepEqual(ReplyError.storage, s.reply);
    assert.deepEqual(PushError.storage.status, s.http.status);
  });

  it("every app-server or upgrade answer meaning 'retry later' carries Retry-After", () => {
    for (const [code, e] of entries) {
      if (e.http === undefined || code === "NOT_READY" || code === "ADMIN_FAILED") continue;
      const retry = e.http.status === 503 || e.http.status === 429;
      assert.equal(e.http.retryAfter !== undefined, retry, `${code}: ${e.http.status}`);
    }
  });

  it("the old views read the catalogue", () => {
    for (const [name, c] of Object.entries(CloseCodes))
      assert.equal(Close[name as keyof typeof Close], c.code);
    assert.equal(Close.pingFlood, 4774);
    assert.equal(Close.replaced, 4000);
    assert.equal(LimitErrno.tooManyChannels, 104);
    assert.deepEqual(ReplyError.invalidCommand, { status: 401, error: "Invalid Command" });
    for (const [kind, p] of Object.entries(PushError))
      assert.deepEqual({ code: p.code, ...Errors[p.code].http }, p, kind);
  });

  it("each error class carries the code the catalogue names it under", () => {
    const thrown = [
      new StoreError("x"),
      new ReplicationTimeout("x"),
      new ConfigError(["x"]),
      new RouterUnreachable("x"),
      new RouterOverloaded("x"),
      new RouterDecodeError("x"),
    ];
    const named = entries.filter(([, e]) => e.errorClass !== undefined);
    assert.equal(named.length, thrown.length, "every class in the catalogue is checked here");
    for (const err of thrown) {
      const hit = named.find(([, e]) => e.errorClass === err.constructor.name);
      assert.ok(hit, `${err.constructor.name} is in the catalogue`);
      assert.equal(err.code, hit[0], err.constructor.name);
    }
  });

  it("the refusal counter and the status counter start at 0 for every code and status", async () => {
    const registry = new Registry();
    createMetrics(registry);
    const text = await registry.metrics();
    for (const [code, e] of entries) {
      if (!e.counters.includes(REFUSALS)) continue;
      assert.match(
        text,
        new RegExp(`edition_endpoint_refusals_total\\{code="${e.label}"\\} 0`),
        code,
      );
    }
    for (const code of SIMPLEPUSH_PUT_CODES)
      assert.match(
        text,
        new RegExp(`edition_endpoint_requests_total\\{status="${Errors[code].http.status}"\\} 0`),
      );
  });
});

describe("the protocol core closes by catalogue code", () => {
  const LIMITS: Limits = { pingMinIntervalMs: 1000, pingBurst: 1 };
  const close = (frames: string[]): Extract<Step, { do: "close" }> => {
    const s = newSession(0, LIMITS.pingBurst);
    let st: Step = { do: "none" };
    for (const f of frames) st = step(s, f, 0, LIMITS);
    assert.equal(st.do, "close", frames.join(" "));
    return st as Extract<Step, { do: "close" }>;
  };
  const cases: [ErrorCodeName, string[]][] = [
    ["MALFORMED_FRAME", ["[1]"]],
    ["INVALID_COMMAND", ['{"messageType":"foo"}']],
    ["BAD_UAID", ['{"messageType":"hello","uaid":"not-a-uuid","channelIDs":[]}']],
    ["PING_FLOOD", ["{}", "{}"]],
  ];
  for (const [code, frames] of cases)
    it(`${code}: its close code, and its error reply (or none)`, () => {
      const st = close(frames);
      assert.equal(st.error, code);
      assert.equal(st.code, closeOf(code));
      const reply = entry(code).reply;
      if (reply === undefined) assert.equal(st.text, undefined);
      else
        assert.match(st.text!, new RegExp(`"status":${reply.status},"error":"${reply.error}"}$`));
    });
});

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith(".ts") && !name.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

describe("no error answer outside the catalogue", () => {
  it("no 4xx/5xx status, Retry-After or close code written as a literal in the server", () => {
    const bad: string[] = [];
    const patterns = [
      /writeStatus\(\s*"[45]\d\d/, // a status line
      /status:\s*[45]\d\d\b/, // a result or reply status
      /"Retry-After",\s*"/, // a fixed Retry-After
      /\b(?:end|close)\([^)]*\b(?:10\d\d|4\d\d\d)\b/, // a close code
      /errno:\s*\d/, // an errno
    ];
    for (const file of sources(join(ROOT, "server/src"))) {
      const rel = relative(ROOT, file);
      if (rel.startsWith("server/src/errors/") || rel.startsWith("server/src/client/")) continue;
      for (const [i, line] of readFileSync(file, "utf8").split("\n").entries()) {
        const code = line.replace(/\/\/.*$/, "").trim();
        if (code.startsWith("*") || code.startsWith("/*")) continue;
        if (patterns.some((p) => p.test(code))) bad.push(`${rel}:${i + 1}: ${code}`);
      }
    }
    assert.deepEqual(bad, []);
  });
});
