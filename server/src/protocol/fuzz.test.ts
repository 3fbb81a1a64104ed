/**
 * Property test of `step`: 100,000+ random frames from a seeded PRNG (so a failure names the
 * seed and frame number that reproduce it), checked against invariants that hold for every
 * input whatever its shape.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Close } from "./errors.js";
import { normalizeUuid } from "./ids.js";
import { parseJson } from "./json.js";
import {
  type AckedUpdate,
  helloDone,
  type Limits,
  newSession,
  Phase,
  type Session,
  type Step,
  step,
} from "./session.js";

const SEED = 0x5eed_2024;
const FRAMES = 100_000;
// JSON bounds far above what the generator makes: this suite checks the protocol rules;
// json.test.ts checks the bounds.
const LIMITS: Limits = {
  pingMinIntervalMs: 1000,
  pingBurst: 4,
  json: { maxDigits: Number.MAX_SAFE_INTEGER, maxDepth: Number.MAX_SAFE_INTEGER },
};
const U64 = (1n << 64n) - 1n;

/** mulberry32: small, fast, good enough to spread inputs; deterministic per seed. */
class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  u32(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 2 ** 32) * n);
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  hex(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += "0123456789abcdef"[this.int(16)];
    return s;
  }
  digits(n: number): string {
    let s = String(1 + this.int(9));
    for (let i = 1; i < n; i++) s += String(this.int(10));
    return s;
  }
  u64(): bigint {
    const shift = BigInt(this.int(64));
    return ((BigInt(this.u32()) << 32n) | BigInt(this.u32())) >> shift;
  }
}

// ---------------------------------------------------------------- generators

function randomCase(r: Rng, s: string): string {
  if (r.chance(0.4)) return s;
  let out = "";
  for (const c of s) out += r.chance(0.5) ? c.toUpperCase() : c.toLowerCase();
  return out;
}

function key(r: Rng, k: string): string {
  let name = randomCase(r, k);
  // Surrounding whitespace makes a key not match; make that rare so most frames stay valid.
  if (r.chance(0.02)) name = r.pick([" ", "\t", "\n"]) + name;
  if (r.chance(0.02)) name += " ";
  return JSON.stringify(name);
}

/** Whether a key written by `key` still matches its field (no surrounding whitespace). */
function matches(keyText: string): boolean {
  const name = JSON.parse(keyText) as string;
  return name === name.trim();
}

function ws(r: Rng): string {
  return r.chance(0.9) ? "" : r.pick([" ", "\n", "\t", "\r\n", "  "]);
}

function obj(r: Rng, fields: [string, string][]): string {
  if (r.chance(0.3)) fields = shuffle(r, fields);
  return `${ws(r)}{${fields.map(([k, v]) => `${ws(r)}${k}${ws(r)}:${ws(r)}${v}`).join(",")}${ws(r)}}${ws(r)}`;
}

function shuffle<T>(r: Rng, xs: T[]): T[] {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function uuidText(r: Rng): string {
  const h = r.hex(32);
  const s = r.chance(0.5)
    ? h
    : `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return randomCase(r, s);
}

function badUuidText(r: Rng): string {
  return r.pick([
    "",
    "x",
    r.hex(31),
    r.hex(33),
    r.hex(34),
    `${r.hex(31)}g`,
    `${r.hex(9)}-${r.hex(3)}-${r.hex(4)}-${r.hex(4)}-${r.hex(12)}`,
    ` ${r.hex(32)}`,
    `{${r.hex(32)}}`,
  ]);
}

function typeField(r: Rng, t: string): [string, string] {
  return [key(r, "messageType"), JSON.stringify(randomCase(r, t))];
}

/** A valid message, plus the acks it should produce when it is an ack on a ready socket. */
interface Generated {
  readonly text: string;
  readonly acks?: AckedUpdate[];
}

function validMessage(r: Rng): Generated {
  switch (r.int(8)) {
    case 0: {
      const fields: [string, string][] = [typeField(r, "hello")];
      const u = r.int(4);
      if (u === 0) fields.push([key(r, "uaid"), JSON.stringify(uuidText(r))]);
      else if (u === 1) fields.push([key(r, "uaid"), '""']);
      else if (u === 2) fields.push([key(r, "uaid"), JSON.stringify(badUuidText(r))]);
      const ids = Array.from({ length: r.int(4) }, () => JSON.stringify(uuidText(r)));
      if (!r.chance(0.05)) fields.push([key(r, "channelIDs"), `[${ids.join(",")}]`]);
      if (r.chance(0.2)) fields.push(['"connect"', '{"regid":"abc"}']);
      return { text: obj(r, fields) };
    }
    case 1:
      return {
        text: obj(r, [
          typeField(r, "register"),
          [key(r, "channelID"), JSON.stringify(r.chance(0.85) ? uuidText(r) : badUuidText(r))],
        ]),
      };
    case 2:
      return {
        text: obj(r, [
          typeField(r, "unregister"),
          [key(r, "channelID"), JSON.stringify(r.chance(0.85) ? uuidText(r) : badUuidText(r))],
        ]),
      };
    case 3:
    case 4: {
      const acks: AckedUpdate[] = [];
      const items: string[] = [];
      for (let i = r.int(5); i > 0; i--) {
        const chid = r.chance(0.9) ? uuidText(r) : badUuidText(r);
        const [vText, v] = versionLiteral(r);
        const chidKey = key(r, "channelID");
        const versionKey = key(r, "version");
        const channel = matches(chidKey) ? normalizeUuid(chid) : undefined;
        if (channel !== undefined && v !== undefined && matches(versionKey)) {
          acks.push({ channel, version: v });
        }
        items.push(
          obj(r, [
            [chidKey, JSON.stringify(chid)],
            [versionKey, vText],
          ]),
        );
      }
      return {
        text: obj(r, [typeField(r, "ack"), [key(r, "updates"), `[${items.join(",")}]`]]),
        acks,
      };
    }
    case 5:
      return { text: r.pick(["{}", "", "{ }", obj(r, [typeField(r, "ping")])]) };
    case 6:
      return { text: obj(r, [typeField(r, "purge")]) };
    default:
      return {
        text: obj(r, [typeField(r, r.pick(["foo", "notification", "", "hello ", "pingg"]))]),
      };
  }
}

/** A version as JSON text and the u64 it must ack (undefined: must ack nothing). */
function versionLiteral(r: Rng): [string, bigint | undefined] {
  switch (r.int(9)) {
    case 0:
      return ["18446744073709551615", U64];
    case 1:
      return ['"18446744073709551615"', U64];
    case 2: {
      const v = BigInt(r.int(2 ** 31));
      return [v.toString(), v];
    }
    case 3: {
      const v = r.u64();
      return [v.toString(), v];
    }
    case 4: {
      const v = r.u64();
      return [`"${v}"`, v];
    }
    case 5: {
      const v = 9007199254740992n + BigInt(r.int(1000));
      return [v.toString(), v];
    }
    case 6:
      return [`${U64 + 1n + BigInt(r.int(1000))}`, undefined];
    case 7:
      return [
        r.pick(["-1", "1.5", "1e400", "null", "true", '"abc"', '""', '"-3"', "[1]", "{}"]),
        undefined,
      ];
    default:
      return [`-${r.digits(1 + r.int(25))}`, undefined];
  }
}

const FUZZ_CHARS = '{}[]":,\\ -+.eE0123456789abcdefnulltrue\n\t\u0000\u00e9\ud83d\ude00';

function mutate(r: Rng, text: string): string {
  let s = text;
  for (let n = 1 + r.int(4); n > 0; n--) {
    const i = r.int(s.length + 1);
    switch (r.int(7)) {
      case 0:
        s = s.slice(0, i) + s.slice(i + 1);
        break;
      case 1:
        s = s.slice(0, i) + r.pick([...FUZZ_CHARS]) + s.slice(i);
        break;
      case 2:
        s = s.slice(0, i) + r.pick([...FUZZ_CHARS]) + s.slice(i + 1);
        break;
      case 3: {
        const j = i + r.int(20);
        s = s.slice(0, j) + s.slice(i, j) + s.slice(j);
        break;
      }
      case 4:
        s = s.slice(0, i);
        break;
      case 5:
        s = s.slice(0, i) + r.digits(1 + r.int(30)) + s.slice(i);
        break;
      default:
        s = s.slice(0, i) + randomCase(r, s.slice(i, i + 12)) + s.slice(i + 12);
    }
  }
  return s;
}

function randomBytes(r: Rng): string {
  let s = "";
  const n = r.int(80);
  const mode = r.int(3);
  for (let i = 0; i < n; i++) {
    if (mode === 0) s += String.fromCharCode(r.int(0x10000));
    else if (mode === 1) s += String.fromCharCode(32 + r.int(95));
    else s += r.pick([...FUZZ_CHARS]);
  }
  return s;
}

const KEYS = [
  "messageType",
  "uaid",
  "channelIDs",
  "channelID",
  "updates",
  "version",
  "status",
  "__proto__",
  "x",
];

function jsonValue(r: Rng, depth: number): string {
  const k = depth > 4 ? r.int(6) : r.int(8);
  switch (k) {
    case 0:
      return r.pick(["null", "true", "false"]);
    case 1:
      return String(r.int(1000) - 500);
    case 2:
      return `${r.chance(0.3) ? "-" : ""}${r.digits(1 + r.int(40))}`;
    case 3:
      return r.pick(["1.5", "-0", "0", "1e308", "1e999", "-1E-7", "0.0000000000000000001"]);
    case 4:
      return JSON.stringify(
        r.pick([uuidText(r), badUuidText(r), randomBytes(r), "hello", "ACK", "\u0000x"]),
      );
    case 5:
      return JSON.stringify(`${r.digits(16 + r.int(10))}`);
    case 6:
      return `[${Array.from({ length: r.int(4) }, () => jsonValue(r, depth + 1)).join(",")}]`;
    default:
      return obj(
        r,
        Array.from({ length: r.int(5) }, () => [key(r, r.pick(KEYS)), jsonValue(r, depth + 1)]),
      );
  }
}

/** A known message type with each field of a random (often wrong) type. */
function wrongTypes(r: Rng): string {
  const t = r.pick(["hello", "register", "unregister", "ack", "ping", "purge"]);
  const fields: [string, string][] = [typeField(r, t)];
  for (const f of ["uaid", "channelIDs", "channelID", "updates"]) {
    if (r.chance(0.5)) fields.push([key(r, f), jsonValue(r, 3)]);
  }
  return obj(r, fields);
}

function hugeNumbers(r: Rng): string {
  const chid = JSON.stringify(uuidText(r));
  const big = () => `${r.chance(0.2) ? "-" : ""}${r.digits(15 + r.int(30))}`;
  return r.pick([
    `{"messageType":"ack","updates":[{"channelID":${chid},"version":${big()}}]}`,
    `{"messageType":"ack","updates":[${big()},{"version":${big()},"channelID":${chid}}]}`,
    `{"messageType":"hello","uaid":${big()},"channelIDs":[${big()}]}`,
    `{"messageType":"register","channelID":${big()}}`,
    `{"messageType":${big()}}`,
    `{${big()}:1}`,
    `{"messageType":"foo","${big()}":${big()}}`,
    big(),
    `[${big()}]`,
  ]);
}

function deep(r: Rng): string {
  const d = 100 + r.int(20_000);
  const open = r.chance(0.5) ? "[" : '{"a":';
  const close = open === "[" ? "]" : "}";
  const inner = `${open.repeat(d)}${r.pick(["1", "18446744073709551615", '"\\u0000x"', "{}"])}${close.repeat(d)}`;
  const broken = r.chance(0.2) ? inner.slice(0, -1) : inner;
  return r.chance(0.5)
    ? broken
    : `{"messageType":"${r.pick(["ack", "foo", "hello"])}","updates":${broken},"channelIDs":${broken}}`;
}

function bigFrame(r: Rng): string {
  const pad = "x".repeat(256 * 1024);
  return r.pick([
    `{"messageType":"foo","pad":"${pad}"}`,
    `{"messageType":"hello","channelIDs":[],"pad":"${pad}","v":18446744073709551615}`,
    `{"messageType":"ack","updates":[],"pad":"${pad}`,
  ]);
}

function frame(r: Rng): Generated {
  const k = r.int(1000);
  if (k < 100) return { text: randomBytes(r) };
  if (k < 400) return validMessage(r);
  if (k < 650) return { text: mutate(r, validMessage(r).text) };
  if (k < 800) return { text: jsonValue(r, 0) };
  if (k < 880) return { text: wrongTypes(r) };
  if (k < 940) return { text: r.pick(["{}", "", '{"messageType":"ping"}']) };
  if (k < 994) return { text: hugeNumbers(r) };
  if (k < 999) return { text: deep(r) };
  return { text: bigFrame(r) };
}

// ---------------------------------------------------------------- invariants

/** Independent oracle for "not JSON or not a JSON object" (the empty frame is a ping). */
function isGarbage(text: string): boolean {
  if (text.length === 0) return false;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return true;
  }
  return typeof v !== "object" || v === null || Array.isArray(v);
}

function isEmptyObject(text: string): boolean {
  if (text.length === 0) return true;
  const v = JSON.parse(text) as object;
  return Object.keys(v).length === 0;
}

const ERROR_TEXT: Record<number, string> = { 401: "Invalid Command", 503: "Service Unavailable" };

function check(s: Session, before: Phase, g: Generated, st: Step): void {
  const text = g.text;
  if (before === Phase.Closed) {
    assert.deepEqual(st, { do: "none" });
    return;
  }
  switch (st.do) {
    case "none":
      assert.notEqual(s.phase, Phase.Closed);
      if (g.acks !== undefined && before === Phase.Ready) assert.equal(g.acks.length, 0);
      break;
    case "reply": {
      assert.notEqual(s.phase, Phase.Closed);
      const v = parseJson(st.text, LIMITS.json);
      assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), st.text);
      if (st.text !== "{}") {
        // The only other reply the core writes: a second hello on a ready socket.
        assert.equal(before, Phase.Ready);
        assert.deepEqual(v, { messageType: "hello", uaid: s.uaid, status: 200 });
      }
      break;
    }
    case "close": {
      assert.equal(s.phase, Phase.Closed);
      assert.equal(st.text === undefined, isGarbage(text), "garbage ⇔ close without reply");
      if (st.text === undefined) {
        assert.equal(st.code, Close.unsupported);
        break;
      }
      const v = parseJson(st.text, LIMITS.json) as Record<string, unknown>;
      assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), st.text);
      const status = v.status as number;
      assert.ok(status === 401 || status === 503, st.text.slice(-80));
      const tail = `"status":${status},"error":"${ERROR_TEXT[status]}"}`;
      assert.ok(st.text.endsWith(tail), st.text.slice(-80));
      if (status === 503) assert.equal(st.code, Close.normal);
      else assert.ok(st.code === Close.normal || st.code === Close.pingFlood, String(st.code));
      // The echo is the client's own text (every digit of every number included).
      if (isEmptyObject(text)) assert.equal(st.text, `{${tail}`);
      else {
        const body = text.slice(0, text.lastIndexOf("}")).trimEnd();
        assert.equal(st.text, `${body},${tail}`);
      }
      break;
    }
    case "hello":
      assert.equal(before, Phase.New);
      assert.equal(s.phase, Phase.Hello);
      assert.equal(st.raw, text);
      assert.ok(Number.isInteger(st.channelCount) && st.channelCount >= 0);
      if (st.requested !== undefined) {
        assert.equal(normalizeUuid(st.echo), st.requested);
        assert.ok(text.includes(st.echo!));
      } else assert.equal(st.echo, undefined);
      break;
    case "register":
      assert.equal(before, Phase.Ready);
      assert.match(st.channel, /^[0-9a-f]{32}$/);
      assert.equal(normalizeUuid(st.channelID), st.channel);
      assert.equal(st.raw, text);
      break;
    case "unregister":
      assert.equal(before, Phase.Ready);
      assert.ok(typeof st.channelID === "string" && st.channelID.length > 0);
      assert.equal(st.channel, normalizeUuid(st.channelID));
      assert.equal(st.raw, text);
      break;
    case "ack":
      assert.equal(before, Phase.Ready);
      assert.notEqual(s.phase, Phase.Closed);
      assert.ok(st.updates.length > 0);
      for (const u of st.updates) {
        assert.match(u.channel, /^[0-9a-f]{32}$/);
        assert.ok(u.version >= 0n && u.version <= U64);
        // Never rounded: the digits acked are digits the client sent.
        assert.ok(text.includes(u.version.toString()), `${u.version} not in frame`);
      }
      if (g.acks !== undefined) assert.deepEqual(st.updates, g.acks);
      break;
    default:
      assert.fail(`unknown step ${JSON.stringify(st)}`);
  }
}

// ---------------------------------------------------------------- driver

function readySession(r: Rng, now: number): Session {
  const s = newSession(now, LIMITS.pingBurst);
  const st = step(s, `{"messageType":"hello","uaid":"${r.hex(32)}","channelIDs":[]}`, now, LIMITS);
  assert.equal(st.do, "hello");
  helloDone(s, (st as { requested: string }).requested);
  return s;
}

interface Stats {
  [k: string]: number;
}

function run(seed: number, frames: number): Stats {
  const r = new Rng(seed);
  const stats: Stats = {};
  let now = 1_700_000_000_000;
  let s = readySession(r, now);
  let afterClose = 0;
  let burst = 0;
  for (let i = 0; i < frames; i++) {
    // Mostly slow traffic; sometimes a burst of pings, to reach the ping flood.
    if (burst === 0 && r.chance(0.01)) burst = 2 + r.int(2 * LIMITS.pingBurst);
    const g: Generated =
      burst > 0 ? { text: r.pick(["{}", "", '{"messageType":"PING"}']) } : frame(r);
    if (burst > 0) burst--;
    else now += r.chance(0.3) ? 0 : r.int(2500);
    const before = s.phase;
    let st: Step;
    try {
      st = step(s, g.text, now, LIMITS);
    } catch (e) {
      assert.fail(`seed ${seed} frame ${i}: step threw ${e}\n${g.text.slice(0, 300)}`);
    }
    try {
      check(s, before, g, st);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      assert.fail(
        `seed ${seed} frame ${i} (phase ${before}): ${msg}\nframe: ${JSON.stringify(g.text.slice(0, 400))}\nstep: ${JSON.stringify(st, (_k, v) => (typeof v === "bigint" ? `${v}n` : v)).slice(0, 400)}`,
      );
    }
    const name =
      st.do === "close" ? (st.text === undefined ? "close:garbage" : `close:${st.code}`) : st.do;
    stats[name] = (stats[name] ?? 0) + 1;
    if (st.do === "hello" && r.chance(0.85)) helloDone(s, st.requested ?? r.hex(32));
    if (s.phase === Phase.Closed && ++afterClose > r.int(3)) {
      afterClose = 0;
      s = r.chance(0.7) ? readySession(r, now) : newSession(now, LIMITS.pingBurst);
    }
  }
  return stats;
}

describe("step under random frames", () => {
  it(`holds every invariant for ${FRAMES} frames (seed ${SEED})`, () => {
    const stats = run(SEED, FRAMES);
    // The mix must actually reach every outcome, or the invariants above prove little.
    for (const k of [
      "none",
      "reply",
      "close:garbage",
      `close:${Close.normal}`,
      `close:${Close.pingFlood}`,
      "hello",
      "register",
      "unregister",
      "ack",
    ]) {
      assert.ok((stats[k] ?? 0) >= 50, `${k}: ${stats[k] ?? 0} in ${JSON.stringify(stats)}`);
    }
  });

  it("is reproducible: the same seed gives the same outcomes", () => {
    assert.deepEqual(run(7, 3000), run(7, 3000));
  });
});
