/**
 * Where a node's CPU went during one phase, from V8 CPU profiles (`--cpu-prof`): every
 * sample in the window is put in one category by its own frame and its callers, and the
 * shares are summed over the nodes' profiles. This is the profile the cluster figures are
 * bounded by (`npm run bench -- --cluster --profile`), printed with them.
 *
 * A profile's timestamps count from an origin of its own; the window is given relative to
 * the process start (`--cpu-prof` starts profiling as the process starts), so it is placed
 * to within the node's start-up time (tens of milliseconds).
 */
import { existsSync, readFileSync } from "node:fs";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileBreakdown {
  /** Profiles read (a node killed with SIGKILL writes none). */
  readonly profiles: number;
  /** Busy (non-idle) milliseconds sampled in the window, over every profile. */
  readonly busyMs: number;
  /** Category → share of `busyMs`, largest first. */
  readonly shares: readonly (readonly [string, number])[];
}

/**
 * The category of a sample: system calls by who made them, then libraries, then ours.
 * `stack` is the sampled frame first, then its callers.
 */
export function categorize(stack: readonly CallFrame[]): string | undefined {
  const top = stack[0]!;
  const fn = top.functionName;
  if (fn === "(idle)") return undefined;
  if (fn === "(garbage collector)") return "garbage collection";
  const from = (re: RegExp) => stack.some((f) => re.test(f.url));
  if (/^(writeUtf8String|writeBuffer|writev|writeLatin1String)$/.test(fn)) {
    if (from(/ioredis/)) return "socket writes: Redis";
    if (from(/transport\/router\.js/)) return "socket writes: router";
    return "socket writes: other";
  }
  if (fn === "send" && /transport\/websocket\.js$/.test(top.url))
    return "socket writes: WebSocket (uWS send)";
  // uWS's own calls (request reads, cork, the response write) show as the JS callback's
  // self time: the callback does little else.
  if (/transport\/endpoint-http\.js$/.test(top.url) && fn === "")
    return "HTTP endpoint in uWS (request, cork + response write)";
  if (
    /node_modules\/(ioredis|redis-parser|standard-as-callback|denque|cluster-key-slot)\//.test(
      top.url,
    )
  )
    return "Redis client (ioredis JS)";
  if (/node_modules\/prom-client\//.test(top.url)) return "metrics (prom-client)";
  if (/routing\/router-(codec|legacy)\.js$|transport\/router\.js$/.test(top.url))
    return "router codec + transport";
  if (/crypto/.test(top.url) || /^(Hmac|Cipheriv|Decipheriv|digest|final|update)$/.test(fn))
    return "crypto (token AES-GCM, slot HMAC)";
  if (/\/server\/dist\//.test(top.url)) return "Edition (other JS)";
  return "Node.js core and runtime";
}

/** The breakdown over `files` of the samples `fromMs`..`toMs` after each profile's start. */
export function profileBreakdown(
  files: readonly string[],
  fromMs: number,
  toMs: number,
): ProfileBreakdown {
  const totals = new Map<string, number>();
  let busy = 0;
  let profiles = 0;
  for (const file of files) {
    if (!existsSync(file)) continue;
    const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
    profiles++;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const memo = new Map<number, string | undefined>();
    const category = (id: number): string | undefined => {
      if (memo.has(id)) return memo.get(id);
      const stack: CallFrame[] = [];
      // Bounded by the tree's depth: every step goes to a parent, and the root has none.
      for (let x: number | undefined = id; x !== undefined && stack.length < 10_000; ) {
        stack.push(byId.get(x)!.callFrame);
        x = parent.get(x);
      }
      const c = categorize(stack);
      memo.set(id, c);
      return c;
    };
    let t = p.startTime;
    const from = p.startTime + fromMs * 1000;
    const to = p.startTime + toMs * 1000;
    for (let i = 0; i < p.samples.length; i++) {
      t += p.timeDeltas[i]!;
      if (t < from || t >= to) continue;
      const c = category(p.samples[i]!);
      if (c === undefined) continue;
      const d = p.timeDeltas[i]!;
      totals.set(c, (totals.get(c) ?? 0) + d);
      busy += d;
    }
  }
  const shares = [...totals]
    .map(([c, us]) => [c, busy === 0 ? 0 : us / busy] as const)
    .sort((a, b) => b[1] - a[1]);
  return { profiles, busyMs: busy / 1000, shares };
}
