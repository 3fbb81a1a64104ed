/**
 * The WebSocket side of a node: runs the pure protocol session for each frame and performs
 * what it asks (store, presence, replies). Transport-free: sockets are opaque handles
 * driven through `SocketOps`, so this runs the same over uWS or in a test.
 */
import type { RedirectDecision } from "../balancer/redirect.js";
import { setBounded } from "../bounded-map.js";
import type { TokenCodec } from "../endpoint/token.js";
import { closeLabel, Errors } from "../errors/catalogue.js";
import { type Logger, shortId } from "../log.js";
import type { Metrics } from "../metrics.js";
import { Close, LimitErrno } from "../protocol/errors.js";
import { decideUaid } from "../protocol/hello.js";
import { normalizeUuid } from "../protocol/ids.js";
import {
  errorReply,
  helloReply,
  notification,
  notificationPages,
  redirectReply,
  registerReply,
  unregisterReply,
} from "../protocol/replies.js";
import { helloDone, type Limits, newSession, Phase, type Step, step } from "../protocol/session.js";
import { webpushHelloReply, webpushNotification } from "../protocol/webpush-session.js";
import type { Directory, DirectoryEvents } from "../routing/directory.js";
import type { LocalDelivery, Push } from "../routing/route.js";
import type { MessageStore, PendingUpdate } from "../storage/store.js";
import { LocalSockets } from "./local-sockets.js";
import {
  type Conn,
  MAX_SENT_STAMPS,
  MAX_WEBPUSH_SENT,
  SendResult,
  type SentUpdate,
  type SocketOps,
} from "./socket.js";
import type { WebPushSide } from "./webpush-side.js";

/** Frames a client may send before its hello reply; past that it is not a client we want. */
const MAX_QUEUED_FRAMES = 32;
/**
 * How long a hello waits for the slot owner to confirm its announcement before it is
 * answered anyway (the announcement is retried; its confirmation flushes then). The
 * router's own request timeout.
 */
const HELLO_CONFIRM_MS = 2_000;

type Announced = "confirmed" | "evicted" | "timeout";

export interface ConnectionsDeps<S> {
  readonly ops: SocketOps<S>;
  readonly store: MessageStore;
  /** Told of every claim and its end; says when to flush and when a claim lost. */
  readonly directory: Directory;
  readonly tokens: TokenCodec;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly limits: Limits & {
    readonly maxChannels: number;
    /** A flush is cut into notification frames of at most this many bytes. */
    readonly maxNotificationBytes: number;
    /** A socket that has not said hello after this long is closed (4408). */
    readonly helloTimeoutMs: number;
    /** A socket that completed no frame for this long is closed (4408); 0 = never. */
    readonly frameTimeoutMs?: number;
  };
  readonly region: string;
  /** `<public base>/update/` — the token is appended. */
  readonly endpointPrefix: () => string;
  readonly mintUaid: () => string;
  readonly now: () => number;
  /** Cluster only: whether a first hello stays, is redirected (307) or refused (429). */
  readonly redirect?: () => RedirectDecision;
  /** Web Push mode (sessions whose hello said `use_webpush`); absent: SimplePush only. */
  readonly webpush?: WebPushSide;
}

export class Connections<S> implements LocalDelivery, DirectoryEvents {
  /** Helloed sockets by UAID: the node's one local socket registry. */
  readonly sockets = new LocalSockets<S>();
  /** Hellos announced and waiting for the owner's confirmation, by UAID. */
  private readonly confirming = new Map<
    string,
    { readonly since: number; readonly done: (o: Announced) => void }
  >();
  /** Sockets that have not completed hello yet (so a drain can close them too). */
  private readonly anonymous = new Set<S>();
  private open = 0;
  private lastSince = 0;
  /** Read once: the debug events below cost nothing at the default level (docs/logging.md). */
  private readonly debug: boolean;

  constructor(private readonly d: ConnectionsDeps<S>) {
    this.debug = d.log.isLevelEnabled("debug");
    d.directory.listen(this);
  }

  /** A fresh per-socket state, to attach as the socket's user data at upgrade. */
  newConn(): Conn {
    const s = newSession(this.d.now(), this.d.limits.pingBurst) as Conn;
    s.echo = undefined;
    s.queue = undefined;
    s.gone = false;
    s.since = 0;
    s.openedAt = this.d.now();
    s.lastFrameAt = s.openedAt;
    s.ip = "";
    s.backlog = 0;
    s.sent = undefined;
    s.webpushSent = undefined;
    return s;
  }

  /** Sockets open now, helloed or not. */
  get size(): number {
    return this.open;
  }

  opened(socket: S): void {
    this.open++;
    this.anonymous.add(socket);
    this.d.metrics.opened.inc();
    this.d.metrics.connections.inc();
    if (this.debug) this.d.log.debug({ event: "connect", connections: this.open }, "socket opened");
  }

  closed(socket: S, code: number): void {
    const c = this.d.ops.conn(socket);
    this.open--;
    c.phase = Phase.Closed;
    c.gone = true;
    c.queue = undefined;
    this.anonymous.delete(socket);
    if (c.uaid !== undefined && this.sockets.release(c.uaid, socket))
      this.d.directory.withdraw(c.uaid, c.since);
    this.d.metrics.connections.dec();
    this.d.metrics.bound.closed(closeLabel(code)).inc();
    if (this.debug)
      this.d.log.debug(
        {
          event: "close",
          code,
          reason: closeLabel(code),
          uaid: c.uaid === undefined ? undefined : shortId(c.uaid),
          connections: this.open,
        },
        "socket closed",
      );
  }

  /** The client completed a control frame (ping or pong): it is not stuck mid-frame. */
  alive(socket: S): void {
    this.d.ops.conn(socket).lastFrameAt = this.d.now();
  }

  /** One text frame from the client. */
  message(socket: S, text: string): void {
    const c = this.d.ops.conn(socket);
    c.lastFrameAt = this.d.now();
    if (c.queue !== undefined) {
      if (c.queue.length >= MAX_QUEUED_FRAMES)
        this.abort(socket, c, Close.normal, Errors.INVALID_COMMAND.label);
      else c.queue.push(text);
      return;
    }
    this.perform(socket, c, step(c, text, this.d.now(), this.d.limits));
  }

  /** A text frame over the configured size: refused with 1009, nothing parsed. */
  tooBig(socket: S): void {
    this.abort(
      socket,
      this.d.ops.conn(socket),
      Close.tooBig,
      Errors.FRAME_TOO_BIG.label,
      "frame too big",
    );
  }

  /**
   * Closes (4408) sockets that have not sent a hello within the deadline, oldest first, at
   * most `budget` per call. `anonymous` iterates in opening order, so the walk stops at the
   * first socket still within its deadline. A socket whose hello is being resolved is left.
   */
  expireHellos(budget: number): number {
    const oldest = this.d.now() - this.d.limits.helloTimeoutMs;
    let closed = 0;
    for (const socket of this.anonymous) {
      const c = this.d.ops.conn(socket);
      if (c.openedAt > oldest || closed >= budget) break;
      if (c.phase !== Phase.New) continue;
      closed++;
      this.abort(socket, c, Close.helloTimeout, Errors.HELLO_TIMEOUT.label, "hello timeout");
    }
    return closed;
  }

  private stallWalk: Iterator<S> | undefined;

  /**
   * Closes (4408) helloed sockets that completed no frame within `frameTimeoutMs`: a frame
   * kept half-sent by trickling bytes (uWS buffers it, and data keeps its idle timer
   * alive). Idle clients answer the server's pings, which counts. Visits at most `budget`
   * sockets per call, resuming where the last call stopped, so a timer covers every socket
   * over a few calls without blocking for long. (Sockets before hello: `expireHellos`.)
   */
  expireStalled(budget: number): number {
    const limit = this.d.limits.frameTimeoutMs ?? 0;
    if (limit <= 0) return 0;
    const oldest = this.d.now() - limit;
    let closed = 0;
    for (let i = 0; i < budget; i++) {
      this.stallWalk ??= this.sockets.values();
      const next = this.stallWalk.next();
      if (next.done) {
        this.stallWalk = undefined;
        break;
      }
      const c = this.d.ops.conn(next.value);
      if (c.lastFrameAt <= oldest && c.phase === Phase.Ready) {
        closed++;
        this.abort(next.value, c, Close.helloTimeout, Errors.FRAME_TIMEOUT.label, "frame timeout");
      }
    }
    return closed;
  }

  /** A binary frame: not part of the protocol. */
  binary(socket: S): void {
    this.abort(socket, this.d.ops.conn(socket), Close.unsupported, Errors.BINARY_FRAME.label);
  }

  private abort(socket: S, c: Conn, code: number, kind: string, reason?: string): void {
    c.phase = Phase.Closed;
    c.queue = undefined;
    this.d.metrics.errors.labels(kind).inc();
    this.d.ops.close(socket, code, reason);
  }

  private perform(socket: S, c: Conn, st: Step): void {
    const { ops } = this.d;
    switch (st.do) {
      case "none":
        return;
      case "reply":
        ops.send(socket, st.text);
        return;
      case "close": {
        const kind = Errors[st.error].label;
        this.d.metrics.errors.labels(kind).inc();
        if (this.debug)
          this.d.log.debug({ event: "protocol_error", kind, code: st.code }, "closing a client");
        if (st.text !== undefined) ops.send(socket, st.text);
        ops.close(socket, st.code);
        return;
      }
      case "hello":
        c.queue = [];
        void this.hello(socket, c, st);
        return;
      case "register":
        void this.register(socket, c, st);
        return;
      case "unregister":
        void this.unregister(socket, c, st);
        return;
      case "ack":
        void this.ack(c, st);
        return;
      case "webpushAck":
        void this.webpushAck(socket, c, st.acks.length, st.acks);
        return;
      case "nack":
        // The service worker failed after delivery (the message was acked anyway): worth a
        // debug line, not a protocol error (nothing was closed).
        this.d.log.debug(
          { event: "webpush_nack", code: st.code },
          "client reported a delivery error",
        );
        return;
    }
  }

  private async hello(socket: S, c: Conn, st: Extract<Step, { do: "hello" }>): Promise<void> {
    const { store, metrics, ops } = this.d;
    const decided = this.d.redirect?.();
    // Firefox does not follow a hello redirect (it reads it as a hello without a UAID and
    // reconnects here forever): a Web Push client stays; capacity is still capped at upgrade.
    const where = c.webpush && decided?.kind === "redirect" ? undefined : decided;
    if (where !== undefined && where.kind !== "stay") {
      c.phase = Phase.Closed;
      c.queue = undefined;
      metrics.redirects
        .labels(where.kind === "redirect" ? "redirect" : Errors.REGION_FULL.label)
        .inc();
      if (this.debug)
        this.d.log.debug(
          {
            event: "hello",
            outcome: where.kind,
            redirect: where.kind === "redirect" ? where.url : undefined,
          },
          "hello sent elsewhere",
        );
      ops.send(
        socket,
        where.kind === "redirect"
          ? redirectReply(st.echo ?? "", where.url)
          : errorReply(st.raw, "regionFull"),
      );
      ops.close(socket, Close.normal);
      return;
    }
    let decision: ReturnType<typeof decideUaid>;
    try {
      const known = st.requested !== undefined && (await store.hasUser(st.requested));
      decision = decideUaid(st, known, this.d.limits.maxChannels, this.d.mintUaid);
      if (decision.drop !== undefined) {
        await store.dropUser(decision.drop);
        await this.d.webpush?.queue.dropUser(decision.drop);
      }
      if (decision.fresh) await store.addUser(decision.uaid);
    } catch (err) {
      metrics.hellos.labels(Errors.STORE_UNAVAILABLE.label).inc();
      if (this.debug) this.d.log.debug({ event: "hello", outcome: "store_error" }, "hello failed");
      metrics.storeErrors.labels("hello").inc();
      this.d.log.warn({ event: "store_error", op: "hello", err: String(err) }, "hello failed");
      if (c.phase !== Phase.Closed) {
        c.phase = Phase.Closed;
        c.queue = undefined;
        ops.send(socket, errorReply(st.raw, "storage"));
        ops.close(socket, Close.normal);
      }
      return;
    }
    if (isClosed(c)) return; // the client left while we looked it up
    // Announce first and answer once the slot owner confirmed: then the one flush (it
    // starts at the confirmation) reads the store before the client can register and an
    // app server PUT to the new channel, and no PUT reaches this socket before its reply.
    const since = this.nextSince();
    const announced = await this.announce(decision.uaid, since);
    if (isClosed(c) || announced === "evicted") {
      this.d.directory.withdraw(decision.uaid, since);
      // A socket of this UAID already here keeps it: its claim was overwritten by ours.
      const kept = this.sockets.find(decision.uaid);
      if (kept !== undefined && announced !== "evicted")
        this.d.directory.announce(decision.uaid, ops.conn(kept).since);
      if (!isClosed(c)) {
        // A newer connection for this UAID won meanwhile.
        c.phase = Phase.Closed;
        c.queue = undefined;
        ops.close(socket, Close.replaced, "replaced");
      }
      return;
    }
    // Reply and claim presence in one tick: no PUT can reach this socket before the reply.
    helloDone(c, decision.uaid);
    c.echo = decision.echo;
    c.since = since;
    this.anonymous.delete(socket);
    const replaced = this.sockets.claim(decision.uaid, socket);
    if (replaced !== undefined) ops.close(replaced, Close.replaced, "replaced");
    ops.send(socket, c.webpush ? webpushHelloReply(decision.echo) : helloReply(decision.echo));
    // Not confirmed yet (owner slow or unreachable): the retried announcement flushes.
    if (announced === "confirmed") void this.flush(socket);
    metrics.bound.hello(decision.uaid === st.requested ? "kept" : "minted").inc();
    if (this.debug)
      this.d.log.debug(
        {
          event: "hello",
          outcome: decision.uaid === st.requested ? "kept" : "minted",
          uaid: shortId(decision.uaid),
          channels: st.channelCount,
          replaced: replaced !== undefined,
        },
        "hello",
      );

    this.replay(socket, c);
  }

  /**
   * The directory's owner recorded the claim `(uaid, since)`: send what is stored. A PUT
   * stored before this read is in it; one whose route reaches the owner from now on is
   * delivered directly; one in both is sent once (`Conn.sent`).
   */
  confirmed(uaid: string, since: number): void {
    const waiting = this.confirming.get(uaid);
    if (waiting !== undefined && waiting.since === since) {
      waiting.done("confirmed"); // its hello replies, then flushes
      return;
    }
    const socket = this.sockets.find(uaid);
    if (socket === undefined) return;
    const c = this.d.ops.conn(socket);
    if (c.since === since && !isClosed(c)) void this.flush(socket);
  }

  /**
   * A newer connection elsewhere replaced the claim `(uaid, since)`: it is newer than every
   * socket of `uaid` here too. A socket that said hello before a second one here is still
   * in `sockets` while the second waits for its confirmation, and the claim is the second's
   * by then: both are closed (kept open, the first had no claim and stayed open for good).
   */
  evicted(uaid: string, since: number): void {
    const waiting = this.confirming.get(uaid);
    if (waiting !== undefined && waiting.since <= since) waiting.done("evicted");
    const socket = this.sockets.find(uaid);
    if (socket !== undefined && this.d.ops.conn(socket).since <= since)
      this.d.ops.close(socket, Close.replaced, "replaced");
  }

  /**
   * Announces the claim `(uaid, since)` and resolves when the owner confirmed it (at once on
   * a single node or when this node owns the slot), when a newer claim replaced it, or after
   * `HELLO_CONFIRM_MS`. A second hello for the same UAID here replaces a waiting one.
   */
  private announce(uaid: string, since: number): Promise<Announced> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const entry = {
        since,
        done: (o: Announced) => {
          if (settled) return;
          settled = true;
          if (this.confirming.get(uaid) === entry) this.confirming.delete(uaid);
          if (timer !== undefined) clearTimeout(timer);
          resolve(o);
        },
      };
      this.confirming.get(uaid)?.done("evicted");
      this.confirming.set(uaid, entry);
      this.d.directory.announce(uaid, since);
      if (!settled) timer = setTimeout(() => entry.done("timeout"), HELLO_CONFIRM_MS);
    });
  }

  /** Hands a routed update to the local socket of `uaid`: undefined when there is none. */
  deliver(uaid: string, push: Push): boolean | undefined {
    const socket = this.sockets.find(uaid);
    return socket === undefined ? undefined : this.sendPush(socket, push);
  }

  /**
   * Sends every pending update of the socket's UAID (none: nothing), in notification
   * frames of at most `maxNotificationBytes`; stops at the first frame the socket cannot
   * take (what it missed stays stored).
   */
  async flush(socket: S): Promise<void> {
    const c = this.d.ops.conn(socket);
    if (c.uaid === undefined) return;
    if (c.webpush && this.d.webpush !== undefined) {
      await this.flushWebPush(socket, c, this.d.webpush);
      return;
    }
    try {
      const pending = notSent(await this.d.store.pending(c.uaid), c.sent);
      if (pending.length === 0 || isClosed(c)) return;
      for (const frame of notificationPages(pending, this.d.limits.maxNotificationBytes)) {
        const r = this.d.ops.send(socket, frame);
        if (r === SendResult.dropped) this.slowConsumer(socket);
        if (r !== SendResult.ok && r !== SendResult.buffered) return;
      }
      for (const p of pending) markSent(c, p.channelID, p.version, p.stamp);
      this.d.metrics.notifications.flushed.inc(pending.length);
    } catch (err) {
      this.d.metrics.storeErrors.labels("pending").inc();
      this.d.log.warn({ event: "store_error", op: "pending", err: String(err) }, "flush failed");
    }
  }

  /**
   * Web Push: the queued messages of the UAID, one notification frame each, oldest first.
   * Stops at the first frame that builds backpressure (sending on would overflow the socket
   * buffer and close a client that is merely behind); the rest follows once the client has
   * acked what it got (`webpushAck`).
   */
  private async flushWebPush(socket: S, c: Conn, wp: WebPushSide): Promise<void> {
    try {
      const messages = (await wp.queue.pending(c.uaid!)).filter(
        (m) => c.webpushSent?.has(m.id) !== true,
      );
      let sent = 0;
      for (const m of messages) {
        if (isClosed(c)) return;
        const r = this.d.ops.send(socket, webpushNotification(wp.notification(m)));
        if (r === SendResult.dropped) {
          this.slowConsumer(socket);
          return;
        }
        if (r === SendResult.closed) return;
        markWebPushSent(c, m.id);
        sent++;
        this.d.metrics.notifications.flushed.inc();
        if (r === SendResult.buffered && sent < messages.length) {
          c.backlog = sent;
          return;
        }
      }
      c.backlog = 0;
    } catch (err) {
      this.d.metrics.storeErrors.labels("webpush_pending").inc();
      this.d.log.warn(
        { event: "store_error", op: "webpush_pending", err: String(err) },
        "flush failed",
      );
    }
  }

  private async webpushAck(
    socket: S,
    c: Conn,
    count: number,
    acks: Parameters<WebPushSide["ack"]>[1],
  ): Promise<void> {
    await this.d.webpush?.ack(c.uaid!, acks);
    for (const a of acks) c.webpushSent?.delete(a.id);
    if (c.backlog === 0 || isClosed(c)) return;
    c.backlog = Math.max(0, c.backlog - count);
    if (c.backlog === 0) await this.flush(socket);
  }

  /**
   * Hands a routed update to a local socket; true when it took it, or already had this very
   * update from a flush (same stamp: not sent twice). An update with data still goes: a flush
   * never carries data (it is not stored), and the data is the news. The SimplePush frame is
   * built here, once, from the fields the route carried.
   */
  private sendPush(socket: S, push: Push): boolean {
    const c = this.d.ops.conn(socket);
    if (push.kind === "webpush") {
      if (push.stamp !== undefined && c.webpushSent?.has(push.stamp)) return !isClosed(c);
      if (!this.sent(socket, this.d.ops.send(socket, push.frame))) return false;
      if (push.stamp !== undefined) markWebPushSent(c, push.stamp);
      return true;
    }
    const { channelID, version, data, stamp } = push;
    if (
      data === undefined &&
      stamp !== undefined &&
      sentOf(c.sent, channelID)?.stamps.includes(stamp)
    )
      return !isClosed(c);
    const r = this.d.ops.send(socket, notification([{ channelID, version, data }]));
    if (!this.sent(socket, r)) return false;
    markSent(c, channelID, version, stamp);
    return true;
  }

  private sent(socket: S, r: SendResult): boolean {
    if (r === SendResult.ok || r === SendResult.buffered) return true;
    if (r === SendResult.dropped) this.slowConsumer(socket);
    return false;
  }

  /** Strictly increasing microsecond-scale stamps: unique per node, comparable across nodes. */
  private nextSince(): number {
    const t = this.d.now() * 1000;
    this.lastSince = t > this.lastSince ? t : this.lastSince + 1;
    return this.lastSince;
  }

  /** Replays frames that arrived while the hello resolved, in order, until one goes async. */
  private replay(socket: S, c: Conn): void {
    const q = c.queue;
    c.queue = undefined;
    if (q === undefined) return;
    for (let i = 0; i < q.length; i++) {
      if (c.phase === Phase.Closed) return;
      const st = step(c, q[i]!, this.d.now(), this.d.limits);
      if (st.do === "hello") {
        // Cannot happen after Ready (a second hello is answered synchronously); kept safe.
        c.queue = q.slice(i + 1);
      }
      this.perform(socket, c, st);
      if (c.queue !== undefined) return;
    }
  }

  private async register(socket: S, c: Conn, st: Extract<Step, { do: "register" }>): Promise<void> {
    const uaid = c.uaid!;
    let outcome: Awaited<ReturnType<MessageStore["register"]>>;
    try {
      outcome = await this.d.store.register(uaid, st.channel, this.d.limits.maxChannels);
    } catch (err) {
      this.storageFailure(socket, c, st.raw, "register", err);
      return;
    }
    if (outcome === "full") {
      // The channels it has stay registered; this one is refused, like any bad command.
      this.d.metrics.registrations.labels("register", Errors.TOO_MANY_CHANNELS.label).inc();
      if (c.phase === Phase.Closed) return;
      c.phase = Phase.Closed;
      this.d.ops.send(socket, errorReply(st.raw, "invalidCommand", LimitErrno.tooManyChannels));
      this.d.ops.close(socket, Close.normal, "too many channels");
      return;
    }
    this.d.metrics.bound.registration("register:ok").inc();
    if (this.debug)
      this.d.log.debug({ event: "register", outcome: "ok", uaid: shortId(uaid) }, "registered");
    const endpoint =
      c.webpush && this.d.webpush !== undefined
        ? this.d.webpush.endpoint(uaid, st.channelID, st.key)
        : this.d.endpointPrefix() +
          this.d.tokens.encode({ region: this.d.region, uaid, channelID: st.channelID });
    this.d.ops.send(socket, registerReply(c.echo ?? uaid, st.channelID, endpoint));
  }

  private async unregister(
    socket: S,
    c: Conn,
    st: Extract<Step, { do: "unregister" }>,
  ): Promise<void> {
    if (st.channel !== undefined) {
      c.sent?.delete(st.channel);
      try {
        await this.d.store.unregister(c.uaid!, st.channel);
        if (c.webpush) await this.d.webpush?.queue.dropChannel(c.uaid!, st.channel);
      } catch (err) {
        this.storageFailure(socket, c, st.raw, "unregister", err);
        return;
      }
    }
    this.d.metrics.bound.registration("unregister:ok").inc();
    if (this.debug)
      this.d.log.debug(
        { event: "unregister", outcome: "ok", uaid: shortId(c.uaid!) },
        "unregistered",
      );
    this.d.ops.send(socket, unregisterReply(st.channelID));
  }

  private async ack(c: Conn, st: Extract<Step, { do: "ack" }>): Promise<void> {
    try {
      await this.d.store.ack(c.uaid!, st.updates);
      this.d.metrics.notifications.acked.inc(st.updates.length);
    } catch (err) {
      // The update stays pending and is flushed again at the next hello: a duplicate, not a loss.
      this.d.metrics.storeErrors.labels("ack").inc();
      this.d.log.warn({ event: "store_error", op: "ack", err: String(err) }, "ack failed");
    }
  }

  private storageFailure(socket: S, c: Conn, raw: string, op: string, err: unknown): void {
    this.d.metrics.registrations.labels(op, Errors.STORE_UNAVAILABLE.label).inc();
    this.d.metrics.storeErrors.labels(op).inc();
    this.d.log.warn({ event: "store_error", op, err: String(err) }, `${op} failed`);
    if (this.debug)
      this.d.log.debug(
        { event: op, outcome: "store_error", uaid: shortId(c.uaid!) },
        `${op} failed`,
      );
    if (c.phase === Phase.Closed) return;
    c.phase = Phase.Closed;
    this.d.ops.send(socket, errorReply(raw, "storage"));
    this.d.ops.close(socket, Close.normal);
  }

  /** A client that cannot keep up: close it; what it missed is stored and flushed at its next hello. */
  slowConsumer(socket: S): void {
    this.d.metrics.backpressure.inc();
    this.d.metrics.notifications.dropped.inc();
    const c = this.d.ops.conn(socket);
    c.phase = Phase.Closed;
    this.d.ops.close(socket, Close.tryAgainLater, "slow consumer");
  }

  /** Every open socket, helloed or not (for a drain). */
  *all(): Generator<S> {
    yield* this.anonymous;
    yield* this.sockets.values();
  }
}

/** Remembers that message `id` was sent on this socket (bounded: `MAX_WEBPUSH_SENT`). */
function markWebPushSent(c: Conn, id: string): void {
  c.webpushSent ??= new Map();
  setBounded(c.webpushSent, id, true, MAX_WEBPUSH_SENT);
}

/** Re-reads the phase after an await (TypeScript keeps the narrowing from before it). */
function isClosed(c: Conn): boolean {
  return c.phase === Phase.Closed;
}

/**
 * The pending updates not already sent on this socket (`Conn.sent`): the same stamp, or,
 * for an update stored without one, the same version.
 */
function notSent(pending: readonly PendingUpdate[], sent: Map<string, SentUpdate> | undefined) {
  if (sent === undefined) return pending;
  return pending.filter((p) => {
    const s = sentOf(sent, p.channelID);
    if (s === undefined) return true;
    return p.stamp !== undefined ? !s.stamps.includes(p.stamp) : s.version !== p.version;
  });
}

function sentOf(sent: Map<string, SentUpdate> | undefined, channelID: string) {
  return sent?.get(normalizeUuid(channelID) ?? channelID);
}

function markSent(c: Conn, channelID: string, version: bigint, stamp: string | undefined): void {
  c.sent ??= new Map();
  const key = normalizeUuid(channelID) ?? channelID;
  const s = c.sent.get(key);
  if (s === undefined) {
    c.sent.set(key, { version, stamps: stamp === undefined ? [] : [stamp] });
    return;
  }
  s.version = version;
  if (stamp === undefined) return;
  s.stamps.push(stamp);
  if (s.stamps.length > MAX_SENT_STAMPS) s.stamps.shift();
}
