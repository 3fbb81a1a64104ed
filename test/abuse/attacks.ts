/**
 * The attacks of issue 13, each a function over a running node that returns what an
 * attacker would observe (counts, close codes, frame sizes). `measure.ts` prints them for
 * any build (the "before" figures); the abuse tests assert on them. Attackers use source
 * addresses 127.0.0.2+ so that per-source-IP limits never touch the well-behaved client
 * (127.0.0.1). Every loop is bounded in count and time.
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import { Worker } from "node:worker_threads";
import type WebSocket from "ws";
import { parseJson } from "../../server/src/protocol/json.js";
import { closeCode, frameHeader, openFrom, rawClosed, rawSocket } from "./wire.js";

export interface Target {
  readonly port: number;
  readonly wsUrl: string;
  readonly httpUrl: string;
  readonly adminUrl: string;
}

type Json = Record<string, unknown>;

/** Sends `frames` one by one on `ws` and collects the replies until `done` or the deadline. */
export function converse(
  ws: WebSocket,
  timeoutMs: number,
  done: (replies: readonly Json[]) => boolean,
): Promise<{ replies: Json[]; texts: string[]; closed: number | undefined }> {
  const replies: Json[] = [];
  const texts: string[] = [];
  return new Promise((resolve) => {
    let closed: number | undefined;
    const finish = () => {
      clearTimeout(timer);
      ws.off("message", onMessage);
      ws.off("close", onClose);
      resolve({ replies, texts, closed });
    };
    const onMessage = (data: Buffer) => {
      const text = data.toString("utf8");
      texts.push(text);
      try {
        replies.push(parseJson(text) as Json);
      } catch {
        replies.push({ invalidFrame: text });
      }
      if (done(replies)) finish();
    };
    const onClose = (code: number) => {
      closed = code;
      finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    ws.on("message", onMessage);
    ws.on("close", onClose);
  });
}

/** The next reply on `ws` (undefined if it closed or nothing came in time). */
async function request(ws: WebSocket, frame: string, timeoutMs = 5000): Promise<Json | undefined> {
  const r = converse(ws, timeoutMs, (x) => x.length >= 1);
  ws.send(frame);
  return (await r).replies[0];
}

export async function hello(ws: WebSocket, uaid = ""): Promise<string> {
  const r = await request(ws, JSON.stringify({ messageType: "hello", uaid, channelIDs: [] }));
  if (r?.status !== 200) throw new Error(`hello failed: ${JSON.stringify(r)}`);
  return r.uaid as string;
}

/**
 * One UAID registers `n` channels, pipelined `window` at a time. Returns how many got a
 * 200 and the first reply that was not one (with the close code that followed).
 */
export async function registerFlood(t: Target, n: number, src: string, window = 20) {
  const ws = await openFrom(t.wsUrl, src);
  const uaid = await hello(ws);
  await request(ws, "{}"); // the hello flush is done: frames are no longer queued (≤ 32)
  let accepted = 0;
  const endpoints: string[] = [];
  let refused: Json | undefined;
  let sent = 0;
  const end = Date.now() + 60_000;
  const r = converse(ws, 60_000, (replies) => {
    const last = replies[replies.length - 1]!;
    if (last.status === 200) {
      accepted++;
      endpoints.push(last.pushEndpoint as string);
    } else refused ??= last;
    if (refused === undefined && sent < n && Date.now() < end) {
      sent++;
      ws.send(JSON.stringify({ messageType: "register", channelID: randomUUID() }));
    }
    return replies.length >= n || refused !== undefined;
  });
  for (; sent < Math.min(window, n); sent++) {
    ws.send(JSON.stringify({ messageType: "register", channelID: randomUUID() }));
  }
  const out = await r;
  const code = out.closed ?? (await closeCode(ws, 2000));
  ws.terminate();
  return { uaid, accepted, endpoints, refused, closeCode: code };
}

/** `rounds` fresh clients that each say hello, register one channel and leave. */
export async function anonymousRounds(t: Target, rounds: number, src: string, parallel = 20) {
  let done = 0;
  const endpoints: string[] = [];
  const worker = async () => {
    while (done < rounds) {
      done++;
      let ws: WebSocket | undefined;
      // A 429 (per-IP handshake rate) says come back shortly: do, a bounded number of times.
      for (let attempt = 0; ws === undefined; attempt++) {
        try {
          ws = await openFrom(t.wsUrl, src);
        } catch (err) {
          if ((err as { status?: number }).status !== 429 || attempt >= 100) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      await hello(ws);
      const r = await request(
        ws,
        JSON.stringify({ messageType: "register", channelID: randomUUID() }),
      );
      if (endpoints.length < 10 && typeof r?.pushEndpoint === "string")
        endpoints.push(r.pushEndpoint);
      ws.terminate();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { rounds: done, endpoints };
}

/**
 * Registers `channels` channels on one UAID, leaves, PUTs to every endpoint (stored), says
 * hello again and collects the notification frames of the flush.
 */
export async function pendingFlush(t: Target, channels: number, src: string) {
  const reg = await registerFlood(t, channels, src);
  const statuses = new Map<number, number>();
  for (let i = 0; i < reg.endpoints.length; i += 50) {
    const batch = reg.endpoints.slice(i, i + 50);
    const rs = await Promise.all(
      batch.map((e) =>
        fetch(e, {
          method: "PUT",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "version=7",
          signal: AbortSignal.timeout(10_000),
        }).then(async (res) => {
          await res.arrayBuffer();
          return res.status;
        }),
      ),
    );
    for (const s of rs) statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  const stored = statuses.get(202) ?? 0;
  const ws = await openFrom(t.wsUrl, src);
  let updates = 0;
  const r = converse(ws, 15_000, (replies) => {
    const last = replies[replies.length - 1]!;
    if (last.messageType === "notification") updates += (last.updates as unknown[]).length;
    return updates >= stored;
  });
  ws.send(JSON.stringify({ messageType: "hello", uaid: reg.uaid, channelIDs: [] }));
  const out = await r;
  ws.terminate();
  const frames = out.texts.filter((x) => x.includes('"notification"'));
  return {
    registered: reg.accepted,
    refused: reg.refused ?? { closeCode: reg.closeCode },
    putStatuses: Object.fromEntries(statuses),
    updates,
    frames: frames.length,
    maxFrameBytes: Math.max(0, ...frames.map((f) => Buffer.byteLength(f))),
  };
}

/**
 * Sends one frame after hello, then a ping: reports how the node answered and how long
 * until it answered the ping or closed (the time it spent on the frame).
 */
export async function oneFrame(t: Target, text: string, src: string, sayHello = true) {
  const ws = await openFrom(t.wsUrl, src);
  if (sayHello) await hello(ws);
  const t0 = performance.now();
  const r = converse(ws, 10_000, (x) => x.some((m) => Object.keys(m).length === 0));
  ws.send(text);
  ws.send("{}");
  const out = await r;
  const ms = Math.round(performance.now() - t0);
  const code = out.closed ?? (await closeCode(ws, 1000));
  ws.terminate();
  return {
    closeCode: code,
    ms,
    replies: out.texts.map((x) => (x.length > 200 ? `${x.slice(0, 200)}…` : x)),
  };
}

/** `n` back-to-back frames of `text` (e.g. purge): how many got `{}` before the close. */
export async function flood(t: Target, text: string, n: number, src: string) {
  const ws = await openFrom(t.wsUrl, src);
  await hello(ws);
  await request(ws, "{}"); // the hello flush is done: frames are no longer queued (≤ 32)
  const r = converse(ws, 10_000, (x) => x.length >= n);
  for (let i = 0; i < n; i++) ws.send(text);
  const out = await r;
  ws.terminate();
  return {
    pongs: out.texts.filter((x) => x === "{}").length,
    errors: out.replies.filter((x) => typeof x.status === "number" && x.status >= 400),
    closeCode: out.closed ?? "open",
  };
}

/** `n` sockets that complete the upgrade and never send a frame. */
export async function silentSockets(t: Target, n: number, src: string) {
  const sockets: WebSocket[] = [];
  let refused = 0;
  for (let i = 0; i < n; i++) {
    try {
      sockets.push(await openFrom(t.wsUrl, src));
    } catch {
      refused++;
    }
  }
  return { sockets, refused };
}

/** Counts how many of `sockets` the node closed within `ms` (the rest are terminated). */
export async function closedWithin(sockets: readonly WebSocket[], ms: number) {
  const codes = await Promise.all(sockets.map((ws) => closeCode(ws, ms)));
  for (const ws of sockets) ws.terminate();
  const byCode = new Map<string, number>();
  for (const c of codes) byCode.set(String(c), (byCode.get(String(c)) ?? 0) + 1);
  return Object.fromEntries(byCode);
}

/**
 * `n` raw sockets, each sending the header of a `declared`-byte text frame and `sent` bytes
 * of it, then nothing. Returns the sockets (still open or not) to watch.
 */
export async function partialFrames(
  t: Target,
  n: number,
  declared: number,
  sent: number,
  src: string,
) {
  const sockets: Socket[] = [];
  let refused = 0;
  const body = Buffer.alloc(sent, 0x20);
  for (let i = 0; i < n; i++) {
    try {
      const s = await rawSocket(t.port, src);
      s.write(frameHeader(declared));
      s.write(body);
      sockets.push(s);
    } catch {
      refused++;
    }
  }
  return { sockets, refused };
}

/**
 * One raw socket that says hello, then starts a `declared`-byte frame and trickles it a
 * little every 500 ms, never completing it (data keeps uWS's idle timer alive). Resolves
 * with how long the node took to close it, or "open" at `ms`.
 */
export async function trickledFrame(t: Target, declared: number, src: string, ms: number) {
  const s = await rawSocket(t.port, src);
  let received = Buffer.alloc(0);
  s.on("data", (b: Buffer) => {
    received = Buffer.concat([received, b]);
  });
  const hello = Buffer.from(JSON.stringify({ messageType: "hello", uaid: "", channelIDs: [] }));
  s.write(Buffer.concat([frameHeader(hello.length), hello]));
  s.write(frameHeader(declared));
  s.write(Buffer.alloc(64 * 1024, 0x20));
  const t0 = performance.now();
  const timer = setInterval(() => {
    if (!s.destroyed) s.write(Buffer.alloc(100, 0x20));
  }, 500);
  const closed = await rawClosed(s, ms);
  clearInterval(timer);
  s.destroy();
  return {
    ms: closed ? Math.round(performance.now() - t0) : "open",
    closeCode: closeCodeIn(received),
  };
}

/** The code of the first close frame in raw server→client bytes (unmasked frames). */
function closeCodeIn(b: Buffer): number | undefined {
  let i = 0;
  while (i + 2 <= b.length) {
    const op = b[i]! & 0x0f;
    let len = b[i + 1]! & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = b.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(b.readBigUInt64BE(at));
      at += 8;
    }
    if (op === 8) return len >= 2 ? b.readUInt16BE(at) : 1005;
    i = at + len;
  }
  return undefined;
}

export async function rawClosedWithin(sockets: readonly Socket[], ms: number) {
  const closed = await Promise.all(sockets.map((s) => rawClosed(s, ms)));
  for (const s of sockets) s.destroy();
  return closed.filter(Boolean).length;
}

/** A frame of `bytes` bytes (a JSON object padded with a long string). */
export function bigObject(bytes: number): string {
  const head = '{"messageType":"ping","pad":"';
  return `${head}${"x".repeat(Math.max(0, bytes - head.length - 2))}"}`;
}

/** Reads one sample (summed over labels) from the node's /metrics. */
export async function metric(adminUrl: string, name: string): Promise<number> {
  const text = await (
    await fetch(`${adminUrl}/metrics`, { signal: AbortSignal.timeout(5000) })
  ).text();
  let sum = 0;
  let seen = false;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
      seen = true;
    }
  }
  if (!seen) throw new Error(`no ${name} in /metrics`);
  return sum;
}

/**
 * A well-behaved client on its own thread (`pinger-worker.mjs`): pings every `everyMs` and
 * records each round trip (ms). The node must allow that ping rate.
 */
export async function wellBehaved(t: Target, everyMs: number) {
  const w = new Worker(new URL("./pinger-worker.mjs", import.meta.url), {
    workerData: { url: t.wsUrl, everyMs },
  });
  const replies: ((m: { samples: number[]; closedCode?: number; slow: number }) => void)[] = [];
  let ready: () => void;
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  w.on("message", (m) => {
    if (m.ready) ready();
    else replies.shift()?.(m);
  });
  await Promise.race([
    isReady,
    new Promise((_, rej) => setTimeout(() => rej(new Error("pinger: no hello reply")), 10_000)),
  ]);
  return {
    /** Round trips recorded since the last call (and whether the socket closed). */
    take(): Promise<{ samples: number[]; closedCode?: number; slow: number }> {
      return new Promise((r) => {
        replies.push(r);
        w.postMessage("take");
      });
    },
    async stop() {
      w.postMessage("stop");
      await w.terminate();
    },
  };
}

export function p99(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]!;
}
