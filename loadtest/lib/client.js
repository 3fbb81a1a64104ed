// One SimplePush client on one `k6/websockets` socket. A VU runs many of these at once on
// its event loop. Requests that have a reply (hello, register, unregister, ping) return
// promises settled by the reply, an error reply, the socket's close, or a timeout;
// notifications go to `onNotification`.
//
// k6 caveat relied on below: calling close() on a socket that is still CONNECTING blocks
// the VU's event loop for good (k6 queues the close frame to a writer that does not run
// yet), so a connect that times out is abandoned and closed once it opens.
import { WebSocket } from "k6/websockets";
import {
  ackFrame,
  helloFrame,
  PING_FRAME,
  parseFrame,
  registerFrame,
  typeOf,
  unregisterFrame,
} from "./frames.js";

const SUBPROTOCOL = "push-notification";

export class ReplyError extends Error {
  constructor(type, status, detail, redirect) {
    super(`${type}: ${detail}`);
    this.type = type;
    this.status = status;
    /** hello 307: where the cluster sends this client. */
    this.redirect = redirect;
  }
}

export class PushClient {
  /**
   * @param url ws:// or wss:// URL of the cluster
   * @param hooks.onNotification (updates, readAtMs, client) — updates carry string versions
   * @param hooks.onClose (code, reason, client) — only for closes this client did not ask for
   */
  constructor(url, hooks) {
    this.url = url;
    this.hooks = hooks;
    this.ws = null;
    this.open = false;
    this.closedByUs = false;
    this.closed = false;
    this.closeCode = 0;
    /** The connect timed out: close the socket if it opens after all. */
    this.abandoned = false;
    this.connectError = "";
    this.waiters = { hello: [], register: [], unregister: [], ping: [] };
    this.closeWaiters = [];
    this.lastPingAt = 0;
    /** When the last hello was sent (ms), for the flush latency. */
    this.helloSentAt = 0;
  }

  /** Opens the socket; resolves with the handshake time in ms. */
  connect(timeoutMs) {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let settled = false;
      const ws = new WebSocket(this.url, SUBPROTOCOL);
      this.ws = ws;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        this.abandoned = true;
        reject(new ReplyError("connect", 0, `no handshake within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.onopen = () => {
        if (this.abandoned) {
          this.closedByUs = true;
          ws.close(1000);
          return;
        }
        settled = true;
        clearTimeout(timer);
        this.open = true;
        resolve(Date.now() - started);
      };
      ws.onerror = (e) => {
        if (!this.open && !settled) this.connectError = e.error;
      };
      ws.onmessage = (e) => this.onMessage(e);
      ws.onclose = (e) => {
        const wasOpen = this.open;
        this.open = false;
        this.closed = true;
        this.closeCode = e.code === undefined ? 1006 : e.code;
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new ReplyError("connect", 0, this.connectError || `closed ${this.closeCode}`));
        }
        this.failWaiters(`socket closed (${this.closeCode})`);
        for (const w of this.closeWaiters.splice(0)) w();
        if (wasOpen && !this.closedByUs && this.hooks.onClose) {
          this.hooks.onClose(this.closeCode, e.reason || "", this);
        }
      };
    });
  }

  onMessage(e) {
    const readAt = e.timestamp || Date.now();
    let frame;
    try {
      frame = parseFrame(e.data);
    } catch (err) {
      console.warn(`unparseable frame: ${err}`);
      return;
    }
    const type = typeOf(frame);
    if (type === "notification") {
      if (Array.isArray(frame.updates) && this.hooks.onNotification) {
        this.hooks.onNotification(frame.updates, readAt, this);
      }
      return;
    }
    const key = type === "" ? "ping" : type;
    const waiter = this.waiters[key]?.shift();
    if (waiter === undefined) {
      console.warn(`unsolicited ${key} frame: ${e.data.slice(0, 120)}`);
      return;
    }
    if (key !== "ping" && frame.status !== 200) {
      const detail = `status ${frame.status} ${frame.error || ""}`;
      waiter.reject(new ReplyError(key, frame.status, detail, frame.redirect));
      return;
    }
    waiter.resolve({ frame, readAt });
  }

  request(key, text, timeoutMs) {
    if (!this.open) return Promise.reject(new ReplyError(key, 0, "socket not open"));
    return new Promise((resolve, reject) => {
      const sentAt = Date.now();
      const waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve({ frame: r.frame, readAt: r.readAt, ms: r.readAt - sentAt });
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        const q = this.waiters[key];
        const i = q.indexOf(waiter);
        if (i >= 0) q.splice(i, 1);
        reject(new ReplyError(key, 0, `no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters[key].push(waiter);
      this.ws.send(text);
    });
  }

  failWaiters(why) {
    for (const key of Object.keys(this.waiters)) {
      for (const w of this.waiters[key].splice(0)) w.reject(new ReplyError(key, 0, why));
    }
  }

  /** Resolves with { uaid, ms }; rejects on a non-200 reply. */
  async hello(uaid, channelIDs, timeoutMs) {
    this.helloSentAt = Date.now();
    const r = await this.request("hello", helloFrame(uaid, channelIDs), timeoutMs);
    return { uaid: r.frame.uaid, ms: r.ms };
  }

  /** Resolves with { endpoint, ms }. */
  async register(channelID, timeoutMs) {
    const r = await this.request("register", registerFrame(channelID), timeoutMs);
    return { endpoint: r.frame.pushEndpoint, ms: r.ms };
  }

  async unregister(channelID, timeoutMs) {
    const r = await this.request("unregister", unregisterFrame(channelID), timeoutMs);
    return { ms: r.ms };
  }

  /** `{}` → `{}`; resolves with the round trip in ms. Mind the server's ping rate limit. */
  async ping(timeoutMs) {
    this.lastPingAt = Date.now();
    const r = await this.request("ping", PING_FRAME, timeoutMs);
    return r.ms;
  }

  ack(updates) {
    if (this.open) this.ws.send(ackFrame(updates));
  }

  /** Closes with 1000 (a close we asked for); resolves once closed or after timeoutMs. */
  close(timeoutMs) {
    if (this.closed) return Promise.resolve();
    this.closedByUs = true;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      if (this.open) this.ws.close(1000);
      else this.abandoned = true; // still connecting: closed by onopen (see the caveat above)
    });
  }
}
