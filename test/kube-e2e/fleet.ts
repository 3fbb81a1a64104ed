/**
 * Real WebSocket clients and an app server for the end-to-end tier: each client holds one
 * channel, acks every notification, and when its socket closes (its node was killed or
 * drained) reconnects with its UAID through the region's Service, as a user agent does.
 * The app server PUTs increasing versions to the endpoints and remembers which were
 * accepted (2xx); `lost()` lists the channels whose highest accepted version never reached
 * the client — the zero-loss criterion.
 */
import { randomUUID } from "node:crypto";
import { Agent, request } from "node:http";
import WebSocket from "ws";

interface Frame {
  messageType?: string;
  status?: number;
  uaid?: string;
  pushEndpoint?: string;
  updates?: { channelID: string; version: number | string }[];
}

const HANDSHAKE_MS = 5_000;
/** How long a first connection may be refused before the Service counts as broken. */
const START_RETRY_MS = 20_000;

export class E2eClient {
  uaid = "";
  readonly channelID = randomUUID();
  endpointPath = "";
  maxReceived = 0n;
  /** When the last socket closed unexpectedly; reset when a hello is accepted again. */
  closedAt: number | undefined;
  /** Durations from an unexpected close to the next accepted hello. */
  readonly rehomeMs: number[] = [];
  closes = 0;
  private ws: WebSocket | undefined;
  private stopped = false;
  private reconnecting = false;
  /** A failed first attempt is retried by start(), not by the reconnect loop. */
  private starting = false;

  constructor(
    /** Where a first connection goes (a per-node Service, or the region's). */
    private readonly firstUrl: string,
    /** Where reconnections go: the region's Service. */
    private readonly regionUrl: string,
    private readonly deadlineMs: number,
  ) {}

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && !this.reconnecting;
  }

  /**
   * Connects (retrying while the Service is not routed yet: kube-proxy programs a NodePort a
   * moment after its pod turns Ready, and until then the port refuses), then registers.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + START_RETRY_MS;
    this.starting = true;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.connect(this.firstUrl);
          break;
        } catch (err) {
          this.ws?.terminate();
          if (Date.now() >= deadline || attempt >= 100) throw err;
          await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
        }
      }
    } finally {
      this.starting = false;
    }
    const reply = await this.request(
      { messageType: "register", channelID: this.channelID },
      "register",
    );
    if (reply.status !== 200 || !reply.pushEndpoint) {
      throw new Error(`register failed: ${JSON.stringify(reply)}`);
    }
    this.endpointPath = new URL(reply.pushEndpoint).pathname;
  }

  stop(): void {
    this.stopped = true;
    this.ws?.terminate();
  }

  /** Drops the socket and says hello again through the region's Service (a reconnect). */
  async rejoin(): Promise<void> {
    const ws = this.ws;
    this.ws = undefined;
    ws?.terminate();
    await this.connect(this.regionUrl);
  }

  private pending: { type: string; resolve: (f: Frame) => void; reject: (e: Error) => void }[] = [];

  private request(msg: object, type: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${type} reply within ${HANDSHAKE_MS} ms`)),
        HANDSHAKE_MS,
      );
      this.pending.push({
        type,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws?.send(JSON.stringify(msg));
    });
  }

  /** Opens a socket and says hello with the client's UAID and channel (after the first). */
  private async connect(url: string): Promise<void> {
    const ws = new WebSocket(url, { handshakeTimeout: HANDSHAKE_MS, perMessageDeflate: false });
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) =>
        reject(new Error(`upgrade refused: ${res.statusCode}`)),
      );
    });
    ws.on("error", () => {});
    ws.on("message", (data) => this.receive(String(data)));
    ws.once("close", () => this.onClose(ws));
    const hello = await this.request(
      {
        messageType: "hello",
        uaid: this.uaid,
        channelIDs: this.endpointPath ? [this.channelID] : [],
      },
      "hello",
    );
    if (hello.status !== 200 || !hello.uaid)
      throw new Error(`hello failed: ${JSON.stringify(hello)}`);
    if (this.uaid && hello.uaid !== this.uaid) {
      throw new Error(`the cluster forgot UAID ${this.uaid} (answered ${hello.uaid})`);
    }
    this.uaid = hello.uaid;
  }

  private receive(text: string): void {
    let f: Frame;
    try {
      f = JSON.parse(text) as Frame;
    } catch {
      return;
    }
    if (f.messageType === "notification" && f.updates) {
      for (const u of f.updates) {
        const v = BigInt(u.version);
        if (u.channelID === this.channelID && v > this.maxReceived) this.maxReceived = v;
      }
      this.ws?.send(JSON.stringify({ messageType: "ack", updates: f.updates }));
      return;
    }
    const i = this.pending.findIndex((p) => p.type === f.messageType);
    if (i >= 0) this.pending.splice(i, 1)[0]!.resolve(f);
  }

  private onClose(ws: WebSocket): void {
    for (const p of this.pending.splice(0)) p.reject(new Error("socket closed"));
    if (this.stopped || this.starting || ws !== this.ws) return;
    this.closes++;
    this.closedAt ??= Date.now();
    void this.reconnect();
  }

  /** Reconnects through the region's Service until a hello is accepted (bounded). */
  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    const deadline = Date.now() + this.deadlineMs;
    for (let attempt = 0; !this.stopped && Date.now() < deadline && attempt < 1000; attempt++) {
      try {
        await this.connect(this.regionUrl);
        if (this.closedAt !== undefined) this.rehomeMs.push(Date.now() - this.closedAt);
        this.closedAt = undefined;
        this.reconnecting = false;
        return;
      } catch {
        this.ws?.terminate();
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
      }
    }
    this.reconnecting = false;
  }
}

export interface PutStats {
  accepted: number;
  refused: number;
  failed: number;
}

/** The app server: PUTs through one base URL (the endpoint Service), versions increasing. */
export class AppServer {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });
  private version = 0n;
  readonly acceptedMax = new Map<E2eClient, bigint>();
  /** Every answered PUT per client: version and status (0: no answer). */
  readonly history = new Map<E2eClient, [bigint, number][]>();
  readonly stats: PutStats = { accepted: 0, refused: 0, failed: 0 };
  private inFlight = 0;

  constructor(private readonly base: URL) {}

  put(client: E2eClient): Promise<number> {
    const version = ++this.version;
    this.inFlight++;
    return new Promise<number>((resolve) => {
      const body = `version=${version}`;
      const req = request(
        {
          host: this.base.hostname,
          port: this.base.port,
          method: "PUT",
          path: client.endpointPath,
          agent: this.agent,
          timeout: 10_000,
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "content-length": Buffer.byteLength(body),
          },
        },
        (res) => {
          res.resume();
          res.once("end", () => {
            const status = res.statusCode ?? 0;
            this.note(client, version, status);
            if (status >= 200 && status < 300) {
              this.stats.accepted++;
              if ((this.acceptedMax.get(client) ?? 0n) < version)
                this.acceptedMax.set(client, version);
            } else this.stats.refused++;
            this.inFlight--;
            resolve(status);
          });
        },
      );
      req.once("timeout", () => req.destroy(new Error("timeout")));
      req.once("error", () => {
        this.note(client, version, 0);
        this.stats.failed++;
        this.inFlight--;
        resolve(0);
      });
      req.end(body);
    });
  }

  /** PUTs to random clients at `perSecond` until `stop()` resolves; bounded in count. */
  async stream(
    clients: readonly E2eClient[],
    perSecond: number,
    stop: Promise<unknown>,
  ): Promise<void> {
    let done = false;
    void stop.finally(() => {
      done = true;
    });
    const interval = 1000 / perSecond;
    const started = Date.now();
    for (let i = 0; !done && i < perSecond * 600; i++) {
      const c = clients[i % clients.length]!;
      if (this.inFlight < 64) void this.put(c);
      const next = started + (i + 1) * interval;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  }

  private note(client: E2eClient, version: bigint, status: number): void {
    const h = this.history.get(client) ?? [];
    h.push([version, status]);
    this.history.set(client, h);
  }

  idle(): boolean {
    return this.inFlight === 0;
  }

  /** Clients whose highest accepted version has not arrived (yet). */
  lost(clients: readonly E2eClient[]): E2eClient[] {
    return clients.filter((c) => (this.acceptedMax.get(c) ?? 0n) > c.maxReceived);
  }

  close(): void {
    this.agent.destroy();
  }
}
