/**
 * The router's binary wire: every frame is `u32 length` (of what follows) + `u8 type` + the
 * type's fields, big-endian. Strings are `u16 length` + UTF-8 (a notification's data and a
 * Web Push frame: `u32 length`); request ids `u32`; versions `u64`; `since` stamps `f64`
 * (microsecond clocks, exact as a double); nonces and proofs raw bytes. One encoder and one
 * decoder for every message, so a field is checked once, at the edge.
 *
 * The decoder stops at the first bad frame (over the size limit, unknown type, truncated or
 * trailing bytes, a field out of bounds) and never parses what follows it.
 */
import type { Push } from "./route.js";
import {
  type FrameDecoder,
  MAX_ERROR_BYTES,
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

const T = {
  hello: 1,
  challenge: 2,
  auth: 3,
  announce: 16,
  withdraw: 17,
  evict: 18,
  nudge: 19,
  flush: 20,
  route: 21,
  deliver: 22,
  reclaim: 23,
  reply: 32,
  error: 33,
} as const;

/** Flags of route/deliver. */
const F_FWD = 1;
const F_WEBPUSH = 2;
const F_STAMP = 4;
const F_DATA = 8;
/** Flags of a reply. */
const R_D = 1;
const R_DELIVERED = 2;
const R_H = 4;

/** Builds one frame: sizes are summed first, then written into one buffer. */
class Writer {
  private parts: Array<[kind: number, value: unknown, bytes: number]> = [];
  private size = 0;
  u8(v: number): this {
    this.parts.push([0, v, 1]);
    this.size += 1;
    return this;
  }
  u32(v: number): this {
    this.parts.push([1, v, 4]);
    this.size += 4;
    return this;
  }
  f64(v: number): this {
    this.parts.push([2, v, 8]);
    this.size += 8;
    return this;
  }
  u64(v: bigint): this {
    this.parts.push([3, v, 8]);
    this.size += 8;
    return this;
  }
  raw(b: Buffer): this {
    this.parts.push([4, b, b.length]);
    this.size += b.length;
    return this;
  }
  str16(s: string): this {
    const n = Buffer.byteLength(s);
    if (n > 0xffff) throw new RangeError("router string over 64 KiB");
    this.parts.push([5, s, n]);
    this.size += 2 + n;
    return this;
  }
  str32(s: string): this {
    const n = Buffer.byteLength(s);
    this.parts.push([6, s, n]);
    this.size += 4 + n;
    return this;
  }
  done(type: number): Buffer {
    const b = Buffer.allocUnsafe(5 + this.size);
    b.writeUInt32BE(1 + this.size, 0);
    b[4] = type;
    let o = 5;
    for (const [kind, v, n] of this.parts) {
      switch (kind) {
        case 0:
          b[o] = v as number;
          break;
        case 1:
          b.writeUInt32BE(v as number, o);
          break;
        case 2:
          b.writeDoubleBE(v as number, o);
          break;
        case 3:
          b.writeBigUInt64BE(v as bigint, o);
          break;
        case 4:
          (v as Buffer).copy(b, o);
          break;
        case 5:
          b.writeUInt16BE(n, o);
          o += 2;
          b.write(v as string, o, n, "utf8");
          break;
        case 6:
          b.writeUInt32BE(n, o);
          o += 4;
          b.write(v as string, o, n, "utf8");
          break;
      }
      o += n;
    }
    return b;
  }
}

function pushFields(w: Writer, push: Push, fwd: boolean): Writer {
  if (push.kind === "webpush") {
    w.u8((fwd ? F_FWD : 0) | F_WEBPUSH | (push.stamp !== undefined ? F_STAMP : 0));
    if (push.stamp !== undefined) w.str16(push.stamp);
    return w.str32(push.frame);
  }
  const flags =
    (fwd ? F_FWD : 0) |
    (push.stamp !== undefined ? F_STAMP : 0) |
    (push.data !== undefined ? F_DATA : 0);
  w.u8(flags).str16(push.channelID).u64(push.version);
  if (push.stamp !== undefined) w.str16(push.stamp);
  if (push.data !== undefined) w.str32(push.data);
  return w;
}

function encodeRequest(id: number, req: RouterRequest): Buffer {
  const w = new Writer().u32(id);
  switch (req.op) {
    case "announce":
    case "withdraw":
      return w.str16(req.uaid).str16(req.node).f64(req.since).done(T[req.op]);
    case "evict":
    case "flush":
      return w.str16(req.uaid).f64(req.since).done(T[req.op]);
    case "nudge":
      return w
        .str16(req.uaid)
        .u8(req.fwd === 1 ? F_FWD : 0)
        .done(T.nudge);
    case "reclaim":
      return w.str16(req.node).done(T.reclaim);
    case "route":
      return pushFields(w.str16(req.uaid), req.push, req.fwd === 1).done(T.route);
    case "deliver":
      return pushFields(w.str16(req.uaid), req.push, false).done(T.deliver);
  }
}

/** One frame as bytes, length prefix included. */
export function encodeFrame(f: RouterFrame): Buffer {
  switch (f.t) {
    case "hello":
      return new Writer().raw(f.nonce).done(T.hello);
    case "challenge":
      return new Writer().raw(f.nonce).raw(f.proof).done(T.challenge);
    case "auth":
      return new Writer().raw(f.proof).done(T.auth);
    case "request":
      return encodeRequest(f.id, f.req);
    case "reply": {
      const { d, h } = f.reply;
      const flags = (d !== undefined ? R_D : 0) | (d === 1 ? R_DELIVERED : 0) | (h ? R_H : 0);
      const w = new Writer().u32(f.id).u8(flags);
      if (h) w.str16(h);
      return w.done(T.reply);
    }
    case "error": {
      const m = Buffer.from(f.message).subarray(0, MAX_ERROR_BYTES).toString();
      return new Writer().u32(f.id).str16(m).done(T.error);
    }
  }
}

/** Thrown inside the decoder only; `decodeFrame` turns it into a RouterDecodeError. */
class Bad extends Error {}

/** A cursor over one frame's body; every read checks the bytes are there. */
class Reader {
  private o = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): number {
    const at = this.o;
    if (at + n > this.b.length) throw new Bad("truncated");
    this.o += n;
    return at;
  }
  u8(): number {
    return this.b[this.need(1)]!;
  }
  u32(): number {
    return this.b.readUInt32BE(this.need(4));
  }
  u64(): bigint {
    return this.b.readBigUInt64BE(this.need(8));
  }
  since(): number {
    const v = this.b.readDoubleBE(this.need(8));
    if (!Number.isFinite(v) || v < 0) throw new Bad("since");
    return v;
  }
  raw(n: number): Buffer {
    const at = this.need(n);
    return Buffer.from(this.b.subarray(at, at + n));
  }
  str16(what: string, max: number, min = 1): string {
    const n = this.b.readUInt16BE(this.need(2));
    if (n > max || n < min) throw new Bad(what);
    const at = this.need(n);
    return this.b.toString("utf8", at, at + n);
  }
  str32(): string {
    const n = this.b.readUInt32BE(this.need(4));
    const at = this.need(n);
    return this.b.toString("utf8", at, at + n);
  }
  end(): void {
    if (this.o !== this.b.length) throw new Bad("trailing bytes");
  }
}

function readPush(r: Reader, flags: number): Push {
  if (flags & F_WEBPUSH) {
    if (flags & F_DATA) throw new Bad("flags");
    const stamp = flags & F_STAMP ? r.str16("stamp", MAX_STAMP_BYTES) : undefined;
    const frame = r.str32();
    return stamp === undefined ? { kind: "webpush", frame } : { kind: "webpush", frame, stamp };
  }
  const channelID = r.str16("channelID", MAX_ID_BYTES);
  const version = r.u64();
  const stamp = flags & F_STAMP ? r.str16("stamp", MAX_STAMP_BYTES) : undefined;
  const data = flags & F_DATA ? r.str32() : undefined;
  const push: Push = { kind: "simplepush", channelID, version };
  if (stamp !== undefined) Object.assign(push, { stamp });
  if (data !== undefined) Object.assign(push, { data });
  return push;
}

function readFrame(type: number, r: Reader): RouterFrame {
  switch (type) {
    case T.hello:
      return { t: "hello", nonce: r.raw(NONCE_BYTES) };
    case T.challenge:
      return { t: "challenge", nonce: r.raw(NONCE_BYTES), proof: r.raw(PROOF_BYTES) };
    case T.auth:
      return { t: "auth", proof: r.raw(PROOF_BYTES) };
    case T.announce:
    case T.withdraw: {
      const id = r.u32();
      const uaid = r.str16("uaid", MAX_ID_BYTES);
      const node = r.str16("node", MAX_ID_BYTES);
      const since = r.since();
      const op = type === T.announce ? "announce" : "withdraw";
      return { t: "request", id, req: { op, uaid, node, since } };
    }
    case T.evict:
    case T.flush: {
      const id = r.u32();
      const uaid = r.str16("uaid", MAX_ID_BYTES);
      const since = r.since();
      return { t: "request", id, req: { op: type === T.evict ? "evict" : "flush", uaid, since } };
    }
    case T.nudge: {
      const id = r.u32();
      const uaid = r.str16("uaid", MAX_ID_BYTES);
      const flags = r.u8();
      if (flags & ~F_FWD) throw new Bad("flags");
      return {
        t: "request",
        id,
        req: flags ? { op: "nudge", uaid, fwd: 1 } : { op: "nudge", uaid },
      };
    }
    case T.reclaim: {
      const id = r.u32();
      return { t: "request", id, req: { op: "reclaim", node: r.str16("node", MAX_ID_BYTES) } };
    }
    case T.route:
    case T.deliver: {
      const id = r.u32();
      const uaid = r.str16("uaid", MAX_ID_BYTES);
      const flags = r.u8();
      if (flags & ~(F_FWD | F_WEBPUSH | F_STAMP | F_DATA)) throw new Bad("flags");
      if (type === T.deliver && flags & F_FWD) throw new Bad("flags");
      const push = readPush(r, flags);
      if (type === T.deliver) return { t: "request", id, req: { op: "deliver", uaid, push } };
      return {
        t: "request",
        id,
        req: flags & F_FWD ? { op: "route", uaid, push, fwd: 1 } : { op: "route", uaid, push },
      };
    }
    case T.reply: {
      const id = r.u32();
      const flags = r.u8();
      if (flags & ~(R_D | R_DELIVERED | R_H) || (flags & R_DELIVERED && !(flags & R_D)))
        throw new Bad("flags");
      const reply: PresenceReply = {};
      if (flags & R_D) reply.d = flags & R_DELIVERED ? 1 : 0;
      if (flags & R_H) reply.h = r.str16("h", MAX_ID_BYTES);
      return { t: "reply", id, reply };
    }
    case T.error: {
      const id = r.u32();
      return { t: "error", id, message: r.str16("message", MAX_ERROR_BYTES, 0) };
    }
    default:
      throw new Bad(`unknown type ${type}`);
  }
}

/** Decodes one frame's body (`type` byte onwards, without the length prefix). */
export function decodeFrame(body: Buffer): RouterFrame | RouterDecodeError {
  if (body.length < 1) return new RouterDecodeError("bad router frame: empty");
  try {
    const r = new Reader(body.subarray(1));
    const f = readFrame(body[0]!, r);
    r.end();
    return f;
  } catch (err) {
    if (err instanceof Bad) return new RouterDecodeError(`bad router frame: ${err.message}`);
    // A RangeError from a Buffer read past the end is a truncated field too.
    return new RouterDecodeError(`bad router frame: ${String(err)}`);
  }
}

/** Splits a byte stream into frames; dead after the first bad one. */
class BinaryDecoder implements FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private dead = false;
  constructor(private readonly maxFrame: () => number) {}

  push(chunk: Buffer, onFrame: (f: RouterFrame) => boolean): RouterDecodeError | undefined {
    if (this.dead) return undefined;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let o = 0;
    while (this.buf.length - o >= 4) {
      const n = this.buf.readUInt32BE(o);
      if (n > this.maxFrame())
        return this.fail(new RouterDecodeError("router frame too long", true));
      if (this.buf.length - o - 4 < n) break;
      const f = decodeFrame(this.buf.subarray(o + 4, o + 4 + n));
      if (f instanceof RouterDecodeError) return this.fail(f);
      o += 4 + n;
      if (!onFrame(f)) {
        this.dead = true;
        return undefined;
      }
    }
    // Copy the tail so a big chunk is not kept alive by a few bytes of the next frame.
    this.buf = o === 0 ? this.buf : Buffer.from(this.buf.subarray(o));
    return undefined;
  }

  private fail(e: RouterDecodeError): RouterDecodeError {
    this.dead = true;
    this.buf = Buffer.alloc(0);
    return e;
  }
}

export const binaryWire: RouterWire = {
  name: "binary",
  encode: encodeFrame,
  decoder: (maxFrame) => new BinaryDecoder(maxFrame),
};
