/**
 * A deliberately broken configuration for `--break drop-acks`: a WebSocket proxy in front
 * of the target that forwards every frame both ways except the clients' `ack` frames, which
 * it silently drops. To the clients it looks like a cluster that loses acks: updates they
 * acked come back at their next hello. The suites must fail on it (acked_redelivered).
 * Loopback only, ephemeral port; one upstream socket per client socket.
 */
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";

export interface AckDroppingProxy {
  /** Where clients connect instead of the target. */
  readonly url: string;
  readonly stats: { forwarded: number; droppedAcks: number };
  close(): Promise<void>;
}

/** Frames a client may send before the upstream socket opens; more closes it. */
const MAX_EARLY_FRAMES = 64;

function isAck(text: string): boolean {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null) return false;
    for (const [k, t] of Object.entries(v)) {
      if (k.toLowerCase() === "messagetype" && typeof t === "string")
        return t.toLowerCase() === "ack";
    }
  } catch {
    // Not JSON: forward it and let the server answer it.
  }
  return false;
}

/** Close codes a peer may send; others (1005, 1006, …) become a plain termination. */
function closeWith(ws: WebSocket, code: number): void {
  if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) return;
  const sendable =
    code === 1000 ||
    (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
  if (sendable && ws.readyState === WebSocket.OPEN) ws.close(code);
  else ws.terminate();
}

export async function startAckDroppingProxy(upstreamUrl: string): Promise<AckDroppingProxy> {
  const stats = { forwarded: 0, droppedAcks: 0 };
  const server = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    maxPayload: 1024 * 1024,
    handleProtocols: (protocols) =>
      protocols.has("push-notification") ? "push-notification" : false,
  });
  server.on("connection", (client, req) => {
    const offered = req.headers["sec-websocket-protocol"];
    const upstream = new WebSocket(
      upstreamUrl,
      offered ? offered.split(",").map((p) => p.trim()) : [],
    );
    const early: string[] = [];
    client.on("message", (data, isBinary) => {
      const text = data.toString();
      if (!isBinary && isAck(text)) {
        stats.droppedAcks++;
        return;
      }
      if (upstream.readyState === WebSocket.OPEN) {
        stats.forwarded++;
        upstream.send(text, { binary: isBinary });
      } else if (early.length < MAX_EARLY_FRAMES) early.push(text);
      else closeWith(client, 1013);
    });
    upstream.on("open", () => {
      for (const text of early.splice(0)) {
        stats.forwarded++;
        upstream.send(text);
      }
    });
    upstream.on("message", (data, isBinary) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    });
    client.on("close", (code) => closeWith(upstream, code));
    upstream.on("close", (code) => closeWith(client, code));
    client.on("error", () => upstream.terminate());
    upstream.on("error", () => client.terminate());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    stats,
    close: () =>
      new Promise((resolve) => {
        for (const c of server.clients) c.terminate();
        server.close(() => resolve());
      }),
  };
}
