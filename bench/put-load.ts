/**
 * App-server load from inside a client worker: PUTs (keep-alive, bound to a 127.0.0.x
 * address) to the endpoints of this worker's own sockets, so that the PUT start and the
 * notification arrival are timed on one clock. Each PUT carries a version unique in this
 * worker; the notification is matched by channelID + version.
 */

import http from "node:http";
import type { ClientSocket, ClientSockets } from "./client-sockets.js";
import { GRACE_MS, openLoop, settleWithin } from "./schedule.js";
import type { LoadReport, WorkerConfig } from "./worker-protocol.js";

/** After a load's last PUT, how long stragglers may take before they count as failed. */
const FORM = "application/x-www-form-urlencoded";

type Arrival = (at: number) => void;

export class PutLoad {
  private readonly agent: http.Agent;
  private readonly waiters = new Map<string, Arrival>();
  private nextVersion: number;
  private nextSocket = 0;

  constructor(
    private readonly cfg: WorkerConfig,
    private readonly clients: ClientSockets,
  ) {
    const addrs = cfg.localAddresses;
    this.agent = new http.Agent({
      keepAlive: true,
      maxSockets: cfg.httpSockets,
      localAddress: addrs[addrs.length - 1],
    });
    // Distinct per worker and increasing across loads; far below 2^53.
    this.nextVersion = (cfg.index + 1) * 1e12;
    clients.onUpdate = (channelID, version, at) => {
      const key = `${channelID} ${version}`;
      const w = this.waiters.get(key);
      if (w !== undefined) {
        this.waiters.delete(key);
        w(at);
      }
    };
  }

  /** `concurrency` loops of PUT → (200 and notification) → next, until `durationMs` passed. */
  async closedLoop(concurrency: number, durationMs: number): Promise<LoadReport> {
    const t = this.tally();
    const start = performance.now();
    const end = start + durationMs;
    const loop = async () => {
      while (performance.now() < end) {
        const { arrived, status } = this.put(t);
        if ((await status) !== 200) continue;
        await arrived;
        t.completed++;
      }
    };
    const loops: Promise<void>[] = [];
    for (let i = 0; i < concurrency; i++) loops.push(loop());
    await settleWithin(Promise.all(loops), end + GRACE_MS - performance.now());
    return this.report(t, performance.now() - start, [], 0, 0);
  }

  /** PUTs at `ratePerSecond` on a fixed schedule (open loop), each timed to its notification. */
  async openLoop(ratePerSecond: number, durationMs: number): Promise<LoadReport> {
    const t = this.tally();
    const r = await openLoop(
      ratePerSecond,
      durationMs,
      () => this.put(t).arrived,
      () => {
        t.completed++;
      },
    );
    return this.report(t, r.elapsedMs, r.latencies, r.maxLagMs, r.loopDelayP99Ms);
  }

  close(): void {
    this.agent.destroy();
  }

  private tally() {
    this.waiters.clear();
    return {
      puts: 0,
      completed: 0,
      failed: 0,
      acksBefore: this.clients.acksSent,
      statuses: {} as Record<string, number>,
    };
  }

  private report(
    t: ReturnType<PutLoad["tally"]>,
    elapsedMs: number,
    latenciesMs: number[],
    maxScheduleLagMs: number,
    loopDelayP99Ms: number,
  ): LoadReport {
    // Whatever is still awaited past the grace period never arrived.
    const missing = this.waiters.size;
    this.waiters.clear();
    return {
      kind: "load",
      puts: t.puts,
      completed: t.completed,
      acks: this.clients.acksSent - t.acksBefore,
      failed: t.failed + missing,
      statuses: t.statuses,
      elapsedMs,
      latenciesMs,
      maxScheduleLagMs,
      loopDelayP99Ms,
    };
  }

  /**
   * One PUT to the next socket's endpoint. `arrived` resolves with the notification's
   * arrival time and never resolves if the PUT fails (its waiter is dropped then).
   */
  private put(t: ReturnType<PutLoad["tally"]>): {
    arrived: Promise<number>;
    status: Promise<number>;
  } {
    const s = this.pick();
    const version = this.nextVersion++;
    const key = `${s.channelID} ${version}`;
    const arrived = new Promise<number>((resolve) => this.waiters.set(key, resolve));
    const body = `version=${version}`;
    t.puts++;
    const status = new Promise<number>((resolve) => {
      const req = http.request({
        agent: this.agent,
        host: this.cfg.host,
        port: this.cfg.port,
        method: "PUT",
        path: s.path,
        headers: { "content-type": FORM, "content-length": body.length },
      });
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.on("error", () => resolve(-1));
      req.end(body);
    }).then((code) => {
      t.statuses[code] = (t.statuses[code] ?? 0) + 1;
      if (code !== 200) {
        t.failed++;
        this.waiters.delete(key);
      }
      return code;
    });
    return { arrived, status };
  }

  private pick(): ClientSocket {
    const all = this.clients.sockets;
    if (all.length === 0) throw new Error("no registered sockets to PUT to");
    const s = all[this.nextSocket % all.length]!;
    this.nextSocket++;
    return s;
  }
}
