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
import { Errors, statusLine } from "../errors/catalogue.js";
import type { Metrics } from "../metrics.js";
import { type IpLimits, ipKey } from "./ip-limits.js";
import {
  type HttpRequest,
  type HttpResponse,
  type TemplatedApp,
  uWS,
  type WebSocket,
} from "./uws.js";

export type ClientSocket = WebSocket<Conn>;

const SUBPROTOCOL = "push-notification";

/**
 * uWS's own bound: it refuses a frame whose header declares more than this by dropping
 * the TCP connection (the client sees 1006; this uWS build has no way to send 1009 there),
 * and it buffers a partially received frame up to this size. Frames between the configured
 * limit and this bound are read and refused with a proper 1009; so the bound is well above
 * the limit (a 600 KiB frame gets its 1009) but fixed, not growing with it beyond 2×.
 */
export function uwsPayloadBound(maxFrameBytes: number): number {
  return Math.max(2 * maxFrameBytes, 1024 * 1024);
}

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
  /** Text frames larger than this are refused with 1009. */
  readonly maxFrameBytes: number;
  /** Per-source-address limits (undefined: none). */
  readonly ipLimits?: IpLimits;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** An upgrade refused before any per-socket state exists: counted, told when to come back. */
function refuseUpgrade(
  res: HttpResponse,
  code: "CONNECTIONS_FULL" | "DRAINING" | "IP_CONNECTIONS" | "IP_RATE",
  metrics: Metrics,
): void {
  const { label, http } = Errors[code];
  metrics.bound.handshake(label).inc();
  res
    .writeStatus(statusLine(http.status))
    .writeHeader("Retry-After", String(http.retryAfter))
    .end("{}");
}

export function attachWebSocket(
  app: TemplatedApp,
  connections: Connections<ClientSocket>,
  metrics: Metrics,
  opts: WebSocketOptions,
): void {
  app.ws<Conn>("/*", {
    compression: uWS.DISABLED,
    maxPayloadLength: uwsPayloadBound(opts.maxFrameBytes),
    maxBackpressure: opts.maxBackpressureBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: opts.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    maxLifetime: 0,
    upgrade(res: HttpResponse, req: HttpRequest, context) {
      const verdict = opts.admit();
      if (verdict !== "ok") {
        // Refuse fast under a storm or while draining: no queueing of handshakes.
        refuseUpgrade(res, verdict === "capacity" ? "CONNECTIONS_FULL" : "DRAINING", metrics);
        return;
      }
      let ip = "";
      if (opts.ipLimits?.enabled) {
        ip = ipKey(decoder.decode(res.getRemoteAddressAsText()));
        const v = opts.ipLimits.admit(ip);
        if (v !== "ok") {
          // One source holding too many sockets or opening them too fast: refuse before
          // any per-socket state exists, and say when to come back.
          refuseUpgrade(res, v === "connections" ? "IP_CONNECTIONS" : "IP_RATE", metrics);
          return;
        }
      }
      metrics.bound.handshake("accepted").inc();
      const conn = connections.newConn();
      conn.ip = ip;
      const offered = req.getHeader("sec-websocket-protocol");
      const protocol =
        offered !== "" && offered.split(",").some((p) => p.trim() === SUBPROTOCOL)
          ? SUBPROTOCOL
          : "";
      res.upgrade(
        conn,
        req.getHeader("sec-websocket-key"),
        protocol,
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open(ws) {
      connections.opened(ws);
    },
    // Completed control frames: the client is alive and not stuck mid-frame (ping/pong
    // replies themselves stay uWS's job).
    ping(ws) {
      connections.alive(ws);
    },
    pong(ws) {
      connections.alive(ws);
    },
    message(ws, message, isBinary) {
      if (isBinary) connections.binary(ws);
      else if (message.byteLength > opts.maxFrameBytes) connections.tooBig(ws);
      else connections.message(ws, decoder.decode(message));
    },
    close(ws, code) {
      const ip = ws.getUserData().ip;
      if (ip !== "") opts.ipLimits?.closed(ip);
      connections.closed(ws, code);
    },
  });
}
