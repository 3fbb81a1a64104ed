/**
 * What an app server and a Prometheus scraper do, for end-to-end tests: `put()` an update
 * to an endpoint, `scrape()` and read `/metrics`.
 */
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { connect as netConnect } from "node:net";

export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

export interface PutOptions {
  /** The raw body (default: none). A string is sent as UTF-8. */
  readonly body?: string | Uint8Array;
  /** Default `application/x-www-form-urlencoded`; `null` sends no Content-Type at all. */
  readonly contentType?: string | null;
  /** Appended as `?<query>`. */
  readonly query?: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** `PUT <endpoint>` as an app server would; never throws on an HTTP status. */
export async function put(endpoint: string, opts: PutOptions = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { ...opts.headers };
  const contentType =
    opts.contentType === undefined ? "application/x-www-form-urlencoded" : opts.contentType;
  if (contentType !== null) headers["content-type"] = contentType;
  // fetch gives a string body a text/plain Content-Type of its own: send bytes instead.
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === "string"
        ? Buffer.from(opts.body, "utf8")
        : opts.body;
  const res = await fetch(opts.query === undefined ? endpoint : `${endpoint}?${opts.query}`, {
    method: opts.method ?? "PUT",
    headers,
    body,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** `version=<v>[&data=<data>]`, form-encoded. */
export function form(fields: Record<string, string | number | bigint>): string {
  return new URLSearchParams(
    Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)]),
  ).toString();
}

export async function get(url: string, timeoutMs = 10_000): Promise<HttpResult> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Prometheus text exposition as `series → value`, where series is `name{labels}` as printed. */
export async function scrape(adminUrl: string): Promise<Map<string, number>> {
  const r = await get(`${adminUrl}/metrics`);
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const out = new Map<string, number>();
  for (const line of r.body.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** The value of one series (`name` or `name{a="b"}`), 0 when absent. */
export function sample(m: Map<string, number>, series: string): number {
  return m.get(series) ?? 0;
}

/** A fresh channelID (dashed UUID, as browsers send them). */
export function channelID(): string {
  return randomUUID();
}

/** Polls `check` until it returns a value other than undefined, or throws at the deadline. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 10_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A PUT over a raw TCP connection that is already open, so that `fire()` puts the whole
 * request on the wire synchronously: the only way to make it race something else done in
 * the same tick (fetch needs several ticks before its bytes leave). Resolves the status.
 */
export async function preparePut(endpoint: string, body: string): Promise<() => Promise<number>> {
  const u = new URL(endpoint);
  const socket = netConnect(Number(u.port), u.hostname);
  await once(socket, "connect");
  const request =
    `PUT ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
    "Content-Type: application/x-www-form-urlencoded\r\n" +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
  return () =>
    new Promise<number>((resolve, reject) => {
      let head = "";
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("no HTTP status line within 10 s"));
      }, 10_000);
      socket.on("data", (chunk: Buffer) => {
        head += chunk.toString("latin1");
        const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
        if (m === null) return;
        clearTimeout(timer);
        socket.destroy();
        resolve(Number(m[1]));
      });
      socket.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.write(request);
    });
}
