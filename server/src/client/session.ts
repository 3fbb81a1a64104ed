/**
 * One SimplePush client session for people: hello (following 307 redirects), registers the
 * channels it lacks, prints endpoints and notifications, acks them. With `reconnect`, a
 * dropped connection is retried against the original URL (a balancer sends it to a live
 * node) with jittered exponential backoff, bounded in attempts; a successful hello resets
 * the count.
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { parseJson } from "../protocol/json.js";
import { type BackoffPolicy, backoffDelayMs } from "./backoff.js";
import { type ClientState, saveState } from "./state.js";

/** Redirects followed per connection attempt; more means a loop between nodes. */
const MAX_REDIRECTS = 5;
const KEEPALIVE_MS = 60_000;

export interface SessionOptions {
  readonly url: string;
  readonly channels: number;
  readonly statePath: string | undefined;
  readonly state: ClientState;
  readonly reconnect: boolean;
  readonly backoff: BackoffPolicy;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** Called once, with the exit code, when the session is over. */
  readonly done: (code: number) => void;
}

export class ClientSession {
  private ws: WebSocket | undefined;
  private state: ClientState;
  private current: string;
  private redirects = 0;
  private failures = 0;
  private helloed = false;
  private announced = false;
  private stopping = false;
  private finished = false;
  private lastError = "";
  private keepalive: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;

  constructor(private readonly o: SessionOptions) {
    this.state = o.state;
    this.current = o.url;
  }

  start(): void {
    this.open(this.o.url);
  }

  /** Ctrl-C: close politely and finish with 0. */
  stop(): void {
    this.stopping = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.ws === undefined || this.ws.readyState === WebSocket.CLOSED) this.finish(0);
    else this.ws.close(1000);
  }

  private open(url: string): void {
    this.current = url;
    this.helloed = false;
    this.lastError = "";
    const ws = new WebSocket(url, ["push-notification"]);
    this.ws = ws;
    ws.on("open", () => {
      this.send({
        messageType: "hello",
        uaid: this.state.uaid,
        channelIDs: Object.keys(this.state.channels),
      });
      this.keepalive = setInterval(() => this.send({}), KEEPALIVE_MS);
    });
    ws.on("message", (raw) => this.onMessage(raw.toString()));
    ws.on("error", (e) => {
      this.lastError = e.message;
    });
    ws.on("close", (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  private send(o: unknown): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(o));
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return; // a socket we left for a redirect
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.stopping) {
      this.o.out("disconnected");
      this.finish(0);
      return;
    }
    const why = this.lastError || `code ${code}${reason ? `, ${reason}` : ""}`;
    if (this.helloed) this.o.out(`disconnected from ${this.current} (${why})`);
    else this.o.err(`cannot connect to ${this.current}: ${why}`);
    if (!this.o.reconnect) {
      this.finish(1);
      return;
    }
    if (!this.helloed) this.failures++;
    else this.failures = 1;
    if (this.failures > this.o.backoff.maxAttempts) {
      this.o.err(`giving up after ${this.o.backoff.maxAttempts} failed attempts`);
      this.finish(1);
      return;
    }
    const delay = backoffDelayMs(this.o.backoff, this.failures, Math.random);
    this.o.out(
      `reconnecting to ${this.o.url} in ${(delay / 1000).toFixed(1)}s (attempt ${this.failures} of ${this.o.backoff.maxAttempts})`,
    );
    this.redirects = 0;
    this.retry = setTimeout(() => this.open(this.o.url), delay);
  }

  private onMessage(raw: string): void {
    let m: Record<string, unknown>;
    try {
      m = parseJson(raw) as Record<string, unknown>;
    } catch {
      this.o.err(`ignored a frame that is not JSON: ${raw.slice(0, 80)}`);
      return;
    }
    switch (m.messageType) {
      case "hello":
        this.onHello(m, raw);
        return;
      case "register":
        this.onRegister(m, raw);
        return;
      case "notification":
        this.onNotification(m);
        return;
      default:
        if (m.status !== undefined && m.status !== 200) this.refused(`server said: ${raw}`);
    }
  }

  private onHello(m: Record<string, unknown>, raw: string): void {
    if (m.status === 307 && typeof m.redirect === "string") {
      if (this.redirects >= MAX_REDIRECTS) {
        this.refused(`more than ${MAX_REDIRECTS} redirects in a row; last to ${m.redirect}`);
        return;
      }
      // A balancer, or a node with no room, sends us to a node that has some.
      this.redirects++;
      this.o.out(`redirected to ${m.redirect}`);
      const old = this.ws!;
      if (this.keepalive) clearInterval(this.keepalive);
      this.open(m.redirect);
      old.close(1000);
      return;
    }
    if (m.status !== 200) {
      this.refused(`hello refused: ${raw}`);
      return;
    }
    this.helloed = true;
    this.failures = 0;
    this.redirects = 0;
    if (m.uaid !== this.state.uaid) {
      if (this.state.uaid !== "")
        this.o.out(`the server gave a new UAID (the old one is unknown here): registering again`);
      this.state = { uaid: String(m.uaid), channels: {} };
    }
    this.o.out(`connected to ${this.current} as uaid ${this.state.uaid}`);
    const have = Object.keys(this.state.channels).length;
    for (const [id, endpoint] of Object.entries(this.state.channels))
      this.o.out(`channel ${id}\n  endpoint ${endpoint}`);
    for (let i = have; i < this.o.channels; i++)
      this.send({ messageType: "register", channelID: randomUUID() });
    if (have >= this.o.channels) this.ready();
    this.save();
  }

  private onRegister(m: Record<string, unknown>, raw: string): void {
    if (m.status !== 200) {
      this.refused(`register refused: ${raw}`);
      return;
    }
    this.state.channels[String(m.channelID)] = String(m.pushEndpoint);
    this.o.out(`channel ${m.channelID}\n  endpoint ${m.pushEndpoint}`);
    this.save();
    if (Object.keys(this.state.channels).length >= this.o.channels) this.ready();
  }

  private onNotification(m: Record<string, unknown>): void {
    const updates = (Array.isArray(m.updates) ? m.updates : []) as {
      channelID: string;
      version: number | bigint;
      data?: string;
    }[];
    for (const u of updates) {
      const data = u.data === undefined ? "" : ` data=${JSON.stringify(u.data)}`;
      this.o.out(
        `${new Date().toISOString()} notification channel=${u.channelID} version=${u.version}${data}`,
      );
    }
    // Echo the versions as strings: exact for every u64.
    this.send({
      messageType: "ack",
      updates: updates.map((u) => ({ channelID: u.channelID, version: String(u.version) })),
    });
  }

  private ready(): void {
    if (this.announced) return;
    this.announced = true;
    const first = Object.values(this.state.channels)[0];
    if (first !== undefined)
      this.o.out(`\nwaiting for notifications; try:\n  curl -X PUT -d version=5 ${first}\n`);
  }

  private save(): void {
    try {
      saveState(this.o.statePath, this.state);
    } catch (e) {
      this.o.err(`cannot save --state ${this.o.statePath}: ${(e as Error).message}`);
    }
  }

  /** The server said no: without --reconnect that is the end; with it, back off and retry. */
  private refused(msg: string): void {
    this.o.err(msg);
    this.lastError = msg.length > 120 ? `${msg.slice(0, 120)}…` : msg;
    this.ws?.close(1000);
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.retry) clearTimeout(this.retry);
    this.o.done(code);
  }
}
