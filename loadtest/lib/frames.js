// SimplePush frames as k6 sees them: parsing that keeps 64-bit versions exact, frame
// builders, channel IDs, and the versions this load generator mints.
//
// Versions are unsigned 64-bit integers on the wire. JSON.parse would round any version past
// 2^53, so every `"version": <digits>` is turned into a string before parsing and versions
// stay decimal strings everywhere in the suites (compared with `compareVersions`).

const VERSION_NUMBER = /("version"\s*:\s*)(-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)/g;

/** Parses one server frame; every `version` comes back as a decimal string. */
export function parseFrame(text) {
  const frame = JSON.parse(text.replace(VERSION_NUMBER, '$1"$2"'));
  if (frame === null || typeof frame !== "object" || Array.isArray(frame)) {
    throw new Error(`not a JSON object: ${text.slice(0, 80)}`);
  }
  return frame;
}

/** The lower-case messageType of a parsed frame, "" for `{}` (a ping reply). */
export function typeOf(frame) {
  return typeof frame.messageType === "string" ? frame.messageType.toLowerCase() : "";
}

/** Compares two canonical decimal strings (no sign, no leading zeros) as integers. */
export function compareVersions(a, b) {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function helloFrame(uaid, channelIDs) {
  return JSON.stringify({ messageType: "hello", uaid, channelIDs });
}

export function registerFrame(channelID) {
  return JSON.stringify({ messageType: "register", channelID });
}

export function unregisterFrame(channelID) {
  return JSON.stringify({ messageType: "unregister", channelID });
}

/** An ack; versions are written digit for digit (never through a JS number). */
export function ackFrame(updates) {
  const parts = updates.map(
    (u) => `{"channelID":${JSON.stringify(u.channelID)},"version":${u.version}}`,
  );
  return `{"messageType":"ack","updates":[${parts.join(",")}]}`;
}

export const PING_FRAME = "{}";

/** A random UUIDv4 (channel IDs are chosen by the client). */
export function uuid4() {
  const h = [];
  for (let i = 0; i < 32; i++) h.push(Math.floor(Math.random() * 16).toString(16));
  h[12] = "4";
  h[16] = ((Number.parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
  const s = h.join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

// Versions minted here are `send time in ms × 1000 + n`: strictly increasing within a VU,
// below 2^53 until the year 2255 (so `Number(version)` is exact), and they carry the PUT's
// send time, which is how PUT → client latency is measured (see README, "Latency").
let lastVersion = 0;

/** A fresh version for a PUT, as a decimal string; its send time is `sentAtMs(version)`. */
export function mintVersion(nowMs) {
  const v = Math.max(lastVersion + 1, nowMs * 1000);
  lastVersion = v;
  return String(v);
}

/** The send time (ms since the epoch) a minted version carries. */
export function sentAtMs(version) {
  return Math.floor(Number(version) / 1000);
}
