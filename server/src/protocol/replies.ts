/**
 * Server frames, written as strings. Versions are written digit for digit from `bigint`
 * (never through a JS number). Every interpolated value is either validated hex/UUID text
 * or passed through JSON.stringify.
 */
import { type ReplyErrorCode, replyOf } from "../errors/catalogue.js";
import { ReplyError, type ReplyErrorKind } from "./errors.js";

/**
 * Echoes the client's own object with `status` and `error` added (docs/protocol.md "Error
 * reply"), and the `errno` the catalogue gives the code (or `errno` when given). Works on
 * the raw text so that the echo is exact, big integers included.
 */
export function errorReply(
  raw: string,
  kind: ReplyErrorKind | ReplyErrorCode,
  errno?: number,
): string {
  const r =
    kind in ReplyError ? ReplyError[kind as ReplyErrorKind] : replyOf(kind as ReplyErrorCode);
  const { status, error } = r;
  errno ??= r.errno;
  const tail =
    errno === undefined
      ? `"status":${status},"error":"${error}"}`
      : `"status":${status},"error":"${error}","errno":${errno}}`;
  const end = raw.lastIndexOf("}");
  const body = end < 0 ? "" : raw.slice(0, end).trimEnd();
  if (body.length === 0) return `{${tail}`;
  // An empty object (`{}`, `{ }`, ` {}`) takes no comma: only then can the body end in `{`.
  if (body.endsWith("{")) return `${body}${tail}`;
  return `${body},${tail}`;
}

export function helloReply(uaid: string): string {
  return `{"messageType":"hello","uaid":${JSON.stringify(uaid)},"status":200}`;
}

export function redirectReply(uaid: string, redirect: string): string {
  return `{"messageType":"hello","uaid":${JSON.stringify(uaid)},"status":307,"redirect":${JSON.stringify(redirect)}}`;
}

export function registerReply(uaid: string, channelID: string, pushEndpoint: string): string {
  return `{"messageType":"register","uaid":"${uaid}","status":200,"channelID":${JSON.stringify(channelID)},"pushEndpoint":${JSON.stringify(pushEndpoint)}}`;
}

export function unregisterReply(channelID: string): string {
  return `{"messageType":"unregister","status":200,"channelID":${JSON.stringify(channelID)}}`;
}

export interface Update {
  /** The channelID as the client registered it. */
  readonly channelID: string;
  readonly version: bigint;
  /** Present only on direct delivery of a PUT that carried data. */
  readonly data?: string | undefined;
}

function updateJson(u: Update): string {
  const data = u.data === undefined ? "" : `,"data":${JSON.stringify(u.data)}`;
  return `{"channelID":${JSON.stringify(u.channelID)},"version":${u.version.toString()}${data}}`;
}

/** One `notification` frame carrying `updates` (direct delivery: one; flush: all pending). */
export function notification(updates: readonly Update[]): string {
  let s = '{"messageType":"notification","updates":[';
  for (let i = 0; i < updates.length; i++) {
    if (i > 0) s += ",";
    s += updateJson(updates[i]!);
  }
  return `${s}]}`;
}

const DIRECT_HEAD = '{"messageType":"notification","updates":[{"channelID":"';

/**
 * The channel and version of a direct-delivery frame built by `notification([one update])`
 * (its exact layout), or undefined for any other frame (a Web Push one, a flush page): how a
 * frame from a node of the JSON-line router is read back into fields (routing/router-legacy.ts).
 */
export function directUpdate(
  frame: string,
): { channelID: string; version: bigint; data: boolean } | undefined {
  if (!frame.startsWith(DIRECT_HEAD)) return undefined;
  const idEnd = frame.indexOf('"', DIRECT_HEAD.length);
  const vStart = idEnd + ',"version":'.length + 1;
  if (idEnd < 0 || frame.slice(idEnd, vStart) !== '","version":') return undefined;
  let vEnd = vStart;
  while (vEnd < frame.length && frame.charCodeAt(vEnd) >= 48 && frame.charCodeAt(vEnd) <= 57)
    vEnd++;
  if (vEnd === vStart) return undefined;
  return {
    channelID: frame.slice(DIRECT_HEAD.length, idEnd),
    version: BigInt(frame.slice(vStart, vEnd)),
    data: frame.charCodeAt(vEnd) === 44, // ',': a "data" key follows
  };
}

export const PING_REPLY = "{}";

/**
 * The flush at hello as `notification` frames of at most `maxBytes` each (an update never
 * spans two frames; one larger than `maxBytes` alone still goes, in a frame of its own).
 * Clients already take several notifications; one huge frame (20k updates were 1.26 MB)
 * would pin memory and trip slow-consumer limits.
 */
export function notificationPages(updates: readonly Update[], maxBytes: number): string[] {
  const head = '{"messageType":"notification","updates":[';
  const frames: string[] = [];
  let s = head;
  let n = 0;
  for (const u of updates) {
    const j = updateJson(u);
    // Sizes in UTF-16 units: channelIDs are ASCII (UUIDs), so this is bytes.
    if (n > 0 && s.length + 1 + j.length + 2 > maxBytes) {
      frames.push(`${s}]}`);
      s = head;
      n = 0;
    }
    s += n === 0 ? j : `,${j}`;
    n++;
  }
  if (n > 0) frames.push(`${s}]}`);
  return frames;
}
