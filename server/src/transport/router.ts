/**
 * The internal router: node-to-node requests over persistent TCP connections on their own
 * port, never exposed publicly.
 *
 * - Mutually authenticated, bound to the connection: the client sends a nonce `c`, the server
 *   answers a nonce `s` and HMAC-SHA256(secret, "server"|c|s), the client checks it and answers
 *   HMAC-SHA256(secret, "client"|c|s). A client never sends a request to a server that did not
 *   prove the secret; a proof seen on one connection is worthless on another (fresh nonces on
 *   both sides) and cannot be reflected (the role is in the MAC). This does not protect against
 *   an active man in the middle that forwards the whole handshake (that needs TLS or a MAC per
 *   message); the router port is internal only.
 * - Bounded before auth: at most `maxUnauthenticated` connections still proving themselves, at
 *   most `maxPreAuthBytes` per line before auth, an auth deadline; the first bad line destroys
 *   the socket and nothing after it is parsed. Every failure goes to `onAuthFailure`.
 * - Multiplexed: many requests in flight per connection, matched by id.
 * - Batched: every message written in one event-loop turn leaves in one write.
 * - Bounded: at most `maxInflight` requests per peer and `maxBufferedBytes` waiting to be
 *   written; past either a request fails at once with `RouterOverloaded` (the caller sheds
 *   with 503 + Retry-After) instead of queueing. A peer that stops reading its replies is
 *   dropped once `maxReplyBufferedBytes` wait to be written to it.
 *
 * Wire format: one JSON object per line. Handshake `{"hello":c}`, `{"nonce":s,"proof":…}`,
 * `{"auth":…}`; then requests `{"i":id,…}`, replies `{"r":id,…}`.
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

/** Why a handshake failed; the `reason` label of edition_router_auth_failures_total. */
export type AuthFailureReason =
  | "bad_proof"
  | "bad_server_proof"
  | "malformed"
  | "preauth_bytes"
  | "deadline"
  | "too_many_unauthenticated";

export type AuthFailureHandler = (reason: AuthFailureReason, remote: string) => void;

export interface RouterServerLimits {
  readonly maxUnauthenticated: number;
  readonly maxPreAuthBytes: number;
  readonly authDeadlineMs: number;
  readonly maxReplyBufferedBytes: number;
}

export const DEFAULT_ROUTER_SERVER_LIMITS: RouterServerLimits = {
  maxUnauthenticated: 64,
  maxPreAuthBytes: 512,
  authDeadlineMs: 2_000,
  maxReplyBufferedBytes: 32 * 1024 * 1024,
};

const NONCE_HEX = /^[0-9a-f]{32}$/;

function proof(secret: string, role: "server" | "client", c: string, s: string): Buffer {
  return createHmac("sha256", secret).update(`${role}|${c}|${s}`).digest();
}

function proofMatches(given: unknown, want: Buffer): boolean {
  if (typeof given !== "string" || given.length !== want.length * 2) return false;
  const g = Buffer.from(given, "hex");
  return g.length === want.length && timingSafeEqual(g, want);
}

/**
 * Reads one JSON object per line, bounded: a line past MAX_LINE, or one that is not JSON,
 * destroys the socket (a peer that speaks anything else is not one of ours).
 */
function onMessages(
  socket: Socket,
  cb: (msg: RouterMessage) => void,
  maxLine: () => number,
  onBad: (kind: "long" | "json") => void,
): void {
  let buf = "";
  socket.setEncoding("utf8");
  const bad = (kind: "long" | "json") => {
    buf = "";
    onBad(kind);
    socket.destroy();
  };
  socket.on("data", (chunk: string) => {
    if (socket.destroyed) return;
    buf += chunk;
    let nl = buf.indexOf("\n");
    let start = 0;
    while (nl >= 0) {
      if (nl - start > maxLine()) return bad("long");
      let msg: RouterMessage;
      try {
        msg = JSON.parse(buf.slice(start, nl)) as RouterMessage;
      } catch {
        return bad("json");
      }
      if (msg === null || typeof msg !== "object") return bad("json");
      cb(msg);
      // A failed handshake destroys the socket: nothing after it is parsed.
      if (socket.destroyed) return;
      start = nl + 1;
      nl = buf.indexOf("\n", start);
    }
    buf = buf.slice(start);
    if (buf.length > maxLine()) bad("long");
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
  private unauthenticated = 0;

  constructor(
    secret: string,
    handler: RouterHandler,
    onError: (err: unknown) => void,
    onAuthFailure: AuthFailureHandler = () => {},
    limits: RouterServerLimits = DEFAULT_ROUTER_SERVER_LIMITS,
  ) {
    this.server = createServer((socket) => {
      const remote = socket.remoteAddress ?? "unknown";
      // on, not once: a second error on a socket must not become an uncaught exception.
      socket.on("error", () => socket.destroy());
      if (this.unauthenticated >= limits.maxUnauthenticated) {
        onAuthFailure("too_many_unauthenticated", remote);
        socket.destroy();
        return;
      }
      this.unauthenticated++;
      this.sockets.add(socket);
      let authed = false;
      let failed = false;
      const fail = (reason: AuthFailureReason) => {
        if (authed || failed) return;
        failed = true;
        onAuthFailure(reason, remote);
        socket.destroy();
      };
      socket.on("close", () => {
        this.sockets.delete(socket);
        if (!authed) this.unauthenticated--;
        clearTimeout(authTimer);
      });
      socket.setNoDelay(true);
      const nonceS = randomBytes(16).toString("hex");
      let nonceC: string | undefined;
      const writer = new BatchedWriter(socket);
      const authTimer = setTimeout(() => fail("deadline"), limits.authDeadlineMs);
      onMessages(
        socket,
        (msg) => {
          if (!authed) {
            if (nonceC === undefined) {
              if (typeof msg.hello !== "string" || !NONCE_HEX.test(msg.hello)) {
                return fail("malformed");
              }
              nonceC = msg.hello;
              const p = proof(secret, "server", nonceC, nonceS).toString("hex");
              socket.write(`${JSON.stringify({ nonce: nonceS, proof: p })}\n`);
              return;
            }
            if (!proofMatches(msg.auth, proof(secret, "client", nonceC, nonceS))) {
              return fail("bad_proof");
            }
            authed = true;
            this.unauthenticated--;
            clearTimeout(authTimer);
            return;
          }
          const id = msg.i;
          const reply = (line: string) => {
            // A peer that does not read its replies is dropped rather than buffered for.
            if (writer.buffered > limits.maxReplyBufferedBytes) {
              socket.destroy();
              return;
            }
            writer.write(line);
          };
          Promise.resolve()
            .then(() => handler(msg))
            .then(
              (r) => reply(JSON.stringify({ ...r, r: id })),
              (err: unknown) => {
                onError(err);
                reply(JSON.stringify({ r: id, error: String(err) }));
              },
            );
        },
        () => (authed ? MAX_LINE : limits.maxPreAuthBytes),
        (kind) => fail(kind === "long" ? "preauth_bytes" : "malformed"),
      );
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
    private readonly onAuthFailure: AuthFailureHandler,
  ) {}

  /** Requests sent and not answered yet. */
  get depth(): number {
    return this.inflight.size;
  }

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
    // Requests made before the server has proved the secret wait in the held writer.
    const writer = new BatchedWriter(socket, true);
    this.writer = writer;
    let ready = false;
    this.heardAt = Date.now();
    const nonceC = randomBytes(16).toString("hex");
    socket.write(`${JSON.stringify({ hello: nonceC })}\n`);
    const refuse = () => {
      this.onAuthFailure("bad_server_proof", this.address);
      socket.destroy();
    };
    onMessages(
      socket,
      (msg) => {
        if (this.socket === socket) this.heardAt = Date.now();
        if (!ready) {
          const nonceS = msg.nonce;
          if (
            typeof nonceS !== "string" ||
            !NONCE_HEX.test(nonceS) ||
            !proofMatches(msg.proof, proof(this.secret, "server", nonceC, nonceS))
          ) {
            return refuse();
          }
          ready = true;
          const p = proof(this.secret, "client", nonceC, nonceS).toString("hex");
          writer.release(JSON.stringify({ auth: p }));
          return;
        }
        const f = this.inflight.get(msg.r as number);
        if (f === undefined) return;
        this.inflight.delete(msg.r as number);
        clearTimeout(f.timer);
        if (typeof msg.error === "string") f.reject(new Error(msg.error));
        else f.resolve(msg);
      },
      () => (ready ? MAX_LINE : DEFAULT_ROUTER_SERVER_LIMITS.maxPreAuthBytes),
      () => {
        if (!ready) refuse();
      },
    );
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
    private readonly onAuthFailure: AuthFailureHandler = () => {},
  ) {}

  request(address: string, msg: RouterMessage): Promise<RouterMessage> {
    let p = this.peers.get(address);
    if (p === undefined) {
      p = new PeerConnection(address, this.secret, this.limits, this.onAuthFailure);
      this.peers.set(address, p);
    }
    return p.request(msg);
  }

  /** The deepest queue towards any one peer: requests in flight, not answered yet. */
  depth(): number {
    let max = 0;
    for (const p of this.peers.values()) if (p.depth > max) max = p.depth;
    return max;
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
