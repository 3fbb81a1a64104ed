/**
 * The internal router: node-to-node requests over persistent TCP (or TLS) connections on
 * their own port, never exposed publicly.
 *
 * - Mutually authenticated, bound to the connection: the client sends a nonce `c`, the server
 *   answers a nonce `s` and HMAC-SHA256(secret, "server"|c|s), the client checks it and answers
 *   HMAC-SHA256(secret, "client"|c|s). A client never sends a request to a server that did not
 *   prove the secret; a proof seen on one connection is worthless on another (fresh nonces on
 *   both sides) and cannot be reflected (the role is in the MAC). Without TLS this does not
 *   protect against an active man in the middle that forwards the whole handshake; with TLS
 *   (`RouterTls`: both sides present a certificate of the cluster CA) it does, and the
 *   handshake still runs inside.
 * - Bounded before auth: at most `maxUnauthenticated` connections still proving themselves,
 *   frames of at most `maxPreAuthBytes` before auth, an auth deadline; the first bad frame
 *   destroys the socket and nothing after it is parsed. Every failure goes to `onAuthFailure`.
 * - Multiplexed: many requests in flight per connection, matched by id.
 * - Batched: every frame written in one event-loop turn leaves in one write.
 * - Bounded: at most `maxInflight` requests per peer and `maxBufferedBytes` waiting to be
 *   written; past either a request fails at once with `RouterOverloaded` (the caller sheds
 *   with 503 + Retry-After) instead of queueing. A peer that stops reading its replies is
 *   dropped once `maxReplyBufferedBytes` wait to be written to it.
 *
 * Wire: length-prefixed binary frames (routing/router-codec.ts). A server also answers the
 * JSON lines of nodes before it (routing/router-legacy.ts; told by the first byte, `{`), and
 * a client speaks them to a peer that does not advertise the binary router: a rolling
 * upgrade keeps cross-node delivery working in both directions.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer, connect as tlsConnect } from "node:tls";
import { binaryWire } from "../routing/router-codec.js";
import { legacyWire } from "../routing/router-legacy.js";
import {
  NONCE_BYTES,
  type PresenceReply,
  RouterDecodeError,
  type RouterFrame,
  type RouterRequest,
  type RouterWire,
} from "../routing/router-messages.js";

export class RouterUnreachable extends Error {
  override readonly name = "RouterUnreachable";
  readonly code = "ROUTER_UNREACHABLE";
}
export class RouterOverloaded extends Error {
  override readonly name = "RouterOverloaded";
  readonly code = "ROUTER_OVERLOADED";
}

export type RouterHandler = (req: RouterRequest) => PresenceReply | Promise<PresenceReply>;

/**
 * TLS for the router (PEM). Both sides present `cert` and verify the other's against `ca`
 * (a private CA of the cluster): holding a certificate of that CA is what is checked, not a
 * host name (peers dial per-pod names a shared certificate would not list).
 */
export interface RouterTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  readonly ca: string | Buffer;
}

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

/** The largest frame after auth (a Web Push frame with its payload fits many times over). */
export const MAX_FRAME = 1024 * 1024;

/** Why a handshake failed; the `reason` label of edition_router_auth_failures_total. */
export type AuthFailureReason =
  | "bad_proof"
  | "bad_server_proof"
  | "malformed"
  | "preauth_bytes"
  | "deadline"
  | "too_many_unauthenticated"
  | "tls";

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

function proof(secret: string, role: "server" | "client", c: Buffer, s: Buffer): Buffer {
  return createHmac("sha256", secret)
    .update(`${role}|${c.toString("hex")}|${s.toString("hex")}`)
    .digest();
}

function proofMatches(given: Buffer, want: Buffer): boolean {
  return given.length === want.length && timingSafeEqual(given, want);
}

/** `{`: the first byte of the JSON lines older nodes speak; never a binary frame's. */
const JSON_FIRST_BYTE = 0x7b;

/**
 * Coalesces writes made in one event-loop turn into one socket write. A writer created
 * `held` keeps frames until `release` puts a first frame (the auth proof) ahead of them.
 */
class BatchedWriter {
  private pending: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  constructor(
    private readonly socket: Socket,
    private held = false,
  ) {}
  release(first: Buffer): void {
    this.held = false;
    this.pending.unshift(first);
    this.schedule();
  }
  get buffered(): number {
    return this.bytes + this.socket.writableLength;
  }
  write(frame: Buffer): void {
    this.pending.push(frame);
    this.bytes += frame.length;
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
    const data = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
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
    private readonly secret: string,
    private readonly handler: RouterHandler,
    private readonly onError: (err: unknown) => void,
    private readonly onAuthFailure: AuthFailureHandler = () => {},
    private readonly limits: RouterServerLimits = DEFAULT_ROUTER_SERVER_LIMITS,
    tls?: RouterTls,
  ) {
    const accept = (socket: Socket) => this.accept(socket);
    if (tls === undefined) {
      this.server = createServer(accept);
    } else {
      this.server = createTlsServer(
        {
          cert: tls.cert,
          key: tls.key,
          ca: tls.ca,
          requestCert: true,
          rejectUnauthorized: true,
          handshakeTimeout: limits.authDeadlineMs,
        },
        accept,
      );
      // A client without a certificate of the cluster CA (or one that is not TLS at all).
      this.server.on("tlsClientError", (_err, socket) => {
        onAuthFailure("tls", socket.remoteAddress ?? "unknown");
        socket.destroy();
      });
      // The TLS handshake is the costly part of a connection (key exchange, signature):
      // connections still in it count against the same bound as those still proving the
      // secret. The server's own listener (which starts the handshake) is called only for
      // a connection within the bound, so a refused one never reaches TLS.
      const startTls = this.server.listeners("connection") as ((raw: Socket) => void)[];
      this.server.removeAllListeners("connection");
      this.server.on("connection", (raw: Socket) => {
        if (!this.admitHandshake(raw)) return;
        for (const l of startTls) l.call(this.server, raw);
      });
      this.server.on("secureConnection", (tlsSocket: Socket) =>
        this.handshakes.get(handshakeKey(tlsSocket))?.(),
      );
    }
  }

  /** TLS handshakes in progress, by remote address and port: ends the count of each. */
  private readonly handshakes = new Map<string, () => void>();

  /** Whether a new TLS connection is within the bound (else it is refused and counted). */
  private admitHandshake(raw: Socket): boolean {
    raw.on("error", () => raw.destroy());
    const remote = raw.remoteAddress ?? "unknown";
    if (this.handshakes.size + this.unauthenticated >= this.limits.maxUnauthenticated) {
      this.onAuthFailure("too_many_unauthenticated", remote);
      raw.destroy();
      return false;
    }
    const key = handshakeKey(raw);
    const done = () => {
      if (this.handshakes.get(key) === done) this.handshakes.delete(key);
    };
    this.handshakes.set(key, done);
    raw.once("close", done);
    return true;
  }

  private accept(socket: Socket): void {
    const { limits, onAuthFailure, secret } = this;
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
    const authTimer = setTimeout(() => fail("deadline"), limits.authDeadlineMs);
    const nonceS = randomBytes(NONCE_BYTES);
    let nonceC: Buffer | undefined;
    let wire: RouterWire | undefined;
    let writer: BatchedWriter | undefined;
    const maxFrame = () => (authed ? MAX_FRAME : limits.maxPreAuthBytes);

    const onFrame = (f: RouterFrame): boolean => {
      if (!authed) {
        if (nonceC === undefined) {
          if (f.t !== "hello") {
            fail("malformed");
            return false;
          }
          nonceC = f.nonce;
          const p = proof(secret, "server", nonceC, nonceS);
          socket.write(wire!.encode({ t: "challenge", nonce: nonceS, proof: p }));
          return true;
        }
        if (f.t !== "auth" || !proofMatches(f.proof, proof(secret, "client", nonceC, nonceS))) {
          fail(f.t === "auth" ? "bad_proof" : "malformed");
          return false;
        }
        authed = true;
        this.unauthenticated--;
        clearTimeout(authTimer);
        return true;
      }
      if (f.t !== "request") {
        this.onError(new RouterDecodeError(`unexpected ${f.t} frame from a client`));
        socket.destroy();
        return false;
      }
      this.serve(socket, writer!, wire!, f.id, f.req);
      return true;
    };

    let decoder: ReturnType<RouterWire["decoder"]> | undefined;
    socket.on("data", (chunk: Buffer) => {
      if (socket.destroyed) return;
      if (decoder === undefined) {
        // Nodes before the binary router open with a JSON line.
        wire = chunk[0] === JSON_FIRST_BYTE ? legacyWire : binaryWire;
        writer = new BatchedWriter(socket);
        decoder = wire.decoder(maxFrame);
      }
      const err = decoder.push(chunk, (f) => !socket.destroyed && onFrame(f) && !socket.destroyed);
      if (err === undefined) return;
      if (authed) {
        this.onError(err);
        socket.destroy();
      } else fail(err.tooLong ? "preauth_bytes" : "malformed");
    });
  }

  private serve(
    socket: Socket,
    writer: BatchedWriter,
    wire: RouterWire,
    id: number,
    req: RouterRequest,
  ): void {
    const reply = (f: RouterFrame) => {
      // A peer that does not read its replies is dropped rather than buffered for.
      if (writer.buffered > this.limits.maxReplyBufferedBytes) {
        socket.destroy();
        return;
      }
      if (!socket.destroyed) writer.write(wire.encode(f));
    };
    Promise.resolve()
      .then(() => this.handler(req))
      .then(
        (r) => reply({ t: "reply", id, reply: r }),
        (err: unknown) => {
          this.onError(err);
          reply({ t: "error", id, message: String(err) });
        },
      );
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
  resolve(v: PresenceReply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Connect errors that say nothing about certificates (the peer is down or unknown). */
const NETWORK_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EPIPE",
]);

/** One outbound connection to a peer, opened on first use and reopened after a failure. */
class PeerConnection {
  private socket: Socket | undefined;
  private writer: BatchedWriter | undefined;
  private readonly inflight = new Map<number, Inflight>();
  private nextId = 1;
  private failedAt = 0;
  /**
   * Frames (nonce or replies) the current connection has delivered. A count, not a time:
   * a request's timer runs on the event loop's cached clock, which may have started before
   * the last frame was read in the same turn, so "heard within the last timeout" by
   * `Date.now()` could keep a silent connection (CI saw that once).
   */
  private heard = 0;

  constructor(
    private readonly address: string,
    private readonly secret: string,
    private readonly limits: RouterLimits,
    private readonly onAuthFailure: AuthFailureHandler,
    readonly wire: RouterWire,
    private readonly tls: RouterTls | undefined,
  ) {}

  /** Requests sent and not answered yet. */
  get depth(): number {
    return this.inflight.size;
  }

  request(req: RouterRequest): Promise<PresenceReply> {
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
    // Ids wrap within u32 (the wire's id field); 4 billion requests apart never collide.
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    let frame: Buffer;
    try {
      frame = this.wire.encode({ t: "request", id, req });
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<PresenceReply>((resolve, reject) => {
      const socket = this.socket;
      const heardBefore = this.heard;
      const timer = setTimeout(() => {
        this.inflight.delete(id);
        reject(new RouterUnreachable(`${this.address}: timeout`));
        // Nothing at all came back on this connection for a whole timeout: its peer may be
        // gone without a FIN or RST (a killed pod's address vanishes with it; TCP would retry
        // for many minutes). Later requests go on a new connection, which resolves the
        // address again (a pod replaced under the same name has a new IP); requests still
        // in flight on this one may yet be answered (a slow peer), or time out.
        if (socket !== undefined && this.socket === socket && this.heard === heardBefore) {
          this.retire(socket);
        }
      }, this.limits.requestTimeoutMs);
      this.inflight.set(id, { resolve, reject, timer });
      this.writer!.write(frame);
    });
  }

  private open(): Socket {
    const [host, portText] = splitAddress(this.address);
    const port = Number(portText);
    if (this.tls === undefined) return createConnection({ host, port });
    return tlsConnect({
      host,
      port,
      cert: this.tls.cert,
      key: this.tls.key,
      ca: this.tls.ca,
      // The chain is verified against the cluster CA; the name is not (see RouterTls).
      checkServerIdentity: () => undefined,
    });
  }

  private connect(): void {
    const socket = this.open();
    socket.setNoDelay(true);
    this.socket = socket;
    // Requests made before the server has proved the secret wait in the held writer.
    const writer = new BatchedWriter(socket, true);
    this.writer = writer;
    let ready = false;
    let secured = this.tls === undefined;
    if (!secured) socket.once("secureConnect", () => (secured = true));
    this.heard = 0;
    const nonceC = randomBytes(NONCE_BYTES);
    socket.write(this.wire.encode({ t: "hello", nonce: nonceC }));
    const refuse = () => {
      this.onAuthFailure("bad_server_proof", this.address);
      socket.destroy();
    };
    const onFrame = (f: RouterFrame): boolean => {
      if (this.socket === socket) this.heard++;
      if (!ready) {
        if (
          f.t !== "challenge" ||
          !proofMatches(f.proof, proof(this.secret, "server", nonceC, f.nonce))
        ) {
          refuse();
          return false;
        }
        ready = true;
        writer.release(
          this.wire.encode({ t: "auth", proof: proof(this.secret, "client", nonceC, f.nonce) }),
        );
        return true;
      }
      if (f.t !== "reply" && f.t !== "error") {
        socket.destroy();
        return false;
      }
      const pending = this.inflight.get(f.id);
      if (pending === undefined) return true;
      this.inflight.delete(f.id);
      clearTimeout(pending.timer);
      if (f.t === "error") pending.reject(new Error(f.message));
      else pending.resolve(f.reply);
      return true;
    };
    const decoder = this.wire.decoder(() =>
      ready ? MAX_FRAME : DEFAULT_ROUTER_SERVER_LIMITS.maxPreAuthBytes,
    );
    socket.on("data", (chunk: Buffer) => {
      if (socket.destroyed) return;
      const err = decoder.push(chunk, (f) => !socket.destroyed && onFrame(f) && !socket.destroyed);
      if (err === undefined) return;
      if (!ready) refuse();
      else socket.destroy();
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      // Refused by the peer's TLS, or its certificate is not of the cluster CA.
      if (!secured && !NETWORK_ERRORS.has(err.code ?? "")) {
        this.onAuthFailure("tls", this.address);
      }
      this.drop(socket);
    });
    socket.on("close", () => this.drop(socket));
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

function handshakeKey(s: Socket): string {
  return `${s.remoteAddress}|${s.remotePort}`;
}

function splitAddress(address: string): [string, string] {
  const a = address.replace(/^[a-z]+:\/\//, "");
  const i = a.lastIndexOf(":");
  return [a.slice(0, i).replace(/^\[|\]$/g, ""), a.slice(i + 1)];
}

/** Which wire a peer speaks: `binary` unless its member record says it predates it. */
export type RouterProtocol = "binary" | "json";

/** Outbound side: one persistent connection per peer address. */
export class RouterPeers {
  private readonly peers = new Map<string, PeerConnection>();

  constructor(
    private readonly secret: string,
    private readonly limits: RouterLimits = DEFAULT_ROUTER_LIMITS,
    private readonly onAuthFailure: AuthFailureHandler = () => {},
    private readonly tls?: RouterTls,
  ) {}

  request(
    address: string,
    req: RouterRequest,
    protocol: RouterProtocol = "binary",
  ): Promise<PresenceReply> {
    const wire = protocol === "json" ? legacyWire : binaryWire;
    let p = this.peers.get(address);
    // A pod replaced under the same name by one of another version: a new connection.
    if (p !== undefined && p.wire !== wire) {
      p.close();
      p = undefined;
    }
    if (p === undefined) {
      p = new PeerConnection(address, this.secret, this.limits, this.onAuthFailure, wire, this.tls);
      this.peers.set(address, p);
    }
    return p.request(req);
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
