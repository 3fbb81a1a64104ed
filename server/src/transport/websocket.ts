/**
 * The client WebSocket listener on uWS: upgrade (capacity and drain checks, subprotocol
 * echo), frames in, sends out. All protocol work is in `delivery/connections.ts`.
 *
 * uWS rules relied on here: the request object and message ArrayBuffers are valid only
 * during the callback (copied synchronously); a closed socket must never be touched (the
 * `gone` flag guards every call); sends after an await are wrapped in `cork`.
 */
import type { Connections } from "../delivery/connections.js";
import { type Conn, SendResult, type SocketOps } from "../delivery/socket.js";
import type { Metrics } from "../metrics.js";
import {
  type HttpRequest,
  type HttpResponse,
  type TemplatedApp,
  uWS,
  type WebSocket,
} from "./uws.js";

export type ClientSocket = WebSocket<Conn>;

/** Accept frames up to 256 KiB (docs/protocol.md) with headroom; larger ones close the socket (1009). */
const MAX_PAYLOAD = 512 * 1024;
const SUBPROTOCOL = "push-notification";

export const uwsSocketOps: SocketOps<ClientSocket> = {
  conn: (ws) => ws.getUserData(),
  send(ws, text) {
    if (ws.getUserData().gone) return SendResult.closed;
    let r = 1;
    ws.cork(() => {
      r = ws.send(text, false, false);
    });
    return r === 1 ? SendResult.ok : r === 0 ? SendResult.buffered : SendResult.dropped;
  },
  close(ws, code, reason) {
    const c = ws.getUserData();
    if (c.gone) return;
    ws.end(code, reason);
  },
};

export interface WebSocketOptions {
  readonly idleTimeoutSeconds: number;
  readonly maxBackpressureBytes: number;
  /** Whether a new socket may be accepted now (capacity, draining). */
  readonly admit: () => "ok" | "capacity" | "draining";
}

const decoder = new TextDecoder("utf-8", { fatal: false });

export function attachWebSocket(
  app: TemplatedApp,
  connections: Connections<ClientSocket>,
  metrics: Metrics,
  opts: WebSocketOptions,
): void {
  app.ws<Conn>("/*", {
    compression: uWS.DISABLED,
    maxPayloadLength: MAX_PAYLOAD,
    maxBackpressure: opts.maxBackpressureBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: opts.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    maxLifetime: 0,
    upgrade(res: HttpResponse, req: HttpRequest, context) {
      const verdict = opts.admit();
      if (verdict !== "ok") {
        // Refuse fast under a storm or while draining: no queueing of handshakes.
        metrics.bound
          .handshake(verdict === "capacity" ? "refused_capacity" : "refused_draining")
          .inc();
        res.writeStatus("503 Service Unavailable").writeHeader("Retry-After", "5").end("{}");
        return;
      }
      metrics.bound.handshake("accepted").inc();
      const offered = req.getHeader("sec-websocket-protocol");
      const protocol =
        offered !== "" && offered.split(",").some((p) => p.trim() === SUBPROTOCOL)
          ? SUBPROTOCOL
          : "";
      res.upgrade(
        connections.newConn(),
        req.getHeader("sec-websocket-key"),
        protocol,
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open(ws) {
      connections.opened(ws);
    },
    message(ws, message, isBinary) {
      if (isBinary) connections.binary(ws);
      else connections.message(ws, decoder.decode(message));
    },
    close(ws, code) {
      connections.closed(ws, code);
    },
  });
}
