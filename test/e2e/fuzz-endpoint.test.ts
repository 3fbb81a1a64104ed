/**
 * Random PUTs against a live node: random tokens (real, mutated, invented), bodies,
 * content types, versions and query strings. Every response must be a documented status —
 * and the one the request's construction implies, when it implies one — the node must stay
 * up, every 200 must have reached the client exactly once, and a client registered before
 * the storm must still get its updates afterwards.
 *
 * Seeded: set FUZZ_SEED=<n> to replay a failing run (the seed is printed as a diagnostic).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { big, disconnectAll, helloClient, isType, type PushClient } from "../support/client.js";
import { channelID, get, put } from "../support/http.js";
import { type PushNode, startNode } from "../support/node.js";

const REQUESTS = 3000;
const IN_FLIGHT = 16;
/** What a single node with the memory store may answer a PUT (503 is for load shedding and store failures, neither of which exists here). */
const DOCUMENTED = new Set([200, 202, 400, 404, 410, 413]);

let node: PushNode;
before(async () => {
  node = await startNode({ env: { EDITION_PING_MIN_INTERVAL_MS: "0" } });
});
after(async () => {
  disconnectAll();
  await node?.stop();
});

/** mulberry32: small, fast, good enough to pick test cases, and replayable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  readonly url: string;
  readonly body: Uint8Array | undefined;
  readonly contentType: string | null;
  /** The status this request must get, when its construction decides it. */
  readonly expect: number | undefined;
  /** Whether a 200 means a notification for the fuzz client. */
  readonly live: boolean;
  readonly what: string;
}

function generator(rand: () => number, endpoints: string[], base: string) {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const ascii = (n: number) =>
    Array.from({ length: n }, () => String.fromCharCode(32 + int(95))).join("");
  const unicode = (n: number) =>
    Array.from({ length: n }, () =>
      pick(["a", "é", "€", "😀", "\u0000", "%", "&", "=", "+", "\n"]),
    ).join("");

  const validVersion = () =>
    pick([
      () => String(1 + int(1000)),
      () => "18446744073709551615",
      () => (BigInt(int(2 ** 31)) * BigInt(int(2 ** 31)) + 1n).toString(),
      () => "0",
      () => "",
      () => `000${1 + int(9)}`,
    ])();
  const badVersion = () =>
    pick([
      "-1",
      "1.5",
      "0x10",
      "abc",
      "18446744073709551616",
      "1e9",
      "+1",
      " 1",
      "1 ",
      "９",
      "99999999999999999999999999",
    ]);
  const junkVersion = () => pick([validVersion(), badVersion(), unicode(int(8)), ascii(int(30))]);

  const mutate = (endpoint: string): string => {
    const cut = endpoint.lastIndexOf("/") + 1;
    const token = endpoint.slice(cut);
    const raw = Buffer.from(token, "base64url");
    const variant = int(5);
    let t: string;
    if (variant === 0) t = token.slice(0, int(token.length));
    else if (variant === 1) {
      const b = Buffer.from(raw);
      const at = int(b.length);
      b[at] = b[at]! ^ (1 << int(8));
      t = b.toString("base64url");
    } else if (variant === 2) t = `${token}${pick(["A", "AA", "AAAA", "-", "_"])}`;
    else if (variant === 3) {
      const chars = token.split("");
      const at = int(chars.length);
      const c = pick("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".split(""));
      if (chars[at] === c) chars[at] = c === "A" ? "B" : "A";
      else chars[at] = c;
      t = chars.join("");
    } else t = raw.subarray(0, int(raw.length)).toString("base64url");
    return endpoint.slice(0, cut) + (t === token ? `${t}A` : t);
  };
  const invented = (): string =>
    `${base}/update/${pick([
      () => Buffer.from(bytes(int(120))).toString("base64url"),
      () => encodeURIComponent(unicode(1 + int(40))),
      () => ascii(1 + int(40)).replace(/[#?%/\\ ]/g, "x"),
      () => `${Buffer.from(bytes(60)).toString("base64url")}/${int(100)}`,
      () => "A".repeat(1 + int(2000)),
    ])()}`;

  const encode = (s: string) => new TextEncoder().encode(s);

  return (): Case => {
    const kind = int(10);
    if (kind <= 2) {
      // A real endpoint, a well-formed request: 200, and the client gets it.
      const version = validVersion();
      const data = rand() < 0.5 ? undefined : unicode(int(300));
      const params = new URLSearchParams({ version });
      if (data !== undefined) params.set("data", data);
      return {
        url: pick(endpoints),
        body: encode(params.toString()),
        contentType: pick([
          "application/x-www-form-urlencoded",
          "application/x-www-form-urlencoded; charset=utf-8",
          null,
        ]),
        expect: 200,
        live: true,
        what: `valid ${params}`,
      };
    }
    if (kind === 3) {
      const inQuery = rand() < 0.5;
      const v = badVersion();
      const q = new URLSearchParams({ version: v }).toString();
      return {
        url: inQuery ? `${pick(endpoints)}?${q}` : pick(endpoints),
        body: inQuery ? undefined : encode(q),
        contentType: "application/x-www-form-urlencoded",
        expect: 400,
        live: true,
        what: `bad version ${JSON.stringify(v)}`,
      };
    }
    if (kind === 4) {
      const data = "a".repeat(4097 + int(3000));
      return {
        url: pick(endpoints),
        body: encode(`version=1&data=${data}`),
        contentType: null,
        expect: 413,
        live: true,
        what: "data too long",
      };
    }
    if (kind === 5 || kind === 6) {
      // A token that does not decode or authenticate: 404 whatever else is sent.
      const url = rand() < 0.6 ? mutate(pick(endpoints)) : invented();
      return {
        url,
        body: rand() < 0.5 ? encode(`version=${junkVersion()}`) : bytes(int(500)),
        contentType: pick([
          null,
          "application/x-www-form-urlencoded",
          "text/plain",
          ascii(int(20)),
        ]),
        expect: 404,
        live: false,
        what: `bad token ${url.slice(url.lastIndexOf("/") + 1, url.lastIndexOf("/") + 40)}`,
      };
    }
    // Chaos: anything goes, but the answer must still be a documented status.
    const url = pick([() => pick(endpoints), () => mutate(pick(endpoints)), invented])();
    const query =
      rand() < 0.3
        ? `?version=${encodeURIComponent(junkVersion())}&${ascii(int(10)).replace(/[#]/g, "")}`
        : "";
    const body = pick([
      () => undefined,
      () => bytes(int(2000)),
      () => encode(`version=${junkVersion()}&data=${unicode(int(100))}`),
      () => encode(`${ascii(int(200))}`),
      () => encode(`version=${junkVersion()}&data=${"x".repeat(int(8000))}`),
      () => bytes(60_000 + int(20_000)),
    ])();
    return {
      url: url + query,
      body,
      contentType: pick([
        null,
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain;charset=utf-8",
        "multipart/form-data; boundary=zz",
        ascii(int(40)),
        "APPLICATION/X-WWW-FORM-URLENCODED ; q=1",
      ]),
      expect: undefined,
      live: !url.includes("/update/") ? false : endpoints.some((e) => e === url),
      what: "chaos",
    };
  };
}

test("a few thousand random PUTs: documented statuses only, node up, updates still flow", {
  timeout: 180_000,
}, async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const rand = prng(seed);

  // Registered before the storm, never targeted by it.
  const control = await helloClient(node.wsUrl);
  const controlChannel = channelID();
  const controlEndpoint = await control.register(controlChannel);

  // The storm's own client: its real endpoints are what valid and mutated tokens start from.
  const target: PushClient = await helloClient(node.wsUrl);
  const endpoints: string[] = [];
  for (let i = 0; i < 4; i++) endpoints.push(await target.register(channelID()));
  const next = generator(rand, endpoints, node.httpUrl);
  const cases = Array.from({ length: REQUESTS }, next);

  const counts = new Map<number, number>();
  const failures: string[] = [];
  let delivered = 0;
  let i = 0;
  const worker = async () => {
    while (i < cases.length) {
      const c = cases[i++]!;
      let status: number;
      try {
        status = (await put(c.url, { body: c.body, contentType: c.contentType, timeoutMs: 10_000 }))
          .status;
      } catch (err) {
        failures.push(`${c.what}: request failed: ${String((err as Error).cause ?? err)}`);
        continue;
      }
      counts.set(status, (counts.get(status) ?? 0) + 1);
      if (!DOCUMENTED.has(status)) failures.push(`${c.what}: undocumented status ${status}`);
      else if (c.expect !== undefined && status !== c.expect)
        failures.push(`${c.what}: ${status}, expected ${c.expect}`);
      if (status === 200 && c.live) delivered++;
      if (status === 200 && !c.live && c.expect !== undefined)
        failures.push(`${c.what}: 200 for a request that cannot reach anyone`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  t.diagnostic(`statuses: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad responses (seed ${seed})`);

  // The node is up and still honest.
  assert.equal((await get(`${node.adminUrl}/health`)).status, 200);
  await target.barrier();
  const got = target.inbox.filter(isType("notification")).length;
  assert.equal(got, delivered, "every 200 reached the client exactly once");
  assert.equal(target.isClosed, false);

  // The control client never saw the storm, and still gets a real update.
  await control.barrier();
  assert.deepEqual(control.inbox.filter(isType("notification")), []);
  assert.equal((await put(controlEndpoint, { body: "version=424242&data=after" })).status, 200);
  const n = await control.notification();
  assert.deepEqual(n.updates, [{ channelID: controlChannel, version: 424242, data: "after" }]);
  assert.equal(big((n.updates as { version: unknown }[])[0]!.version), 424242n);

  // Nothing alarming in the node's own logs.
  const bad = node.logs.filter(
    (l) => l.stream === "stderr" || l.json?.level === "error" || l.json?.level === "fatal",
  );
  assert.deepEqual(
    bad.map((l) => l.text),
    [],
  );
});
