/**
 * The router wire of nodes before the binary one (router-codec.ts): one JSON object per
 * line. Kept for rolling upgrades only: a new node answers an old one that dials it (the
 * server sniffs the first byte, `{`), and dials in JSON a member whose record does not
 * advertise the binary router (`Member.router`). Same typed frames, same checks, so nothing
 * above the wire knows which one a peer speaks. Remove once no deployment runs a node
 * without `router: 2` in its member record.
 *
 * Old nodes carried a SimplePush update as its notification frame; it is read back into
 * fields here (`directUpdate`: exact version digits), and built here for them.
 */
import { StringDecoder } from "node:string_decoder";
import { directUpdate, notification } from "../protocol/replies.js";
import type { Push } from "./route.js";
import {
  type FrameDecoder,
  MAX_ID_BYTES,
  MAX_STAMP_BYTES,
  NONCE_BYTES,
  PROOF_BYTES,
  type PresenceReply,
  RouterDecodeError,
  type RouterFrame,
  type RouterRequest,
  type RouterWire,
} from "./router-messages.js";

type Json = Record<string, unknown>;

function str(m: Json, k: string, max = MAX_ID_BYTES): string | undefined {
  const v = m[k];
  return typeof v === "string" && v.length > 0 && Buffer.byteLength(v) <= max ? v : undefined;
}

function num(m: Json, k: string): number | undefined {
  const v = m[k];
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function hex(m: Json, k: string, bytes: number): Buffer | undefined {
  const v = m[k];
  if (typeof v !== "string" || v.length !== bytes * 2 || !/^[0-9a-f]*$/.test(v)) return undefined;
  return Buffer.from(v, "hex");
}

/** An old node's route/deliver frame as a push: a one-update SimplePush frame, or opaque. */
function pushOf(frame: string, stamp: string | undefined): Push {
  const u = directUpdate(frame);
  if (u === undefined) {
    return stamp === undefined ? { kind: "webpush", frame } : { kind: "webpush", frame, stamp };
  }
  let data: string | undefined;
  if (u.data) {
    const parsed = JSON.parse(frame) as { updates?: Array<{ data?: unknown }> };
    const d = parsed.updates?.[0]?.data;
    if (typeof d === "string") data = d;
  }
  return { kind: "simplepush", channelID: u.channelID, version: u.version, data, stamp };
}

/** Validates a request from an old node; its `i` field is the id. */
export function decodeLegacyRequest(m: Json): RouterRequest | RouterDecodeError {
  const bad = (why: string) => new RouterDecodeError(`bad ${String(m.op)} request: ${why}`);
  const uaid = str(m, "uaid");
  if (uaid === undefined) return bad("uaid");
  switch (m.op) {
    case "announce":
    case "withdraw": {
      const node = str(m, "node");
      const since = num(m, "since");
      if (node === undefined) return bad("node");
      if (since === undefined) return bad("since");
      return { op: m.op, uaid, node, since };
    }
    case "evict":
    case "flush": {
      const since = num(m, "since");
      if (since === undefined) return bad("since");
      return { op: m.op, uaid, since };
    }
    case "nudge":
      if (m.fwd !== undefined && m.fwd !== 1) return bad("fwd");
      return m.fwd === 1 ? { op: "nudge", uaid, fwd: 1 } : { op: "nudge", uaid };
    case "route":
    case "deliver": {
      const frame = m.frame;
      if (typeof frame !== "string") return bad("frame");
      const stamp = m.stamp === undefined ? undefined : str(m, "stamp", MAX_STAMP_BYTES);
      if (m.stamp !== undefined && stamp === undefined) return bad("stamp");
      let push: Push;
      try {
        push = pushOf(frame, stamp);
      } catch {
        return bad("frame");
      }
      if (m.op === "deliver") return { op: "deliver", uaid, push };
      if (m.fwd !== undefined && m.fwd !== 1) return bad("fwd");
      return m.fwd === 1 ? { op: "route", uaid, push, fwd: 1 } : { op: "route", uaid, push };
    }
    default:
      return new RouterDecodeError(`unknown op ${JSON.stringify(m.op)?.slice(0, 40)}`);
  }
}

/** Validates a reply from an old node (`flush`, what older ones answered an announce with, is ignored). */
export function decodeLegacyReply(m: Json): PresenceReply | RouterDecodeError {
  const out: PresenceReply = {};
  if (m.d !== undefined) {
    if (m.d !== 0 && m.d !== 1) return new RouterDecodeError("bad reply: d");
    out.d = m.d;
  }
  if (m.h !== undefined) {
    const h = str(m, "h");
    if (h === undefined) return new RouterDecodeError("bad reply: h");
    out.h = h;
  }
  if (m.flush !== undefined && m.flush !== 1) return new RouterDecodeError("bad reply: flush");
  return out;
}

function id(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
}

/** One decoded JSON line as a frame: which one is told by its keys, as old nodes wrote them. */
export function legacyFrame(m: Json): RouterFrame | RouterDecodeError {
  if ("hello" in m) {
    const nonce = hex(m, "hello", NONCE_BYTES);
    return nonce ? { t: "hello", nonce } : new RouterDecodeError("bad hello");
  }
  if ("auth" in m) {
    const proof = hex(m, "auth", PROOF_BYTES);
    return proof ? { t: "auth", proof } : new RouterDecodeError("bad auth");
  }
  if ("nonce" in m) {
    const nonce = hex(m, "nonce", NONCE_BYTES);
    const proof = hex(m, "proof", PROOF_BYTES);
    return nonce && proof
      ? { t: "challenge", nonce, proof }
      : new RouterDecodeError("bad challenge");
  }
  if ("r" in m) {
    const r = id(m.r);
    if (r === undefined) return new RouterDecodeError("bad reply id");
    if (typeof m.error === "string") return { t: "error", id: r, message: m.error };
    const reply = decodeLegacyReply(m);
    return reply instanceof RouterDecodeError ? reply : { t: "reply", id: r, reply };
  }
  const i = id(m.i);
  if (i === undefined) return new RouterDecodeError("bad request id");
  const req = decodeLegacyRequest(m);
  return req instanceof RouterDecodeError ? req : { t: "request", id: i, req };
}

function legacyRequest(req: RouterRequest): Json {
  if (req.op !== "route" && req.op !== "deliver") return { ...req };
  const { push, ...rest } = req;
  if (push.kind === "webpush") {
    const { frame, stamp } = push;
    return stamp === undefined ? { ...rest, frame } : { ...rest, frame, stamp };
  }
  const frame = notification([
    { channelID: push.channelID, version: push.version, data: push.data },
  ]);
  return push.stamp === undefined ? { ...rest, frame } : { ...rest, frame, stamp: push.stamp };
}

function encodeLegacy(f: RouterFrame): Buffer {
  let m: Json;
  switch (f.t) {
    case "hello":
      m = { hello: f.nonce.toString("hex") };
      break;
    case "challenge":
      m = { nonce: f.nonce.toString("hex"), proof: f.proof.toString("hex") };
      break;
    case "auth":
      m = { auth: f.proof.toString("hex") };
      break;
    case "request":
      m = { ...legacyRequest(f.req), i: f.id };
      break;
    case "reply":
      m = { ...f.reply, r: f.id };
      break;
    case "error":
      m = { r: f.id, error: f.message };
      break;
  }
  return Buffer.from(`${JSON.stringify(m)}\n`);
}

/** Lines of at most `maxFrame` characters; the first bad one kills the decoder. */
class LineDecoder implements FrameDecoder {
  private buf = "";
  private dead = false;
  private readonly text = new StringDecoder("utf8");
  constructor(private readonly maxFrame: () => number) {}

  push(chunk: Buffer, onFrame: (f: RouterFrame) => boolean): RouterDecodeError | undefined {
    if (this.dead) return undefined;
    this.buf += this.text.write(chunk);
    let start = 0;
    let nl = this.buf.indexOf("\n");
    while (nl >= 0) {
      if (nl - start > this.maxFrame())
        return this.fail(new RouterDecodeError("line too long", true));
      let m: unknown;
      try {
        m = JSON.parse(this.buf.slice(start, nl));
      } catch {
        return this.fail(new RouterDecodeError("not JSON"));
      }
      if (m === null || typeof m !== "object" || Array.isArray(m))
        return this.fail(new RouterDecodeError("not an object"));
      const f = legacyFrame(m as Json);
      if (f instanceof RouterDecodeError) return this.fail(f);
      if (!onFrame(f)) {
        this.dead = true;
        return undefined;
      }
      start = nl + 1;
      nl = this.buf.indexOf("\n", start);
    }
    this.buf = this.buf.slice(start);
    if (this.buf.length > this.maxFrame())
      return this.fail(new RouterDecodeError("line too long", true));
    return undefined;
  }

  private fail(e: RouterDecodeError): RouterDecodeError {
    this.dead = true;
    this.buf = "";
    return e;
  }
}

export const legacyWire: RouterWire = {
  name: "json",
  encode: encodeLegacy,
  decoder: (maxFrame) => new LineDecoder(maxFrame),
};
