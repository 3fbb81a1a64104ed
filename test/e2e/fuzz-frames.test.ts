/**
 * Random frames over real sockets: near-valid commands with random fields, garbage, huge
 * integers, deep nesting, odd keys. Whatever a socket receives must be a reply docs/protocol.md
 * allows (an error reply echoes a frame that was sent, and is followed by a close); the
 * node must stay up and a client connected before the storm must still get updates.
 *
 * Seeded: set FUZZ_SEED=<n> to replay a failing run (the seed is printed as a diagnostic).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { parseJson } from "../../server/src/protocol/json.js";
import { connect, disconnectAll, helloClient, type Message, raw } from "../support/client.js";
import { channelID, get, put } from "../support/http.js";
import { type PushNode, startNode } from "../support/node.js";

const SOCKETS = 300;
const PARALLEL = 20;

let node: PushNode;
before(async () => {
  node = await startNode({ env: { EDITION_PING_MIN_INTERVAL_MS: "0" } });
});
after(async () => {
  disconnectAll();
  await node?.stop();
});

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function frames(rand: () => number) {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const j = JSON.stringify;
  const id = () =>
    pick([
      () => j(randomUUID()),
      () => j(randomUUID().toUpperCase()),
      () => j(randomUUID().replaceAll("-", "")),
      () => j(""),
      () => j("x".repeat(int(40))),
      () => "123456789012345678901234567890",
      () => "null",
      () => "[]",
      () => j("\u0000abc"),
      () => j(randomUUID().slice(0, 35)),
    ])();
  const version = () =>
    pick([
      () => String(int(1000)),
      () => "18446744073709551615",
      () => "18446744073709551616",
      () => "-1",
      () => "1.5",
      () => "1e400",
      () => j("42"),
      () => j("abc"),
      () => "null",
    ])();
  const type = () =>
    pick([
      "hello",
      "register",
      "unregister",
      "ack",
      "ping",
      "purge",
      "HELLO",
      "Ack",
      "foo",
      "",
      "notification",
    ]);
  const command = (): string => {
    const t = pick([() => j(type()), () => "5", () => "null", () => "[]"])();
    const keys = pick(["messageType", "messagetype", "MESSAGETYPE", " messageType"]);
    const fields: string[] = [`${j(keys)}:${t}`];
    if (rand() < 0.6) fields.push(`"uaid":${id()}`);
    if (rand() < 0.6)
      fields.push(
        `"channelIDs":${pick([() => `[${Array.from({ length: int(4) }, id).join(",")}]`, id])()}`,
      );
    if (rand() < 0.6) fields.push(`"channelID":${id()}`);
    if (rand() < 0.5) {
      const u = () => `{"channelID":${id()},"version":${version()}}`;
      fields.push(
        `"updates":${pick([() => `[${Array.from({ length: int(4) }, u).join(",")}]`, version, u])()}`,
      );
    }
    if (rand() < 0.2) fields.push(`"extra":${j("é😀\u0000".repeat(int(50)))}`);
    if (rand() < 0.1) fields.push(`"n":${"9".repeat(1 + int(40))}`);
    if (rand() < 0.1) fields.push(`"messageType":${j(type())}`); // a duplicate key
    // Shuffle the fields: order must not matter.
    for (let i = fields.length - 1; i > 0; i--) {
      const k = int(i + 1);
      [fields[i], fields[k]] = [fields[k]!, fields[i]!];
    }
    return `{${fields.join(",")}}`;
  };
  const garbage = (): string =>
    pick([
      () => "",
      () => "{}",
      () => " { } ",
      () => "{",
      () => "}",
      () => "[]",
      () => "null",
      () => '"str"',
      () => "12345678901234567890",
      () => `${"[".repeat(10_000)}${"]".repeat(10_000)}`,
      () => `${'{"a":'.repeat(5_000)}1${"}".repeat(5_000)}`,
      () => `{"messageType":"hello","uaid":"","channelIDs":[]`,
      () => "\ud800",
      () => String.fromCharCode(...Array.from({ length: int(50) }, () => int(0x3000))),
    ])();
  // Well-formed commands keep sockets alive, so that later frames meet a session in every
  // state (before hello, resolving it, ready with registrations).
  const wellFormed = (): string =>
    pick([
      () => `{"messageType":"hello","uaid":"","channelIDs":[]}`,
      () => `{"messageType":"register","channelID":${j(randomUUID())}}`,
      () => `{"messageType":"unregister","channelID":${j(randomUUID())}}`,
      () =>
        `{"messageType":"ack","updates":[{"channelID":${j(randomUUID())},"version":${version()}}]}`,
      () => "{}",
      () => "",
      () => `{"messageType":"ping"}`,
      () => `{"messageType":"purge"}`,
    ])();
  return () => {
    const r = rand();
    return r < 0.6 ? wellFormed() : r < 0.9 ? command() : garbage();
  };
}

/** Deep equality of parsed JSON values, without recursion (frames nest thousands deep). */
function sameJson(a: unknown, b: unknown): boolean {
  const stack: [unknown, unknown][] = [[a, b]];
  while (stack.length > 0) {
    const [x, y] = stack.pop()!;
    if (typeof x !== "object" || x === null || typeof y !== "object" || y === null) {
      if (x !== y) return false;
      continue;
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false;
    const kx = Object.keys(x);
    const ky = Object.keys(y);
    if (kx.length !== ky.length) return false;
    for (const k of kx) {
      if (!Object.hasOwn(y, k)) return false;
      stack.push([(x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]]);
    }
  }
  return true;
}

/** An error reply must echo one of the frames sent (its own fields, plus status and error). */
function echoesOneOf(reply: Message, sent: readonly string[]): boolean {
  const { status: _s, error: _e, ...rest } = reply;
  return sent.some((f) => {
    let v: unknown;
    try {
      v = parseJson(f);
    } catch {
      return false;
    }
    if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
    const { status: _s2, error: _e2, ...own } = v as Record<string, unknown>;
    return sameJson(rest, own);
  });
}

test("random frames on hundreds of sockets: only allowed replies, the node stays up", {
  timeout: 120_000,
}, async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const next = frames(prng(seed));

  const control = await helloClient(node.wsUrl);
  const controlChannel = channelID();
  const controlEndpoint = await control.register(controlChannel);

  const problems: string[] = [];
  const tally = { closed: 0, survived: 0, errorReplies: 0, replies: 0 };
  const one = async (n: number) => {
    const c = await connect(node.wsUrl);
    if (n % 2 === 0) await c.hello();
    const sent: string[] = [];
    const count = 1 + (n % 8);
    for (let i = 0; i < count && !c.isClosed; i++) {
      const f = next();
      sent.push(f);
      c.send(f);
    }
    // A final probe with a reply of its own: an unregister of a unique (non-UUID) channel
    // is a 200 on a socket past hello, a 401 echo before — and nothing once the socket
    // closed after an earlier error.
    const probe = `probe-${n}`;
    const isProbe = (m: Message) => m.channelID === probe;
    if (!c.isClosed) c.send({ messageType: "unregister", channelID: probe });
    const probed = await c.next(isProbe, 10_000).then(
      (m) => m,
      () => undefined,
    );
    if (probed?.status === 200) tally.survived++;
    else {
      await c.closed();
      tally.closed++;
    }
    const errors = c.inbox.filter((m) => typeof m.status === "number" && m.status !== 200);
    for (const m of c.inbox) {
      tally.replies++;
      const text = raw(m);
      const where = `socket ${n}: ${text.slice(0, 200)} after ${sent.map((s) => s.slice(0, 120)).join(" | ")}`;
      if (text === "{}") continue;
      if (m.status === 200) {
        if (!["hello", "register", "unregister"].includes(m.messageType as string))
          problems.push(`unexpected 200 reply, ${where}`);
        continue;
      }
      if (m.status === undefined) {
        problems.push(`unsolicited frame, ${where}`);
        continue;
      }
      tally.errorReplies++;
      if (
        !(
          (m.status === 401 && m.error === "Invalid Command") ||
          (m.status === 503 && m.error === "Service Unavailable")
        )
      )
        problems.push(`not an allowed error reply, ${where}`);
      else if (!echoesOneOf(m, sent)) problems.push(`error reply echoes no sent frame, ${where}`);
    }
    if (errors.length > 1)
      problems.push(`socket ${n}: ${errors.length} error replies, one must close`);
    if (errors.length > 0 && probed !== undefined)
      problems.push(`socket ${n}: the probe was answered after an error reply ${raw(probed)}`);
    c.ws.terminate();
  };
  for (let b = 0; b < SOCKETS; b += PARALLEL) {
    await Promise.all(
      Array.from({ length: Math.min(PARALLEL, SOCKETS - b) }, (_, k) => one(b + k)),
    );
  }
  t.diagnostic(JSON.stringify(tally));
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} problems (seed ${seed})`);

  assert.equal((await get(`${node.adminUrl}/health`)).status, 200);
  await control.barrier();
  assert.deepEqual(control.inbox, []);
  assert.equal((await put(controlEndpoint, { body: "version=77" })).status, 200);
  assert.deepEqual((await control.notification()).updates, [
    { channelID: controlChannel, version: 77 },
  ]);
  const bad = node.logs.filter(
    (l) => l.stream === "stderr" || l.json?.level === "error" || l.json?.level === "fatal",
  );
  assert.deepEqual(
    bad.map((l) => l.text),
    [],
  );
});
