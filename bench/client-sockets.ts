/**
 * The WebSocket clients one worker holds. A `push` socket says hello, registers one
 * channel and keeps its endpoint path; afterwards it acks every notification at once and
 * tells the listener when each update arrived (timestamped on arrival, in this process).
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import type { ConnectReport, WorkerConfig } from "./worker-protocol.js";

export interface ClientSocket {
  readonly ws: WebSocket;
  /** The registered channel (push targets only). */
  readonly channelID: string;
  /** `/update/<token>` (push targets only). */
  readonly path: string;
}

/** Called for each update received, with `performance.now()` taken when the frame arrived. */
export type UpdateListener = (channelID: string, version: number, at: number) => void;

const HELLO = '{"messageType":"hello","uaid":"","channelIDs":[]}';
const MAX_ERRORS_KEPT = 5;

interface Frame {
  readonly messageType?: unknown;
  readonly status?: unknown;
  readonly pushEndpoint?: unknown;
  readonly updates?: unknown;
}

interface Update {
  readonly channelID: string;
  readonly version: number;
}

function parseFrame(text: string): Frame {
  const v: unknown = JSON.parse(text);
  return typeof v === "object" && v !== null ? (v as Frame) : {};
}

function updatesOf(f: Frame): Update[] {
  if (!Array.isArray(f.updates)) return [];
  const out: Update[] = [];
  for (const u of f.updates as unknown[]) {
    const { channelID, version } = (u ?? {}) as { channelID?: unknown; version?: unknown };
    if (typeof channelID === "string" && typeof version === "number")
      out.push({ channelID, version });
  }
  return out;
}

export class ClientSockets {
  readonly sockets: ClientSocket[] = [];
  onUpdate: UpdateListener | undefined;
  acksSent = 0;
  /** Ready sockets that closed since the last report, and in all. */
  private lost = 0;
  private lostTotal = 0;
  private readonly url: string;
  private readonly pending = new Set<WebSocket>();
  private nextAddress = 0;
  private closing = false;

  constructor(private readonly cfg: WorkerConfig) {
    this.url = `ws://${cfg.host}:${cfg.port}/`;
  }

  /** Opens sockets (at most `concurrency` handshakes in flight) until `total` are ready or time runs out. */
  connect(total: number, concurrency: number, timeoutMs: number): Promise<ConnectReport> {
    const need = Math.max(0, total - this.sockets.length);
    const errors: string[] = [];
    let failed = 0;
    let launched = 0;
    let inFlight = 0;
    let expired = false;
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        const lost = this.lost;
        this.lost = 0;
        const open = this.sockets.length - this.lostTotal;
        resolve({ kind: "connected", open, failed, lost, errors });
      };
      const launch = () => {
        while (inFlight < concurrency && launched < need && !expired) {
          launched++;
          inFlight++;
          this.openOne()
            .then(
              (s) => {
                this.sockets.push(s);
              },
              (err: unknown) => {
                failed++;
                if (errors.length < MAX_ERRORS_KEPT) errors.push(String(err));
              },
            )
            .then(settled);
        }
      };
      const settled = () => {
        inFlight--;
        if ((launched >= need || expired) && inFlight === 0) finish();
        else launch();
      };
      const timer = setTimeout(() => {
        expired = true;
        for (const ws of this.pending) ws.terminate();
        if (inFlight === 0) finish();
      }, timeoutMs);
      if (need === 0) finish();
      else launch();
    });
  }

  private openOne(): Promise<ClientSocket> {
    const addrs = this.cfg.localAddresses;
    const localAddress = addrs[this.nextAddress++ % addrs.length];
    const ws = new WebSocket(this.url, {
      localAddress,
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    this.pending.add(ws);
    const channelID = randomUUID();
    let state: "opening" | "ready" | "failed" = "opening";
    return new Promise<ClientSocket>((resolve, reject) => {
      const fail = (why: string) => {
        if (state !== "opening") return;
        state = "failed";
        this.pending.delete(ws);
        ws.terminate();
        reject(new Error(why));
      };
      const succeed = (s: ClientSocket) => {
        state = "ready";
        this.pending.delete(ws);
        resolve(s);
      };
      ws.on("error", (err) => fail(err.message));
      ws.on("close", (code) => {
        if (state === "opening") fail(`closed with ${code} before ready`);
        else if (state === "ready" && !this.closing) {
          this.lost++;
          this.lostTotal++;
        }
      });
      ws.on("open", () => {
        if (this.cfg.target === "bare") succeed({ ws, channelID: "", path: "" });
        else ws.send(HELLO);
      });
      ws.on("message", (data) => {
        const at = performance.now();
        const text = data.toString();
        let f: Frame;
        try {
          f = parseFrame(text);
        } catch {
          fail(`not JSON: ${text.slice(0, 80)}`);
          return;
        }
        if (f.messageType === "notification") {
          this.notification(ws, f, at);
          return;
        }
        if (state !== "opening") return;
        if (f.messageType === "hello" && f.status === 200) {
          ws.send(`{"messageType":"register","channelID":"${channelID}"}`);
        } else if (
          f.messageType === "register" &&
          f.status === 200 &&
          typeof f.pushEndpoint === "string"
        ) {
          succeed({ ws, channelID, path: new URL(f.pushEndpoint).pathname });
        } else {
          fail(`unexpected reply: ${text.slice(0, 120)}`);
        }
      });
    });
  }

  private notification(ws: WebSocket, f: Frame, at: number): void {
    const updates = updatesOf(f);
    if (updates.length === 0) return;
    // Ack first: the server's work per update ends with the ack.
    ws.send(JSON.stringify({ messageType: "ack", updates }));
    this.acksSent += updates.length;
    const listener = this.onUpdate;
    if (listener !== undefined) for (const u of updates) listener(u.channelID, u.version, at);
  }

  closeAll(): void {
    this.closing = true;
    for (const ws of this.pending) ws.terminate();
    for (const s of this.sockets) s.ws.terminate();
    this.sockets.length = 0;
  }
}
