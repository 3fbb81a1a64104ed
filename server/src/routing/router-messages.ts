/**
 * The messages the internal router carries, decoded in one place: a request or reply from
 * another node is checked field by field before any handler sees it, instead of being cast.
 * (Web Push delivery rides on `route`/`deliver` with its frame as an opaque string.)
 */

/** Requests between nodes: the directory's (announce, withdraw, evict) and delivery's. */
export type RouterRequest =
  | { op: "announce"; uaid: string; node: string; since: number }
  | { op: "withdraw"; uaid: string; node: string; since: number }
  | { op: "evict"; uaid: string; since: number }
  /** To the owner: a PUT for `uaid` may have missed its socket (see cluster-route.ts). */
  | { op: "nudge"; uaid: string; fwd?: 1 }
  /** Owner to holder: flush the claim `(uaid, since)` again. */
  | { op: "flush"; uaid: string; since: number }
  /** `fwd`: already forwarded once by a node whose table said it was not the owner. */
  | { op: "route"; uaid: string; frame: string; stamp?: string; fwd?: 1 }
  | { op: "deliver"; uaid: string; frame: string; stamp?: string };

/**
 * Replies: `d` says whether a route/deliver reached a socket; `h` names the node holding the
 * socket (a delivered route), for the endpoint's holder cache. `flush` is what nodes before
 * the one-flush directory answered an announce with: accepted from them and ignored.
 */
export type PresenceReply = { d?: 0 | 1; h?: string; flush?: 1 };

export class RouterDecodeError extends Error {
  override readonly name = "RouterDecodeError";
  readonly code = "ROUTER_BAD_MESSAGE";
}

const MAX_ID = 256;

function str(m: Record<string, unknown>, k: string, max = MAX_ID): string | undefined {
  const v = m[k];
  return typeof v === "string" && v.length > 0 && v.length <= max ? v : undefined;
}

function num(m: Record<string, unknown>, k: string): number | undefined {
  const v = m[k];
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** Validates a request from another node; the router's own `i` field is ignored. */
export function decodeRequest(m: Record<string, unknown>): RouterRequest | RouterDecodeError {
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
      const stamp = m.stamp === undefined ? undefined : str(m, "stamp", 64);
      if (m.stamp !== undefined && stamp === undefined) return bad("stamp");
      const withStamp = stamp === undefined ? {} : { stamp };
      if (m.op === "deliver") return { op: "deliver", uaid, frame, ...withStamp };
      if (m.fwd !== undefined && m.fwd !== 1) return bad("fwd");
      return m.fwd === 1
        ? { op: "route", uaid, frame, ...withStamp, fwd: 1 }
        : { op: "route", uaid, frame, ...withStamp };
    }
    default:
      return new RouterDecodeError(`unknown op ${JSON.stringify(m.op)?.slice(0, 40)}`);
  }
}

/** Validates a reply; anything but the known flags is an error (a peer of another version). */
export function decodeReply(m: Record<string, unknown>): PresenceReply | RouterDecodeError {
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
  if (m.flush !== undefined) {
    if (m.flush !== 1) return new RouterDecodeError("bad reply: flush");
    out.flush = 1;
  }
  return out;
}
