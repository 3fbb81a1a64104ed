/**
 * A small SimplePush test client on `ws`, for end-to-end tests. Incoming frames are parsed
 * with the server's own `parseJson`, so versions past 2^53 arrive as exact `bigint`s.
 * Frames nobody waited for stay in `inbox` until a `next()` takes them; every wait is
 * event-driven and bounded by a deadline.
 */
import WebSocket from "ws";
import { parseJson } from "../../server/src/protocol/json.js";

export type Message = Record<string, unknown>;

export interface Update {
  readonly channelID: string;
  readonly version: number | bigint | string;
  readonly data?: string;
}

export interface ConnectOptions {
  /** Subprotocols to offer. */
  readonly protocols?: string[];
  /** Handshake deadline. */
  readonly timeoutMs?: number;
  /** Answer WebSocket pings (default true); false plays a client that went silent. */
  readonly autoPong?: boolean;
}

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

interface Waiter {
  readonly pred: (m: Message) => boolean;
  readonly resolve: (m: Message) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const open = new Set<PushClient>();

/** The exact text of a received frame (to check digits or byte-exact replies). */
const rawText = new WeakMap<Message, string>();
export function raw(m: Message): string {
  return rawText.get(m) ?? "";
}

/** A version as a bigint, whatever JSON type it arrived as. */
export function big(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" || typeof v === "string") return BigInt(v);
  throw new TypeError(`not a version: ${String(v)}`);
}

export function isType(type: string): (m: Message) => boolean {
  return (m) => m.messageType === type;
}

/** The reply to a ping or purge: exactly `{}`. */
export const isPong = (m: Message): boolean => raw(m) === "{}";

export class PushClient {
  /** Frames received and not taken by `next()` yet, oldest first. */
  readonly inbox: Message[] = [];
  /** The UAID of the last successful `hello()`. */
  uaid: string | undefined;
  private readonly waiters: Waiter[] = [];
  private closedWith: Closed | undefined;
  private readonly closedPromise: Promise<Closed>;

  private constructor(readonly ws: WebSocket) {
    open.add(this);
    ws.on("message", (data, isBinary) => this.receive(data as Buffer, isBinary));
    // ws emits `error` for protocol violations and resets; `close` always follows.
    ws.on("error", () => {});
    this.closedPromise = new Promise((resolve) => {
      ws.once("close", (code, reason) => {
        open.delete(this);
        this.closedWith = { code, reason: reason.toString("utf8") };
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(
            new Error(
              `socket closed (${code} ${this.closedWith.reason}) while waiting; unread: ${this.describeInbox()}`,
            ),
          );
        }
        resolve(this.closedWith);
      });
    });
  }

  /** Opens a WebSocket; rejects with the HTTP status if the upgrade is refused. */
  static connect(url: string, opts: ConnectOptions = {}): Promise<PushClient> {
    const ws = new WebSocket(url, opts.protocols ?? [], {
      handshakeTimeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      perMessageDeflate: false,
      autoPong: opts.autoPong ?? true,
    });
    return new Promise((resolve, reject) => {
      const client = new PushClient(ws);
      ws.once("open", () => resolve(client));
      ws.once("unexpected-response", (_req, res) => {
        ws.terminate();
        reject(
          Object.assign(new Error(`upgrade refused: ${res.statusCode}`), {
            status: res.statusCode,
          }),
        );
      });
      ws.once("error", (err) => reject(err));
    });
  }

  /** The subprotocol the server selected ("" when none). */
  get protocol(): string {
    return this.ws.protocol;
  }

  get isClosed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Sends an object as JSON, or a string as is (one text frame). */
  send(msg: object | string): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  sendBinary(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  /**
   * The next received frame matching `pred` (default: any), taken out of the inbox.
   * Rejects at the deadline, or when the socket closes first.
   */
  next(
    pred: (m: Message) => boolean = () => true,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<Message> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.closedWith !== undefined) {
      return Promise.reject(
        new Error(
          `socket already closed (${this.closedWith.code}); unread: ${this.describeInbox()}`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(
            new Error(`no matching frame within ${timeoutMs} ms; unread: ${this.describeInbox()}`),
          );
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** The next `notification` frame. */
  notification(timeoutMs?: number): Promise<Message> {
    return this.next(isType("notification"), timeoutMs);
  }

  /** Says hello and returns the reply; throws unless it is a 200. */
  async hello(uaid?: string, channelIDs: string[] = [], extra: object = {}): Promise<Message> {
    this.send({ messageType: "hello", uaid: uaid ?? "", channelIDs, ...extra });
    const reply = await this.next(isType("hello"));
    if (reply.status !== 200) throw new Error(`hello failed: ${raw(reply)}`);
    this.uaid = reply.uaid as string;
    return reply;
  }

  /** Registers `channelID` and returns its push endpoint; throws unless the reply is a 200. */
  async register(channelID: string): Promise<string> {
    this.send({ messageType: "register", channelID });
    const reply = await this.next((m) => m.messageType === "register" && m.channelID === channelID);
    if (reply.status !== 200) throw new Error(`register failed: ${raw(reply)}`);
    return reply.pushEndpoint as string;
  }

  async unregister(channelID: string): Promise<Message> {
    this.send({ messageType: "unregister", channelID });
    return this.next((m) => m.messageType === "unregister" && m.channelID === channelID);
  }

  /** Acks updates (no reply is expected). Versions are written with all their digits. */
  ack(updates: readonly Update[]): void {
    const items = updates.map(
      (u) => `{"channelID":${JSON.stringify(u.channelID)},"version":${big(u.version).toString()}}`,
    );
    this.send(`{"messageType":"ack","updates":[${items.join(",")}]}`);
  }

  /**
   * A round trip (ping → `{}`). The server handles a socket's frames in order and sends a
   * direct notification before it answers the PUT, so once this resolves, anything the
   * server meant to send before it is in `inbox`: this is how a test proves that nothing
   * arrived, without sleeping. Needs a node whose ping limit allows it.
   */
  async barrier(timeoutMs?: number): Promise<void> {
    this.send("{}");
    await this.next(isPong, timeoutMs);
  }

  /** Resolves with the close code and reason (whoever closed). */
  closed(): Promise<Closed> {
    return this.closedPromise;
  }

  /** Closing handshake; resolves when closed. */
  close(code = 1000): Promise<Closed> {
    if (this.closedWith === undefined) this.ws.close(code);
    return this.closedPromise;
  }

  /** Drops the TCP connection without a closing handshake. */
  terminate(): Promise<Closed> {
    this.ws.terminate();
    return this.closedPromise;
  }

  private receive(data: Buffer, isBinary: boolean): void {
    const text = data.toString("utf8");
    let msg: Message;
    try {
      const v = parseJson(text);
      msg =
        typeof v === "object" && v !== null && !Array.isArray(v)
          ? (v as Message)
          : { invalidFrame: text };
    } catch {
      msg = { invalidFrame: text };
    }
    if (isBinary) msg = { binaryFrame: text };
    rawText.set(msg, text);
    const w = this.waiters.find((x) => x.pred(msg));
    if (w === undefined) {
      this.inbox.push(msg);
      return;
    }
    this.waiters.splice(this.waiters.indexOf(w), 1);
    clearTimeout(w.timer);
    w.resolve(msg);
  }

  private describeInbox(): string {
    return this.inbox.length === 0 ? "(none)" : this.inbox.map(raw).join(" ");
  }
}

export function connect(url: string, opts?: ConnectOptions): Promise<PushClient> {
  return PushClient.connect(url, opts);
}

/** Connects and says hello (fresh UAID unless given). */
export async function helloClient(
  url: string,
  uaid?: string,
  channelIDs?: string[],
): Promise<PushClient> {
  const c = await connect(url);
  await c.hello(uaid, channelIDs);
  return c;
}

/** Terminates every client still open (call from `afterEach`/`after`). */
export function disconnectAll(): void {
  for (const c of open) c.ws.terminate();
}
