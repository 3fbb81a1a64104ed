/**
 * A fleet of push clients and an app server's stream of PUTs, for the failure tests
 * (node kill, drain): what users and app servers would do, with the bookkeeping to prove
 * that nothing acknowledged was lost.
 *
 * - Each client has its own UAID and one channel, acks every update it gets (as a real
 *   client does), and when its socket drops it reconnects — after a little jitter, to a
 *   random live node — with a hello naming its UAID.
 * - Each PUT goes to a random client's endpoint through a random live node; a channel has
 *   at most one PUT in flight and its versions rise strictly, so "the client saw at least
 *   the highest version that got a 2xx" is the whole loss check (a version event
 *   supersedes older ones: docs/protocol.md, docs/architecture.md "Pending updates").
 * - Clients retire from the stream at staggered points, so that for some of them the last
 *   update falls while the region is failing over: with traffic going on to the end, a
 *   later delivery would hide a lost update.
 */
import { big, connect, isType, type PushClient } from "../support/client.js";
import { endpointVia } from "../support/cluster.js";
import { channelID, form, put } from "../support/http.js";
import type { PushNode } from "../support/node.js";

export interface FleetClient {
  readonly index: number;
  readonly uaid: string;
  readonly channelID: string;
  readonly endpoint: string;
  socket: PushClient;
  node: PushNode;
  /** Highest version received on any socket (direct or in a flush). */
  seen: bigint;
  /** Highest version whose PUT was answered 2xx. */
  acked: bigint;
  next: bigint;
  busy: boolean;
  /** The last PUT answered: for failure messages. */
  last?: { version: bigint; via: PushNode; status: string; at: number };
  /** Fraction of the stream after which no PUT is sent to this client any more. */
  retireAt: number;
  /** Every involuntary close: when, with which code, and when the client was whole again. */
  readonly drops: Drop[];
  /** Non-fatal oddities seen by this client (e.g. a hello that did not keep the UAID). */
  readonly problems: string[];
}

export interface Drop {
  readonly at: number;
  readonly code: number;
  readonly from: PushNode;
  /** When the hello on a new socket was answered 200. */
  helloAt?: number;
  /** The highest 2xx version at that moment: what the new session owes the client. */
  owed?: bigint;
  /** First moment after the new hello at which the client had seen `owed` (flushed). */
  recoveredAt?: number;
}

export interface StreamResult {
  readonly statuses: Map<string, number>;
  /** PUTs not answered 2xx, with the node they went through. */
  readonly failures: { via: PushNode; status: string }[];
  readonly durationMs: number;
}

export interface StreamOptions {
  readonly total: number;
  readonly perSecond: number;
  readonly concurrency: number;
  /** Called after each answered PUT with the number answered so far. */
  readonly onAnswered?: (answered: number) => void;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Fleet {
  readonly clients: FleetClient[] = [];
  private stopped = false;
  private readonly reconnecting = new Set<Promise<void>>();

  /** `live()`: the nodes clients may reconnect to and PUTs may go through, now. */
  constructor(private readonly live: () => PushNode[]) {}

  /** Connects `n` clients spread round-robin over `nodes`, each with one channel. */
  async start(n: number, nodes: readonly PushNode[]): Promise<void> {
    await Promise.all(
      Array.from({ length: n }, async (_, index) => {
        const node = nodes[index % nodes.length]!;
        const socket = await connect(node.wsUrl);
        await socket.hello();
        const ch = channelID();
        const endpoint = await socket.register(ch);
        const fc: FleetClient = {
          index,
          uaid: socket.uaid!,
          channelID: ch,
          endpoint,
          socket,
          node,
          seen: 0n,
          acked: 0n,
          next: 0n,
          busy: false,
          retireAt: 0.3 + (0.7 * (index + 1)) / n,
          drops: [],
          problems: [],
        };
        this.clients[index] = fc;
        this.attach(fc, socket, node);
      }),
    );
  }

  /** Clients whose socket is on `node` now. */
  on(node: PushNode): FleetClient[] {
    return this.clients.filter((c) => c.node === node);
  }

  /** Clients that have not (yet) seen the highest version acknowledged to the app server. */
  missing(): FleetClient[] {
    return this.clients.filter((c) => c.seen < c.acked);
  }

  private attach(fc: FleetClient, socket: PushClient, node: PushNode): void {
    fc.socket = socket;
    fc.node = node;
    void this.consume(fc, socket);
    void socket.closed().then((closed) => {
      if (this.stopped || fc.socket !== socket) return;
      fc.drops.push({ at: Date.now(), code: closed.code, from: node });
      const p = this.reconnect(fc).finally(() => this.reconnecting.delete(p));
      this.reconnecting.add(p);
    });
  }

  private async consume(fc: FleetClient, socket: PushClient): Promise<void> {
    for (;;) {
      let note: Record<string, unknown>;
      try {
        // Ends when the socket closes (the wait rejects); the fleet closes every socket.
        note = await socket.next(isType("notification"), 600_000);
      } catch {
        return;
      }
      const updates = note.updates as { channelID: string; version: unknown }[];
      for (const u of updates) {
        if (u.channelID !== fc.channelID) {
          fc.problems.push(`update for a channel it never registered: ${u.channelID}`);
          continue;
        }
        const v = big(u.version);
        if (v > fc.seen) fc.seen = v;
      }
      socket.ack(updates.map((u) => ({ channelID: u.channelID, version: big(u.version) })));
      const drop = fc.drops.at(-1);
      if (drop?.owed !== undefined && drop.recoveredAt === undefined && fc.seen >= drop.owed)
        drop.recoveredAt = Date.now();
    }
  }

  /** Reconnects with jitter to a random live node, retrying elsewhere, for up to 30 s. */
  private async reconnect(fc: FleetClient): Promise<void> {
    const drop = fc.drops.at(-1)!;
    const deadline = Date.now() + 30_000;
    await delay(Math.random() * 250); // clients reconnect jittered (docs/architecture.md "Failure")
    while (!this.stopped && Date.now() < deadline) {
      const nodes = this.live();
      const node = nodes[Math.floor(Math.random() * nodes.length)]!;
      try {
        const socket = await connect(node.wsUrl, { timeoutMs: 3_000 });
        const reply = await socket.hello(fc.uaid, [fc.channelID]);
        if (reply.uaid !== fc.uaid) fc.problems.push(`hello minted ${String(reply.uaid)}`);
        drop.helloAt = Date.now();
        drop.owed = fc.acked;
        if (fc.seen >= drop.owed) drop.recoveredAt = drop.helloAt;
        this.attach(fc, socket, node);
        return;
      } catch {
        await delay(100 + Math.random() * 200);
      }
    }
    if (!this.stopped) fc.problems.push("could not reconnect within 30 s");
  }

  /**
   * Sends `total` PUTs at about `perSecond`, at most `concurrency` in flight and one per
   * channel, each to a random active client through a random live node.
   */
  async stream(o: StreamOptions): Promise<StreamResult> {
    const statuses = new Map<string, number>();
    const failures: StreamResult["failures"] = [];
    const inflight = new Set<Promise<void>>();
    const startedAt = Date.now();
    let answered = 0;
    for (let i = 0; i < o.total; i++) {
      // Pacing: a steady stream, not a burst (load generation, not synchronisation).
      const due = startedAt + (i * 1000) / o.perSecond;
      if (due > Date.now()) await delay(due - Date.now());
      while (inflight.size >= o.concurrency) await Promise.race(inflight);
      const progress = i / o.total;
      let candidates = this.clients.filter((c) => !c.busy && c.retireAt > progress);
      while (candidates.length === 0) {
        if (inflight.size === 0) throw new Error(`no client left to PUT to at ${progress}`);
        await Promise.race(inflight);
        candidates = this.clients.filter((c) => !c.busy && c.retireAt > progress);
      }
      const fc = candidates[Math.floor(Math.random() * candidates.length)]!;
      const nodes = this.live();
      const via = nodes[Math.floor(Math.random() * nodes.length)]!;
      fc.busy = true;
      fc.next += 1n;
      const version = fc.next;
      const p = put(endpointVia(fc.endpoint, via), { body: form({ version }), timeoutMs: 10_000 })
        .then(
          // A refusal carries its reason (overloaded vs storage unavailable), for the report.
          (r) =>
            r.status === 200 || r.status === 202
              ? String(r.status)
              : `${r.status} ${r.body.slice(0, 120)}`,
          (err: Error) => `error: ${err.name}`,
        )
        .then((status) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          fc.last = { version, via, status, at: Date.now() };
          if (status === "200" || status === "202") {
            if (version > fc.acked) fc.acked = version;
          } else {
            failures.push({ via, status });
          }
          fc.busy = false;
          o.onAnswered?.(++answered);
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    return { statuses, failures, durationMs: Date.now() - startedAt };
  }

  /** Waits for reconnections under way, then closes every socket; nothing reconnects after. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.reconnecting]);
    await Promise.allSettled(this.clients.map((c) => c.socket.terminate()));
  }

  /** A line per client still missing an update, for the failure message. */
  describe(clients: readonly FleetClient[], name: (n: PushNode) => string, t0 = 0): string {
    return clients
      .map(
        (c) =>
          `#${c.index} uaid ${c.uaid.slice(0, 8)} on ${name(c.node)} seen v${c.seen} < acked v${c.acked}` +
          (c.last === undefined
            ? ""
            : ` (last PUT v${c.last.version} via ${name(c.last.via)}: ${c.last.status} at ${c.last.at - t0} ms)`) +
          ` drops [${c.drops.map((d) => `${d.code} from ${name(d.from)}`).join(", ")}]` +
          (c.problems.length > 0 ? ` problems: ${c.problems.join("; ")}` : ""),
      )
      .join("\n");
  }
}

/** The p-quantile (0..1) of `xs`, nearest rank; undefined when empty. */
export function quantile(xs: readonly number[], p: number): number | undefined {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/** The `store_error` lines the nodes logged (what a 503 "storage unavailable" came from). */
export function storeErrors(nodes: readonly PushNode[]): string {
  const lines = nodes.flatMap((n) =>
    n.logs.filter((l) => l.json?.event === "store_error").map((l) => l.text),
  );
  return lines.length === 0 ? "none" : lines.slice(0, 10).join(" | ");
}
