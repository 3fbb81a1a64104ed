/**
 * The internal router: node-to-node requests over persistent TCP connections on their own
 * port, never exposed publicly.
 *
 * - Authenticated: the server sends a random nonce, the client answers with
 *   HMAC-SHA256(cluster secret, nonce); nothing else is read before that checks out.
 * - Multiplexed: many requests in flight per connection, matched by id.
 * - Batched: every message written in one event-loop turn leaves in one write.
 * - Bounded: at most `maxInflight` requests per peer and `maxBufferedBytes` waiting to be
 *   written; past either a request fails at once with `RouterOverloaded` (the caller sheds
 *   with 503 + Retry-After) instead of queueing.
 *
 * Wire format: one JSON object per line. Requests `{"i":id,…}`, replies `{"r":id,…}`.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class RouterUnreachable extends Error {
  override readonly name = "RouterUnreachable";
  readonly code = "ROUTER_UNREACHABLE";
}
export class RouterOverloaded extends Error {
  override readonly name = "RouterOverloaded";
  readonly code = "ROUTER_OVERLOADED";
}

export type RouterMessage = Record<string, unknown>;
export type RouterHandler = (msg: RouterMessage) => RouterMessage | Promise<RouterMessage>;

export interface RouterLimits {
  readonly maxInflight: number;
  readonly maxBufferedBytes: number;
  readonly requestTimeoutMs: number;
  /** After a failed connect, fail fast for this long instead of reconnecting per request. */
  readonly reconnectBackoffMs: number;
}

export const DEFAULT_ROUTER_LIMITS: RouterLimits = {
  maxInflight: 20_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  requestTimeoutMs: 2_000,
  reconnectBackoffMs: 250,
};

const MAX_LINE = 1024 * 1024;

function proof(secret: string, nonce: string): Buffer {
  return createHmac("sha256", secret).update(nonce).digest();
}

/**
 * Reads one JSON object per line, bounded: a line past MAX_LINE, or one that is not JSON,
 * destroys the socket (a peer that speaks anything else is not one of ours).
 */
function onMessages(socket: Socket, cb: (msg: RouterMessage) => void): void {
  let buf = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf("\n");
    let start = 0;
    while (nl >= 0) {
      let msg: RouterMessage;
      try {
        msg = JSON.parse(buf.slice(start, nl)) as RouterMessage;
      } catch {
        socket.destroy();
        return;
      }
      cb(msg);
      start = nl + 1;
      nl = buf.indexOf("\n", start);
    }
    buf = buf.slice(start);
    if (buf.length > MAX_LINE) socket.destroy();
  });
}

/**
 * Coalesces writes made in one event-loop turn into one socket write. A writer created
 * `held` keeps lines until `release` puts a first line (the auth proof) ahead of them.
 */
class BatchedWriter {
  private pending: string[] = [];
  private bytes = 0;
  private scheduled = false;
  constructor(
    private readonly socket: Socket,
    private held = false,
  ) {}
  release(first: string): void {
    this.held = false;
    this.pending.unshift(first);
    this.schedule();
  }
  get buffered(): number {
    return this.bytes + this.socket.writableLength;
  }
  write(line: string): void {
    this.pending.push(line);
    this.bytes += line.length + 1;
    if (!this.held) this.schedule();
  }
  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0 || this.socket.destroyed) return;
    const data = `${this.pending.join("\n")}\n`;
    this.pending = [];
    this.bytes = 0;
    this.socket.write(data);
  };
}

export class RouterServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(secret: string, handler: RouterHandler, onError: (err: unknown) => void) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      socket.setNoDelay(true);
      const nonce = randomBytes(16).toString("hex");
      const writer = new BatchedWriter(socket);
      let authed = false;
      // Unauthenticated peers get a short window to prove themselves.
      const authTimer = setTimeout(() => socket.destroy(), 5_000);
      socket.write(`${JSON.stringify({ nonce })}\n`);
      onMessages(socket, (msg) => {
        if (!authed) {
          const given =
            typeof msg.auth === "string" ? Buffer.from(msg.auth, "hex") : Buffer.alloc(0);
          const want = proof(secret, nonce);
          if (given.length !== want.length || !timingSafeEqual(given, want)) {
            socket.destroy();
            return;
          }
          authed = true;
          clearTimeout(authTimer);
          return;
        }
        const id = msg.i;
        Promise.resolve()
          .then(() => handler(msg))
          .then(
            (reply) => writer.write(JSON.stringify({ ...reply, r: id })),
            (err: unknown) => {
              onError(err);
              writer.write(JSON.stringify({ r: id, error: String(err) }));
            },
          );
      });
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        const addr = this.server.address();
        resolve(typeof addr === "object" && addr !== null ? addr.port : port);
      });
    });
  }

  close(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }
}

interface Inflight {
  resolve(v: RouterMessage): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** One outbound connection to a peer, opened on first use and reopened after a failure. */
class PeerConnection {
  private socket: Socket | undefined;
  private writer: BatchedWriter | undefined;
  private readonly inflight = new Map<number, Inflight>();
  private nextId = 1;
  private failedAt = 0;
  /** When the current connection last delivered anything (nonce or reply). */
  private heardAt = 0;

  constructor(
    private readonly address: string,
    private readonly secret: string,
    private readonly limits: RouterLimits,
  ) {}

  request(msg: RouterMessage): Promise<RouterMessage> {
    if (this.inflight.size >= this.limits.maxInflight)
      return Promise.reject(new RouterOverloaded(this.address));
    if (this.writer && this.writer.buffered > this.limits.maxBufferedBytes) {
      return Promise.reject(new RouterOverloaded(this.address));
    }
    if (!this.socket) {
      if (Date.now() - this.failedAt < this.limits.reconnectBackoffMs) {
        return Promise.reject(new RouterUnreachable(this.address));
      }
      this.connect();
    }
    const id = this.nextId++;
    return new Promise<RouterMessage>((resolve, reject) => {
      const socket = this.socket;
      const timer = setTimeout(() => {
        this.inflight.delete(id);
        reject(new RouterUnreachable(`${this.address}: timeout`));
        // Nothing at all came back on this connection for a whole timeout: its peer may be
        // gone without a FIN or RST (a killed pod's address vanishes with it; TCP would retry
        // for many minutes). Later requests go on a new connection, which resolves the
        // address again (a pod replaced under the same name has a new IP); requests still
        // in flight on this one may yet be answered (a slow peer), or time out.
        if (socket !== undefined && Date.now() - this.heardAt >= this.limits.requestTimeoutMs) {
          this.retire(socket);
        }
      }, this.limits.requestTimeoutMs);
      this.inflight.set(id, { resolve, reject, timer });
      this.writer!.write(JSON.stringify({ ...msg, i: id }));
    });
  }

  private connect(): void {
    const [host, portText] = splitAddress(this.address);
    const socket = createConnection({ host, port: Number(portText) });
    socket.setNoDelay(true);
    this.socket = socket;
    // Requests made before the server's nonce arrives wait in the held writer.
    const writer = new BatchedWriter(socket, true);
    this.writer = writer;
    let ready = false;
    this.heardAt = Date.now();
    onMessages(socket, (msg) => {
      if (this.socket === socket) this.heardAt = Date.now();
      if (!ready) {
        if (typeof msg.nonce !== "string") {
          socket.destroy();
          return;
        }
        ready = true;
        writer.release(JSON.stringify({ auth: proof(this.secret, msg.nonce).toString("hex") }));
        return;
      }
      const f = this.inflight.get(msg.r as number);
      if (f === undefined) return;
      this.inflight.delete(msg.r as number);
      clearTimeout(f.timer);
      if (typeof msg.error === "string") f.reject(new Error(msg.error));
      else f.resolve(msg);
    });
    const fail = () => this.drop(socket);
    socket.on("error", fail);
    socket.on("close", fail);
  }

  /** The connection closed or failed: its in-flight requests fail now. */
  private drop(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.writer = undefined;
    this.failedAt = Date.now();
    for (const [, f] of this.inflight) {
      clearTimeout(f.timer);
      f.reject(new RouterUnreachable(this.address));
    }
    this.inflight.clear();
  }

  /** Stops using a silent connection; it is closed once its requests have timed out. */
  private retire(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.writer = undefined;
    setTimeout(() => socket.destroy(), this.limits.requestTimeoutMs).unref();
  }

  close(): void {
    this.socket?.destroy();
  }
}

function splitAddress(address: string): [string, string] {
  const a = address.replace(/^[a-z]+:\/\//, "");
  const i = a.lastIndexOf(":");
  return [a.slice(0, i).replace(/^\[|\]$/g, ""), a.slice(i + 1)];
}

/** Outbound side: one persistent connection per peer address. */
export class RouterPeers {
  private readonly peers = new Map<string, PeerConnection>();

  constructor(
    private readonly secret: string,
    private readonly limits: RouterLimits = DEFAULT_ROUTER_LIMITS,
  ) {}

  request(address: string, msg: RouterMessage): Promise<RouterMessage> {
    let p = this.peers.get(address);
    if (p === undefined) {
      p = new PeerConnection(address, this.secret, this.limits);
      this.peers.set(address, p);
    }
    return p.request(msg);
  }

  /** Drops connections to peers no longer in the region. */
  retain(addresses: ReadonlySet<string>): void {
    for (const [a, p] of this.peers) {
      if (!addresses.has(a)) {
        p.close();
        this.peers.delete(a);
      }
    }
  }

  close(): void {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
  }
}
