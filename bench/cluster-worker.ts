/**
 * A client worker of the cluster bench (forked by `cluster.ts`): holds push clients spread
 * over the cluster's nodes and drives cross-node PUT load at their endpoints — every PUT
 * goes through a node other than the one holding the client's socket. Configured by
 * `BENCH_CLUSTER_WORKER` (JSON `ClusterWorkerConfig`); one `ClusterCommand` at a time
 * over IPC, one `ClusterReport` back.
 *
 * Every client acks every update, remembers the highest version it has seen and the
 * versions whose PUT was answered 2xx, and when its socket drops (the node was killed) it
 * reconnects after 0–250 ms of jitter to a random other node with a hello naming its UAID
 * and channel. A client that was on the victim gets one PUT right after its socket drops
 * (through a surviving node, while it is offline: stored, then flushed on reconnect).
 */

import { randomUUID } from "node:crypto";
import http from "node:http";
import WebSocket from "ws";
import type {
  ClusterCommand,
  ClusterConnectReport,
  ClusterReport,
  ClusterWorkerConfig,
  RecoveryReport,
} from "./cluster-protocol.js";
import { GRACE_MS, openLoop, settleWithin } from "./schedule.js";
import type { LoadReport } from "./worker-protocol.js";

const FORM = "application/x-www-form-urlencoded";
/** After a load's last PUT, how long stragglers may take before they count as failed. */
const RECONNECT_JITTER_MS = 250;
const RECONNECT_BOUND_MS = 30_000;
const POST_KILL_PUT_BOUND_MS = 20_000;
const PUT_TIMEOUT_MS = 10_000;
const MAX_ERRORS_KEPT = 5;

interface Frame {
  readonly messageType?: unknown;
  readonly status?: unknown;
  readonly uaid?: unknown;
  readonly pushEndpoint?: unknown;
  readonly updates?: unknown;
}

interface Client {
  readonly uaid: string;
  readonly channelID: string;
  /** `/update/<token>`: any node takes it. */
  readonly path: string;
  ws: WebSocket;
  /** Index of the node holding the socket; -1 while reconnecting. */
  node: number;
  seen: number;
  /** Versions answered 2xx and not yet seen (pruned as higher versions arrive). */
  owedVersions: number[];
  victim: boolean;
  droppedAt?: number;
  helloAt?: number;
  /** The post-kill update's version, once answered 2xx. */
  owed?: number;
  recoveredAt?: number;
}

type Arrival = (at: number) => void;

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseFrame(data: WebSocket.RawData): Frame {
  try {
    const v: unknown = JSON.parse(data.toString());
    return typeof v === "object" && v !== null ? (v as Frame) : {};
  } catch {
    return {};
  }
}

class ClusterClients {
  readonly clients: Client[] = [];
  private readonly agents: http.Agent[];
  private readonly replyWaiters = new WeakMap<WebSocket, (f: Frame) => void>();
  private readonly owners = new WeakMap<WebSocket, Client>();
  private readonly waiters = new Map<string, Arrival>();
  private nextVersion: number;
  private nextAddress = 0;
  private nextPick = 0;
  private closing = false;
  private acksSent = 0;
  // Recovery bookkeeping.
  private armed = false;
  private putsAccepted = 0;
  private putRetries = 0;
  private putsRejected = 0;
  private readonly putStatuses: Record<string, number> = {};
  private otherDrops = 0;
  private reconnectAttempts = 0;
  private readonly problems: string[] = [];
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly cfg: ClusterWorkerConfig) {
    const addrs = cfg.localAddresses;
    this.agents = cfg.nodes.map(
      () =>
        new http.Agent({
          keepAlive: true,
          maxSockets: cfg.httpSockets,
          localAddress: addrs[addrs.length - 1],
        }),
    );
    // Distinct per worker, increasing for the whole run (so per channel too); far below 2^53.
    this.nextVersion = (cfg.index + 1) * 1e12;
  }

  private problem(p: string): void {
    if (this.problems.length < 20) this.problems.push(p);
  }

  // ---- sockets ----

  private dial(node: number, timeoutMs: number): Promise<WebSocket> {
    const addrs = this.cfg.localAddresses;
    const { host, port } = this.cfg.nodes[node]!;
    const ws = new WebSocket(`ws://${host}:${port}/`, {
      localAddress: addrs[this.nextAddress++ % addrs.length],
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: timeoutMs,
    });
    ws.on("message", (data) => {
      const at = performance.now();
      const f = parseFrame(data);
      if (f.messageType === "notification") {
        const c = this.owners.get(ws);
        if (c !== undefined) this.notification(c, ws, f, at);
        return;
      }
      const w = this.replyWaiters.get(ws);
      if (w !== undefined) {
        this.replyWaiters.delete(ws);
        w(f);
      }
    });
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        ws.terminate();
        reject(new Error(why));
      };
      ws.once("open", () => {
        ws.off("error", onError);
        ws.on("error", () => {});
        resolve(ws);
      });
      const onError = (err: Error) => fail(err.message);
      ws.once("error", onError);
    });
  }

  /** Sends `text` and resolves with the next frame that is not a notification. */
  private request(ws: WebSocket, text: string, timeoutMs: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.replyWaiters.delete(ws);
        reject(new Error(`no reply to ${text.slice(0, 40)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onClose = (code: number) => {
        clearTimeout(timer);
        this.replyWaiters.delete(ws);
        reject(new Error(`closed with ${code} before the reply`));
      };
      ws.once("close", onClose);
      this.replyWaiters.set(ws, (f) => {
        clearTimeout(timer);
        ws.off("close", onClose);
        resolve(f);
      });
      ws.send(text);
    });
  }

  private async newClient(node: number, timeoutMs: number): Promise<Client> {
    const ws = await this.dial(node, timeoutMs);
    try {
      const h = await this.request(
        ws,
        '{"messageType":"hello","uaid":"","channelIDs":[]}',
        timeoutMs,
      );
      if (h.status !== 200 || typeof h.uaid !== "string")
        throw new Error(`hello: ${JSON.stringify(h).slice(0, 120)}`);
      const channelID = randomUUID();
      const r = await this.request(
        ws,
        `{"messageType":"register","channelID":"${channelID}"}`,
        timeoutMs,
      );
      if (r.status !== 200 || typeof r.pushEndpoint !== "string")
        throw new Error(`register: ${JSON.stringify(r).slice(0, 120)}`);
      const c: Client = {
        uaid: h.uaid,
        channelID,
        path: new URL(r.pushEndpoint).pathname,
        ws,
        node,
        seen: 0,
        owedVersions: [],
        victim: false,
      };
      this.attach(c, ws, node);
      return c;
    } catch (err) {
      ws.terminate();
      throw err;
    }
  }

  private attach(c: Client, ws: WebSocket, node: number): void {
    c.ws = ws;
    c.node = node;
    this.owners.set(ws, c);
    ws.once("close", () => {
      if (this.closing || c.ws !== ws) return;
      this.dropped(c, node);
    });
  }

  connect(total: number, concurrency: number, timeoutMs: number): Promise<ClusterConnectReport> {
    const n = this.cfg.nodes.length;
    const errors: string[] = [];
    let failed = 0;
    let launched = 0;
    let inFlight = 0;
    const end = Date.now() + timeoutMs;
    const need = Math.max(0, total - this.clients.length);
    return new Promise((resolve) => {
      const finish = () => {
        const perNode = this.cfg.nodes.map(
          (_, i) => this.clients.filter((c) => c.node === i).length,
        );
        resolve({ kind: "connected", open: this.clients.length, failed, perNode, errors });
      };
      const launch = () => {
        while (inFlight < concurrency && launched < need && Date.now() < end) {
          // Round-robin over nodes, offset per worker so the totals stay even.
          const node = (this.clients.length + launched + this.cfg.index) % n;
          launched++;
          inFlight++;
          this.newClient(node, Math.max(1000, Math.min(10_000, end - Date.now())))
            .then(
              (c) => {
                this.clients.push(c);
              },
              (err: unknown) => {
                failed++;
                if (errors.length < MAX_ERRORS_KEPT) errors.push(String(err));
              },
            )
            .then(() => {
              inFlight--;
              if (inFlight === 0 && (launched >= need || Date.now() >= end)) finish();
              else launch();
            });
        }
      };
      if (need === 0) finish();
      else launch();
    });
  }

  private notification(c: Client, ws: WebSocket, f: Frame, at: number): void {
    if (!Array.isArray(f.updates)) return;
    const updates: { channelID: string; version: number }[] = [];
    for (const u of f.updates as unknown[]) {
      const { channelID, version } = (u ?? {}) as { channelID?: unknown; version?: unknown };
      if (typeof channelID === "string" && typeof version === "number")
        updates.push({ channelID, version });
    }
    if (updates.length === 0) return;
    ws.send(JSON.stringify({ messageType: "ack", updates }));
    this.acksSent += updates.length;
    for (const u of updates) {
      if (u.channelID !== c.channelID) {
        this.problem(`update for a channel the client never registered: ${u.channelID}`);
        continue;
      }
      if (u.version > c.seen) {
        c.seen = u.version;
        if (c.owedVersions.length > 0) c.owedVersions = c.owedVersions.filter((v) => v > c.seen);
      }
      const key = `${u.channelID} ${u.version}`;
      const w = this.waiters.get(key);
      if (w !== undefined) {
        this.waiters.delete(key);
        w(at);
      }
    }
    this.check(c);
  }

  // ---- PUTs ----

  private putOnce(node: number, path: string, version: number): Promise<number> {
    const { host, port } = this.cfg.nodes[node]!;
    const body = `version=${version}`;
    return new Promise<number>((resolve) => {
      const req = http.request({
        agent: this.agents[node],
        host,
        port,
        method: "PUT",
        path,
        timeout: PUT_TIMEOUT_MS,
        headers: { "content-type": FORM, "content-length": body.length },
      });
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", () => resolve(-1));
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve(-1));
      req.end(body);
    });
  }

  private accepted(c: Client, version: number): void {
    if (version > c.seen) c.owedVersions.push(version);
  }

  /** The next ready client, round-robin. */
  private pick(): Client {
    const all = this.clients;
    for (let i = 0; i < all.length; i++) {
      const c = all[this.nextPick++ % all.length]!;
      if (c.node >= 0) return c;
    }
    throw new Error("no connected client to PUT to");
  }

  /** One PUT through the node after the client's own (cross-node), or its own (`sameNode`). */
  private put(t: Tally, sameNode: boolean): { arrived: Promise<number>; status: Promise<number> } {
    const c = this.pick();
    const via = sameNode ? c.node : (c.node + 1) % this.cfg.nodes.length;
    const version = this.nextVersion++;
    const key = `${c.channelID} ${version}`;
    const arrived = new Promise<number>((resolve) => this.waiters.set(key, resolve));
    t.puts++;
    const status = this.putOnce(via, c.path, version).then((code) => {
      t.statuses[code] = (t.statuses[code] ?? 0) + 1;
      if (code === 200 || code === 202) {
        this.accepted(c, version);
      } else {
        t.failed++;
        this.waiters.delete(key);
      }
      return code;
    });
    return { arrived, status };
  }

  private tally(): Tally {
    this.waiters.clear();
    return { puts: 0, completed: 0, failed: 0, acksBefore: this.acksSent, statuses: {} };
  }

  private report(
    t: Tally,
    elapsedMs: number,
    latenciesMs: number[],
    maxScheduleLagMs: number,
    loopDelayP99Ms: number,
  ): LoadReport {
    const missing = this.waiters.size;
    this.waiters.clear();
    return {
      kind: "load",
      puts: t.puts,
      completed: t.completed,
      acks: this.acksSent - t.acksBefore,
      failed: t.failed + missing,
      statuses: t.statuses,
      elapsedMs,
      latenciesMs,
      maxScheduleLagMs,
      loopDelayP99Ms,
    };
  }

  async closedLoop(
    concurrency: number,
    durationMs: number,
    sameNode: boolean,
    onePerClient = false,
  ): Promise<LoadReport> {
    const t = this.tally();
    const start = performance.now();
    const end = start + durationMs;
    // Round-robin picks: as many PUTs as clients give each client one.
    const maxPuts = onePerClient ? this.clients.length : Number.POSITIVE_INFINITY;
    const loop = async () => {
      while (performance.now() < end && t.puts < maxPuts) {
        const { arrived, status } = this.put(t, sameNode);
        const code = await status;
        if (code !== 200 && code !== 202) {
          await delay(10);
          continue;
        }
        await arrived;
        t.completed++;
      }
    };
    await settleWithin(
      Promise.all(Array.from({ length: concurrency }, loop)),
      end + GRACE_MS - performance.now(),
    );
    return this.report(t, performance.now() - start, [], 0, 0);
  }

  async openLoop(
    ratePerSecond: number,
    durationMs: number,
    sameNode: boolean,
  ): Promise<LoadReport> {
    const t = this.tally();
    const r = await openLoop(
      ratePerSecond,
      durationMs,
      () => this.put(t, sameNode).arrived,
      () => {
        t.completed++;
      },
    );
    return this.report(t, r.elapsedMs, r.latencies, r.maxLagMs, r.loopDelayP99Ms);
  }

  // ---- node loss ----

  arm(victim: number): number {
    this.armed = true;
    let n = 0;
    for (const c of this.clients) {
      c.victim = c.node === victim;
      if (c.victim) n++;
    }
    return n;
  }

  private dropped(c: Client, from: number): void {
    c.node = -1;
    if (!c.victim) this.otherDrops++;
    c.droppedAt ??= Date.now();
    const track = (p: Promise<void>) => {
      this.background.add(p);
      void p.finally(() => this.background.delete(p));
    };
    // The app server's update while the client is offline: stored, flushed on reconnect.
    if (this.armed && c.victim && c.owed === undefined) track(this.postKillPut(c, from));
    track(this.reconnect(c, from));
  }

  private others(from: number): number[] {
    return this.cfg.nodes.map((_, i) => i).filter((i) => i !== from);
  }

  private async postKillPut(c: Client, from: number): Promise<void> {
    const version = this.nextVersion++;
    const end = Date.now() + POST_KILL_PUT_BOUND_MS;
    const nodes = this.others(from);
    for (let attempt = 0; !this.closing && Date.now() < end; attempt++) {
      if (attempt > 0) {
        this.putRetries++;
        await delay(100 + Math.random() * 200);
      }
      const via = nodes[Math.floor(Math.random() * nodes.length)]!;
      const code = await this.putOnce(via, c.path, version);
      this.putStatuses[code] = (this.putStatuses[code] ?? 0) + 1;
      if (code === 200 || code === 202) {
        this.putsAccepted++;
        this.accepted(c, version);
        c.owed = version;
        this.check(c);
        return;
      }
    }
    this.putsRejected++;
  }

  private async reconnect(c: Client, from: number): Promise<void> {
    const end = Date.now() + RECONNECT_BOUND_MS;
    await delay(Math.random() * RECONNECT_JITTER_MS);
    const nodes = this.others(from);
    while (!this.closing && Date.now() < end) {
      const node = nodes[Math.floor(Math.random() * nodes.length)]!;
      this.reconnectAttempts++;
      let ws: WebSocket | undefined;
      try {
        ws = await this.dial(node, 3000);
        // Owned before the hello: the flush may follow the hello reply at once.
        this.owners.set(ws, c);
        const h = await this.request(
          ws,
          JSON.stringify({ messageType: "hello", uaid: c.uaid, channelIDs: [c.channelID] }),
          3000,
        );
        if (h.status !== 200) throw new Error(`hello ${String(h.status)}`);
        if (h.uaid !== c.uaid) this.problem(`hello minted ${String(h.uaid)} for ${c.uaid}`);
        c.helloAt ??= Date.now();
        this.attach(c, ws, node);
        this.check(c);
        return;
      } catch {
        ws?.terminate();
        await delay(100 + Math.random() * 200);
      }
    }
    if (!this.closing) this.problem(`client ${c.uaid.slice(0, 8)} could not reconnect in time`);
  }

  private check(c: Client): void {
    if (
      c.victim &&
      c.recoveredAt === undefined &&
      c.helloAt !== undefined &&
      c.owed !== undefined &&
      c.seen >= c.owed
    )
      c.recoveredAt = Date.now();
  }

  async recover(timeoutMs: number): Promise<RecoveryReport> {
    const end = Date.now() + timeoutMs;
    const victims = this.clients.filter((c) => c.victim);
    const settled = (c: Client) =>
      c.recoveredAt !== undefined ||
      (c.droppedAt !== undefined && c.owed === undefined && !this.pendingPut(c));
    while (Date.now() < end && !victims.every(settled)) await delay(20);
    // Updates to non-victim clients (none are sent now) and stragglers: a short settle.
    let lostClients = 0;
    let lostUpdates = 0;
    for (const c of this.clients) {
      const owed = c.owedVersions.filter((v) => v > c.seen).length;
      if (owed > 0) {
        lostClients++;
        lostUpdates += owed;
      }
    }
    const times = (f: (c: Client) => number | undefined) =>
      victims.map(f).filter((x): x is number => x !== undefined);
    return {
      kind: "recovered",
      victimClients: victims.length,
      droppedAt: times((c) => c.droppedAt),
      helloAt: times((c) => c.helloAt),
      recoveredAt: times((c) => c.recoveredAt),
      putsAccepted: this.putsAccepted,
      putRetries: this.putRetries,
      putStatuses: this.putStatuses,
      putsRejected: this.putsRejected,
      lostClients,
      lostUpdates,
      otherDrops: this.otherDrops,
      reconnectAttempts: this.reconnectAttempts,
      problems: this.problems,
    };
  }

  /** True while a victim client's post-kill PUT may still be answered. */
  private pendingPut(c: Client): boolean {
    return c.victim && c.owed === undefined && this.background.size > 0;
  }

  closeAll(): void {
    this.closing = true;
    for (const c of this.clients) c.ws.terminate();
    for (const a of this.agents) a.destroy();
  }
}

interface Tally {
  puts: number;
  completed: number;
  failed: number;
  acksBefore: number;
  statuses: Record<string, number>;
}

function send(r: ClusterReport): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) throw new Error("cluster-worker must be forked with IPC");
    process.send(r, undefined, {}, () => resolve());
  });
}

async function handle(cmd: ClusterCommand, clients: ClusterClients): Promise<ClusterReport> {
  switch (cmd.cmd) {
    case "connect":
      return clients.connect(cmd.total, cmd.concurrency, cmd.timeoutMs);
    case "closed-loop":
      return clients.closedLoop(
        cmd.concurrency,
        cmd.durationMs,
        cmd.sameNode === true,
        cmd.onePerClient === true,
      );
    case "open-loop":
      return clients.openLoop(cmd.ratePerSecond, cmd.durationMs, cmd.sameNode === true);
    case "arm":
      return { kind: "armed", victimClients: clients.arm(cmd.victim) };
    case "recover":
      return clients.recover(cmd.timeoutMs);
    case "stop":
      clients.closeAll();
      return { kind: "stopped" };
  }
}

function main(): void {
  const raw = process.env.BENCH_CLUSTER_WORKER;
  if (raw === undefined) throw new Error("BENCH_CLUSTER_WORKER is not set");
  const clients = new ClusterClients(JSON.parse(raw) as ClusterWorkerConfig);
  process.on("message", (m: unknown) => {
    const cmd = m as ClusterCommand;
    handle(cmd, clients).then(
      async (r) => {
        await send(r);
        if (cmd.cmd === "stop") process.exit(0);
      },
      (err: unknown) => send({ kind: "failed", message: String(err) }),
    );
  });
  process.on("disconnect", () => process.exit(0));
  void send({ kind: "ready" });
}

main();
