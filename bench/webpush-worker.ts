/**
 * A Web Push client worker (forked by `webpush.ts`): `clients` WebSockets in Web Push mode
 * (hello `use_webpush`, register), then closed loops of `POST /wpush/<token>` (an
 * aes128gcm payload encrypted once for this worker's user-agent keys) → the notification
 * → ack by message id. Every notification's payload is checked byte for byte against what
 * was POSTed (decrypt-ready: the browser gets exactly the ciphertext), and one in
 * `DECRYPT_EVERY` is decrypted (`server/src/client/ece.ts`) to prove it.
 */
import http from "node:http";
import webpush from "web-push";
import WebSocket from "ws";
import { decryptAes128gcm, newUserAgentKeys } from "../server/src/client/ece.js";

export interface WebPushWorkerConfig {
  readonly host: string;
  readonly port: number;
  readonly clients: number;
  readonly localAddress: string;
  readonly httpSockets: number;
}

export type WebPushCommand =
  | { cmd: "load"; concurrency: number; durationMs: number }
  | { cmd: "stop" };

export interface WebPushLoadReport {
  readonly kind: "load";
  readonly posts: number;
  readonly completed: number;
  readonly acks: number;
  readonly failed: number;
  readonly mismatched: number;
  readonly decrypted: number;
  readonly statuses: Record<string, number>;
}

const DECRYPT_EVERY = 1000;
const PAYLOAD = "bench: a Web Push payload of a typical size, relayed opaquely by Edition ✓".repeat(
  2,
);

const cfg = JSON.parse(process.env.BENCH_WEBPUSH_WORKER!) as WebPushWorkerConfig;
const keys = newUserAgentKeys();
const body = webpush.encrypt(
  keys.publicKey.toString("base64url"),
  keys.authSecret.toString("base64url"),
  PAYLOAD,
  "aes128gcm",
).cipherText as Buffer;
const expected = body.toString("base64url");
const agent = new http.Agent({
  keepAlive: true,
  maxSockets: cfg.httpSockets,
  localAddress: cfg.localAddress,
});

interface Client {
  readonly ws: WebSocket;
  path: string;
  waiter: (() => void) | undefined;
}
const clients: Client[] = [];
let acks = 0;
let mismatched = 0;
let decrypted = 0;
let seen = 0;

function open(): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${cfg.host}:${cfg.port}/`, ["push-notification"], {
      localAddress: cfg.localAddress,
      perMessageDeflate: false,
    });
    const c: Client = { ws, path: "", waiter: undefined };
    const timer = setTimeout(() => reject(new Error("client setup timed out")), 20_000);
    ws.on("error", reject);
    ws.on("open", () => ws.send('{"messageType":"hello","broadcasts":{},"use_webpush":true}'));
    ws.on("message", (raw) => {
      const m = JSON.parse(raw.toString()) as Record<string, unknown>;
      if (m.messageType === "notification") {
        if (m.data !== expected || (m.headers as { encoding?: string }).encoding !== "aes128gcm")
          mismatched++;
        else if (++seen % DECRYPT_EVERY === 0) {
          if (
            decryptAes128gcm(keys, Buffer.from(m.data as string, "base64url")).toString() ===
            PAYLOAD
          )
            decrypted++;
          else mismatched++;
        }
        ws.send(
          `{"messageType":"ack","updates":[{"channelID":"${m.channelID}","version":"${m.version}","code":100}]}`,
        );
        acks++;
        const w = c.waiter;
        c.waiter = undefined;
        w?.();
      } else if (m.messageType === "hello") {
        ws.send(`{"messageType":"register","channelID":"${crypto.randomUUID()}"}`);
      } else if (m.messageType === "register") {
        c.path = new URL(m.pushEndpoint as string).pathname;
        clearTimeout(timer);
        resolve(c);
      }
    });
  });
}

function post(c: Client): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({
      agent,
      host: cfg.host,
      port: cfg.port,
      method: "POST",
      path: c.path,
      headers: { ttl: "60", "content-encoding": "aes128gcm", "content-length": body.length },
    });
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(-1));
    req.end(body);
  });
}

async function load(concurrency: number, durationMs: number): Promise<WebPushLoadReport> {
  const end = performance.now() + durationMs;
  const statuses: Record<string, number> = {};
  let posts = 0;
  let completed = 0;
  let failed = 0;
  const acks0 = acks;
  const loop = async (i: number) => {
    // Loop i owns sockets i, i + concurrency, … (and only those): one message in flight per
    // socket, so a notification always finds the waiter of the POST that caused it.
    const own = clients.filter((_, j) => j % concurrency === i);
    for (let k = 0; performance.now() < end; k++) {
      const c = own[k % own.length]!;
      const arrived = new Promise<void>((r) => {
        c.waiter = r;
      });
      posts++;
      const status = await post(c);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status !== 201) {
        failed++;
        c.waiter = undefined;
        continue;
      }
      const late = await Promise.race([
        arrived.then(() => false),
        new Promise<boolean>((r) => setTimeout(r, 10_000, true)),
      ]);
      if (late) failed++;
      else completed++;
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, clients.length) }, (_, i) => loop(i)),
  );
  return {
    kind: "load",
    posts,
    completed,
    acks: acks - acks0,
    failed,
    mismatched,
    decrypted,
    statuses,
  };
}

async function main(): Promise<void> {
  for (let i = 0; i < cfg.clients; i += 50) {
    const batch = Array.from({ length: Math.min(50, cfg.clients - i) }, open);
    clients.push(...(await Promise.all(batch)));
  }
  process.send!({ kind: "ready" });
  process.on("message", (m: WebPushCommand) => {
    if (m.cmd === "stop") {
      for (const c of clients) c.ws.terminate();
      agent.destroy();
      process.exit(0);
    }
    void load(m.concurrency, m.durationMs).then((r) => process.send!(r));
  });
}

main().catch((err) => {
  process.stderr.write(`webpush worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
