/**
 * Raw WebSocket pieces an attacker uses that a well-behaved library will not send: a
 * handshake from a chosen source address, then frames cut short. Also a `ws` client bound to
 * a chosen loopback source address (per-source-IP limits see each address separately).
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { connect as netConnect, type Socket } from "node:net";
import WebSocket from "ws";

/** A client WebSocket from `localAddress` (127.0.0.x); resolves when open, rejects with the HTTP status. */
export function openFrom(url: string, localAddress: string, timeoutMs = 5000): Promise<WebSocket> {
  const ws = new WebSocket(url, [], {
    localAddress,
    handshakeTimeout: timeoutMs,
    perMessageDeflate: false,
  });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => {
      ws.terminate();
      reject(
        Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }),
      );
    });
    ws.once("error", reject);
  });
}

/** Resolves with the close code of `ws` (1006 when the TCP connection just dropped). */
export function closeCode(ws: WebSocket, timeoutMs: number): Promise<number | "open"> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), timeoutMs);
    ws.once("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** A raw TCP socket that completed a WebSocket handshake; frames are written by hand. */
export async function rawSocket(port: number, localAddress: string): Promise<Socket> {
  const s = netConnect({ host: "127.0.0.1", port, localAddress });
  s.on("error", () => {});
  await once(s, "connect");
  s.write(
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = "";
  const end = Date.now() + 5000;
  while (!head.includes("\r\n\r\n")) {
    const chunk = await Promise.race([
      once(s, "data").then(([b]) => (b as Buffer).toString("latin1")),
      new Promise<string>((_, rej) =>
        setTimeout(() => rej(new Error("no handshake reply")), Math.max(1, end - Date.now())),
      ),
    ]);
    head += chunk;
  }
  if (!head.startsWith("HTTP/1.1 101")) {
    s.destroy();
    throw Object.assign(new Error(`upgrade refused: ${head.split("\r\n")[0]}`), {
      status: Number(head.split(" ")[1]),
    });
  }
  return s;
}

/** The header of one masked text frame of `length` payload bytes (the mask is all zero). */
export function frameHeader(length: number): Buffer {
  if (length < 126) return Buffer.from([0x81, 0x80 | length, 0, 0, 0, 0]);
  if (length < 65536) {
    const b = Buffer.from([0x81, 0x80 | 126, 0, 0, 0, 0, 0, 0]);
    b.writeUInt16BE(length, 2);
    return b;
  }
  const b = Buffer.alloc(14);
  b[0] = 0x81;
  b[1] = 0x80 | 127;
  b.writeBigUInt64BE(BigInt(length), 2);
  return b;
}

/** Resolves when the raw socket is closed by the peer (true) or the deadline passes (false). */
export function rawClosed(s: Socket, timeoutMs: number): Promise<boolean> {
  if (s.destroyed || s.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    s.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
