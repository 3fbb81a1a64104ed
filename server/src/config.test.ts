import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, readRouterTls } from "./config.js";
import { TokenCodec } from "./endpoint/token.js";

/** 32 distinct bytes, and their base64 / base64url spellings. */
const KEY_A = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 250));
const KEY_B = Buffer.alloc(32, 0xfb);
const b64 = (b: Buffer) => b.toString("base64");
const b64url = (b: Buffer) => b.toString("base64url");

/** The problems reported for `env`; fails if it loads. */
function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, "CONFIG_INVALID");
    for (const p of err.problems) assert.ok(err.message.includes(p), "message lists every problem");
    return err.problems;
  }
  assert.fail(`expected ${JSON.stringify(env)} to be rejected`);
}

/** Asserts exactly one problem, naming `setting`. */
function rejects(setting: string, value: string): void {
  const ps = problems({ [setting]: value });
  assert.equal(
    ps.length,
    1,
    `one problem for ${setting}=${JSON.stringify(value)}: ${ps.join("; ")}`,
  );
  assert.match(ps[0]!, new RegExp(`^${setting}\\b`));
}

describe("loadConfig defaults", () => {
  it("gives a self-contained node from an empty environment", () => {
    const c = loadConfig({});
    assert.deepEqual(
      { ...c },
      {
        role: "node",
        host: "0.0.0.0",
        internalHost: "127.0.0.1",
        port: 8080,
        metricsPort: 9464,
        publicUrl: undefined,
        region: "local",
        tokenKeys: [],
        maxChannels: 1000,
        limits: {
          maxFrameBytes: 512 * 1024,
          maxJsonDigits: 40,
          maxJsonDepth: 32,
          helloTimeoutSeconds: 10,
          frameTimeoutSeconds: 270,
          maxConnectionsPerIp: 50_000,
          handshakesPerIpPerSecond: 1000,
          maxNotificationBytes: 32 * 1024,
          uaidTtlSeconds: 60 * 24 * 3600,
        },
        pingMinIntervalMs: 1000,
        pingBurst: 5,
        pendingTtlSeconds: 3 * 24 * 3600,
        shedStoreLatencyMs: 1000,
        idleTimeoutSeconds: 120,
        maxBackpressureBytes: 65536,
        maxConnections: 1_000_000,
        drainDeadlineSeconds: 30,
        drainRate: 1000,
        corsOrigin: undefined,
        demoPage: false,
        logLevel: "info",
        tls: undefined,
        webpushQueue: { maxMessages: 100, maxBytes: 1024 * 1024 },
        durability: { mode: "region", timeoutMs: 500 },
        cluster: undefined,
        redis: undefined,
      },
    );
  });

  it("treats an empty value as unset", () => {
    const c = loadConfig({
      EDITION_PORT: "",
      EDITION_HOST: "",
      EDITION_REGION: "",
      EDITION_PUBLIC_URL: "",
      EDITION_TOKEN_KEYS: "",
      EDITION_CORS_ORIGIN: "",
      EDITION_LOG_LEVEL: "",
    });
    assert.equal(c.port, 8080);
    assert.equal(c.host, "0.0.0.0");
    assert.equal(c.region, "local");
    assert.equal(c.publicUrl, undefined);
    assert.deepEqual(c.tokenKeys, []);
    assert.equal(c.corsOrigin, undefined);
    assert.equal(c.logLevel, "info");
  });

  it("needs the frame timeout above the idle timeout (idle clients complete a pong per idle timeout)", () => {
    assert.equal(loadConfig({ EDITION_IDLE_TIMEOUT_SECONDS: "8" }).limits.frameTimeoutSeconds, 46);
    const ps = problems({
      EDITION_IDLE_TIMEOUT_SECONDS: "60",
      EDITION_FRAME_TIMEOUT_SECONDS: "60",
    });
    assert.equal(ps.length, 1);
    assert.match(ps[0]!, /^EDITION_FRAME_TIMEOUT_SECONDS: 60 must exceed/);
  });

  it("binds internal listeners to the public host, or loopback when that is a wildcard", () => {
    assert.equal(loadConfig({ EDITION_HOST: "10.0.0.7" }).internalHost, "10.0.0.7");
    assert.equal(loadConfig({ EDITION_HOST: "::" }).internalHost, "127.0.0.1");
  });

  it("ignores variables outside EDITION_*", () => {
    const c = loadConfig({ PATH: "/bin", PORT: "1", EDITION: "x", edition_port: "9" });
    assert.equal(c.port, 8080);
  });
});

describe("loadConfig parses every setting", () => {
  it("reads each EDITION_* variable into its field", () => {
    const c = loadConfig({
      EDITION_ROLE: "node",
      EDITION_HOST: "127.0.0.1",
      EDITION_PORT: "0",
      EDITION_METRICS_PORT: "-1",
      EDITION_PUBLIC_URL: "https://push.example.com/base/",
      EDITION_REGION: "eu-west-1",
      EDITION_TOKEN_KEYS: `2:${b64(KEY_B)},1:${b64(KEY_A)}`,
      EDITION_MAX_CHANNELS: "50",
      EDITION_MAX_FRAME_BYTES: "300000",
      EDITION_MAX_JSON_DIGITS: "25",
      EDITION_MAX_JSON_DEPTH: "8",
      EDITION_HELLO_TIMEOUT_SECONDS: "3",
      EDITION_FRAME_TIMEOUT_SECONDS: "1000",
      EDITION_MAX_CONNECTIONS_PER_IP: "0",
      EDITION_HANDSHAKES_PER_IP_PER_SECOND: "5",
      EDITION_MAX_NOTIFICATION_BYTES: "2048",
      EDITION_UAID_TTL_SECONDS: "60",
      EDITION_INTERNAL_HOST: "10.1.2.3",
      EDITION_PING_MIN_INTERVAL_MS: "0",
      EDITION_PING_BURST: "1",
      EDITION_PENDING_TTL_SECONDS: "3600",
      EDITION_SHED_STORE_LATENCY_MS: "250",
      EDITION_IDLE_TIMEOUT_SECONDS: "960",
      EDITION_MAX_BACKPRESSURE_BYTES: "1024",
      EDITION_MAX_CONNECTIONS: "100",
      EDITION_DRAIN_DEADLINE_SECONDS: "0",
      EDITION_DRAIN_RATE: "7",
      EDITION_CORS_ORIGIN: "*",
      EDITION_DEMO_PAGE: "1",
      EDITION_LOG_LEVEL: "silent",
      EDITION_TLS_CERT: "/etc/edition/tls.crt",
      EDITION_TLS_KEY: "/etc/edition/tls.key",
      EDITION_WEBPUSH_MAX_MESSAGES: "10",
      EDITION_WEBPUSH_MAX_BYTES: "8192",
      EDITION_DURABILITY_TIMEOUT_MS: "250",
    });
    assert.deepEqual(
      { ...c, tokenKeys: c.tokenKeys.map((k) => ({ id: k.id, key: b64(k.key) })) },
      {
        role: "node",
        host: "127.0.0.1",
        internalHost: "10.1.2.3",
        port: 0,
        metricsPort: -1,
        publicUrl: "https://push.example.com/base",
        region: "eu-west-1",
        tokenKeys: [
          { id: 2, key: b64(KEY_B) },
          { id: 1, key: b64(KEY_A) },
        ],
        maxChannels: 50,
        limits: {
          maxFrameBytes: 300000,
          maxJsonDigits: 25,
          maxJsonDepth: 8,
          helloTimeoutSeconds: 3,
          frameTimeoutSeconds: 1000,
          maxConnectionsPerIp: 0,
          handshakesPerIpPerSecond: 5,
          maxNotificationBytes: 2048,
          uaidTtlSeconds: 60,
        },
        pingMinIntervalMs: 0,
        pingBurst: 1,
        pendingTtlSeconds: 3600,
        shedStoreLatencyMs: 250,
        idleTimeoutSeconds: 960,
        maxBackpressureBytes: 1024,
        maxConnections: 100,
        drainDeadlineSeconds: 0,
        drainRate: 7,
        corsOrigin: "*",
        demoPage: true,
        logLevel: "silent",
        tls: { certFile: "/etc/edition/tls.crt", keyFile: "/etc/edition/tls.key" },
        webpushQueue: { maxMessages: 10, maxBytes: 8192 },
        durability: { mode: "region", timeoutMs: 250 },
        cluster: undefined,
        redis: undefined,
      },
    );
  });

  it("wants both TLS files or neither", () => {
    assert.deepEqual(problems({ EDITION_TLS_CERT: "/c.pem" }), [
      "EDITION_TLS_KEY: required when EDITION_TLS_CERT is set (PEM file paths)",
    ]);
    assert.deepEqual(problems({ EDITION_TLS_KEY: "/k.pem" }), [
      "EDITION_TLS_CERT: required when EDITION_TLS_KEY is set (PEM file paths)",
    ]);
  });

  it("accepts the bounds of each integer setting", () => {
    const bounds: [string, keyof ReturnType<typeof loadConfig>, number, number][] = [
      ["EDITION_PORT", "port", 0, 65535],
      ["EDITION_METRICS_PORT", "metricsPort", -1, 65535],
      ["EDITION_MAX_CHANNELS", "maxChannels", 1, 1_000_000],
      ["EDITION_PING_MIN_INTERVAL_MS", "pingMinIntervalMs", 0, 3_600_000],
      ["EDITION_PING_BURST", "pingBurst", 1, 1000],
      ["EDITION_PENDING_TTL_SECONDS", "pendingTtlSeconds", 1, 365 * 24 * 3600],
      ["EDITION_SHED_STORE_LATENCY_MS", "shedStoreLatencyMs", 0, 60_000],
      ["EDITION_IDLE_TIMEOUT_SECONDS", "idleTimeoutSeconds", 8, 960],
      ["EDITION_MAX_BACKPRESSURE_BYTES", "maxBackpressureBytes", 1024, 64 * 1024 * 1024],
      ["EDITION_MAX_CONNECTIONS", "maxConnections", 1, 100_000_000],
      ["EDITION_DRAIN_DEADLINE_SECONDS", "drainDeadlineSeconds", 0, 3600],
      ["EDITION_DRAIN_RATE", "drainRate", 1, 1_000_000],
    ];
    for (const [name, field, min, max] of bounds) {
      assert.equal(loadConfig({ [name]: String(min) })[field], min, `${name}=${min}`);
      assert.equal(loadConfig({ [name]: String(max) })[field], max, `${name}=${max}`);
      rejects(name, String(min - 1));
      rejects(name, String(max + 1));
    }
  });

  it("accepts surrounding whitespace around an integer", () => {
    assert.equal(loadConfig({ EDITION_PORT: " 9000 " }).port, 9000);
  });

  it("accepts every log level", () => {
    for (const level of ["fatal", "error", "warn", "info", "debug", "trace", "silent"]) {
      assert.equal(loadConfig({ EDITION_LOG_LEVEL: level }).logLevel, level);
    }
  });

  it("accepts http and https public URLs and strips trailing slashes", () => {
    assert.equal(
      loadConfig({ EDITION_PUBLIC_URL: "http://localhost:8080" }).publicUrl,
      "http://localhost:8080",
    );
    assert.equal(
      loadConfig({ EDITION_PUBLIC_URL: "https://push.example.com//" }).publicUrl,
      "https://push.example.com",
    );
  });

  it("accepts DNS-label regions", () => {
    for (const r of ["a", "0", "us-east-2", "x".repeat(63), "a-b"]) {
      assert.equal(loadConfig({ EDITION_REGION: r }).region, r);
    }
  });
});

describe("loadConfig reports invalid values", () => {
  for (const name of [
    "EDITION_PORT",
    "EDITION_METRICS_PORT",
    "EDITION_MAX_CHANNELS",
    "EDITION_PING_MIN_INTERVAL_MS",
    "EDITION_PING_BURST",
    "EDITION_PENDING_TTL_SECONDS",
    "EDITION_IDLE_TIMEOUT_SECONDS",
    "EDITION_MAX_BACKPRESSURE_BYTES",
    "EDITION_MAX_CONNECTIONS",
    "EDITION_DRAIN_DEADLINE_SECONDS",
    "EDITION_DRAIN_RATE",
  ]) {
    it(`${name}: non-integers`, () => {
      for (const v of ["abc", "12abc", "1.5", "1e3", "0x10", "+5", "1_000", " ", "--1"]) {
        rejects(name, v);
      }
    });
  }

  it("EDITION_PORT: far out of range", () => {
    rejects("EDITION_PORT", "99999999999999999999999");
    rejects("EDITION_PORT", "-2");
  });

  it("EDITION_ROLE: anything but node or balancer", () => {
    for (const v of ["Node", "BALANCER", "x"]) rejects("EDITION_ROLE", v);
  });

  it("EDITION_LOG_LEVEL: unknown levels", () => {
    for (const v of ["INFO", "verbose", "warning"]) rejects("EDITION_LOG_LEVEL", v);
  });

  it("EDITION_REGION: not a DNS label", () => {
    for (const v of ["EU", "-eu", "eu-", "eu_west", "eu.west", "x".repeat(64), "é"]) {
      rejects("EDITION_REGION", v);
    }
  });

  it("EDITION_PUBLIC_URL: not an http(s) URL", () => {
    for (const v of ["push.example.com", "ftp://x", "ws://x:8080", "/update", "https://"]) {
      rejects("EDITION_PUBLIC_URL", v);
    }
  });

  it("EDITION_PUBLIC_URL: a query or fragment (it would swallow /update/<token>)", () => {
    for (const v of [
      "https://push.example.com/?a=1",
      "https://push.example.com/#x",
      "https://x/?",
    ]) {
      rejects("EDITION_PUBLIC_URL", v);
    }
  });

  it("an unknown EDITION_* setting", () => {
    assert.deepEqual(problems({ EDITION_PROT: "8080" }), ["EDITION_PROT: unknown setting"]);
    rejects("EDITION_", "");
    rejects("EDITION_port", "1");
  });

  it("reports several problems at once, in one ConfigError", () => {
    const ps = problems({
      EDITION_PORT: "http",
      EDITION_METRICS_PORT: "70000",
      EDITION_REGION: "Bad Region",
      EDITION_LOG_LEVEL: "loud",
      EDITION_ROLE: "router",
      EDITION_PUBLIC_URL: "nope",
      EDITION_TOKEN_KEYS: "1:short",
      EDITION_DRAIN_RATE: "0",
      EDITION_TYPO: "1",
      EDITION_MAX_CHANNELS: "100", // valid: not reported
    });
    const named = ps.map((p) => p.slice(0, p.indexOf(":")));
    assert.deepEqual([...named].sort(), [
      "EDITION_DRAIN_RATE",
      "EDITION_LOG_LEVEL",
      "EDITION_METRICS_PORT",
      "EDITION_PORT",
      "EDITION_PUBLIC_URL",
      "EDITION_REGION",
      "EDITION_ROLE",
      "EDITION_TOKEN_KEYS",
      "EDITION_TYPO",
    ]);
  });

  it("quotes the offending value in the problem", () => {
    const [p] = problems({ EDITION_PORT: "eighty" });
    assert.match(p!, /"eighty"/);
    const [q] = problems({ EDITION_PORT: "65536" });
    assert.match(q!, /65536/);
  });
});

describe("EDITION_TOKEN_KEYS", () => {
  it("parses id:base64 entries, newest (minting) first", () => {
    const c = loadConfig({ EDITION_TOKEN_KEYS: `7:${b64(KEY_A)},3:${b64(KEY_B)}` });
    assert.deepEqual(
      c.tokenKeys.map((k) => k.id),
      [7, 3],
    );
    assert.ok(c.tokenKeys[0]!.key.equals(KEY_A), "first key bytes");
    assert.ok(c.tokenKeys[1]!.key.equals(KEY_B), "second key bytes");
  });

  it("accepts base64url, unpadded base64, ids 0 and 255, and whitespace around entries", () => {
    const c = loadConfig({
      EDITION_TOKEN_KEYS: ` 0:${b64url(KEY_A)} ,\t255:${b64(KEY_B).replace(/=+$/, "")} `,
    });
    assert.deepEqual(
      c.tokenKeys.map((k) => [k.id, b64(k.key)]),
      [
        [0, b64(KEY_A)],
        [255, b64(KEY_B)],
      ],
    );
  });

  it("gives keys that a TokenCodec mints with (first) and decodes with (all)", () => {
    const old = loadConfig({ EDITION_TOKEN_KEYS: `1:${b64(KEY_A)}` }).tokenKeys;
    const rotated = loadConfig({ EDITION_TOKEN_KEYS: `2:${b64(KEY_B)},1:${b64(KEY_A)}` }).tokenKeys;
    const target = {
      region: "local",
      uaid: "0123456789abcdef0123456789abcdef",
      channelID: "fedcba9876543210fedcba9876543210",
    };
    const minted = new TokenCodec(old).encode(target);
    assert.equal(new TokenCodec(rotated).decode(minted)?.channelID, target.channelID);
    const fresh = new TokenCodec(rotated).encode(target);
    assert.equal(new TokenCodec(old).decode(fresh), undefined, "minted with key 2");
  });

  for (const [what, value] of [
    ["a 31-byte key", `1:${b64(KEY_A.subarray(1))}`],
    ["a 33-byte key", `1:${b64(Buffer.concat([KEY_A, Buffer.of(1)]))}`],
    ["a 16-byte key", `1:${b64(KEY_A.subarray(16))}`],
    ["a hex key", `1:${KEY_A.toString("hex")}`],
    ["no id", b64(KEY_A)],
    ["an empty id", `:${b64(KEY_A)}`],
    ["id 256", `256:${b64(KEY_A)}`],
    ["id 1000", `1000:${b64(KEY_A)}`],
    ["a negative id", `-1:${b64(KEY_A)}`],
    ["a named id", `k1:${b64(KEY_A)}`],
    ["an empty key", "1:"],
    ["a trailing comma", `1:${b64(KEY_A)},`],
    ["padding in the middle", `1:${b64(KEY_A).slice(0, 20)}=${b64(KEY_A).slice(20)}`],
    ["a key with a space inside", `1:${b64(KEY_A).slice(0, 20)} ${b64(KEY_A).slice(20)}`],
  ] as const) {
    it(`rejects ${what}`, () => rejects("EDITION_TOKEN_KEYS", value));
  }

  it("rejects a duplicate id, naming it", () => {
    const ps = problems({ EDITION_TOKEN_KEYS: `4:${b64(KEY_A)},04:${b64(KEY_B)}` });
    assert.equal(ps.length, 1);
    assert.match(ps[0]!, /^EDITION_TOKEN_KEYS: .*\b4\b.*twice/);
  });

  it("reports each bad entry by its position", () => {
    const ps = problems({
      EDITION_TOKEN_KEYS: `1:${b64(KEY_A)},2:short,3:${b64(KEY_B)},x:y`,
    });
    assert.equal(ps.length, 2);
    assert.match(ps[0]!, /entry 2\b/);
    assert.match(ps[1]!, /entry 4\b/);
  });

  it("never puts key material in a problem", () => {
    const ps = problems({ EDITION_TOKEN_KEYS: `1:${b64(KEY_A)},1:${b64(KEY_B)},2:${b64(KEY_A)}x` });
    for (const p of ps) {
      assert.ok(!p.includes(b64(KEY_A).slice(0, 16)) && !p.includes(b64(KEY_B).slice(0, 16)), p);
    }
  });
});

describe("the loaded config", () => {
  it("is frozen, its token key list included", () => {
    const c = loadConfig({ EDITION_TOKEN_KEYS: `1:${b64(KEY_A)}` });
    assert.ok(Object.isFrozen(c), "c is frozen");
    assert.throws(() => {
      (c as { port: number }).port = 1;
    }, TypeError);
    assert.equal(c.port, 8080);
    assert.ok(Object.isFrozen(c.tokenKeys), "c.tokenKeys is frozen");
    assert.ok(Object.isFrozen(loadConfig({}).tokenKeys), "loadConfig({}).tokenKeys is frozen");
    assert.throws(() => (c.tokenKeys as unknown[]).push({ id: 9, key: KEY_B }), TypeError);
    assert.ok(Object.isFrozen(c.tokenKeys[0]), "c.tokenKeys[0] is frozen");
    assert.throws(() => {
      (c.tokenKeys[0] as { id: number }).id = 9;
    }, TypeError);
  });

  it("does not read process.env", () => {
    const saved = process.env.EDITION_PORT;
    process.env.EDITION_PORT = "1234";
    try {
      assert.equal(loadConfig({}).port, 8080);
    } finally {
      if (saved === undefined) delete process.env.EDITION_PORT;
      else process.env.EDITION_PORT = saved;
    }
  });
});

const ETCD = {
  EDITION_ETCD_ENDPOINTS: "http://127.0.0.1:2379",
  EDITION_CLUSTER_SECRET: "3f9c1a7e5b2d8046",
  EDITION_TOKEN_KEYS: `1:${Buffer.alloc(32, 7).toString("base64")}`,
};

describe("cluster settings", () => {
  it("no EDITION_ETCD_ENDPOINTS → no cluster (one self-contained node)", () => {
    assert.equal(loadConfig({}).cluster, undefined);
  });

  it("defaults once etcd endpoints and a secret are given", () => {
    assert.deepEqual(
      { ...loadConfig(ETCD).cluster },
      {
        nodeId: hostname(),
        etcdEndpoints: ["http://127.0.0.1:2379"],
        etcdPrefix: "/edition",
        leaseTtlSeconds: 5,
        slots: 4096,
        routerPort: 8081,
        routerUrl: undefined,
        advertiseWsUrl: undefined,
        clusterSecret: "3f9c1a7e5b2d8046",
        redirectThresholdPercent: 90,
        memberRefreshMs: 1000,
        regionStateDir: "/etc/edition/regions",
        shedRouterDepth: 10_000,
        holderCacheSize: 100_000,
        routerTls: undefined,
      },
    );
  });

  it("reads every cluster setting", () => {
    const c = loadConfig({
      EDITION_ROLE: "balancer",
      EDITION_ETCD_ENDPOINTS: " http://etcd-0:2379 , https://etcd-1:2379,, ",
      EDITION_CLUSTER_SECRET: "a-long-enough-secret",
      EDITION_NODE_ID: "edition-eu-0.pod_1",
      EDITION_ETCD_PREFIX: "/push",
      EDITION_LEASE_TTL_SECONDS: "10",
      EDITION_SLOTS: "1024",
      EDITION_ROUTER_PORT: "0",
      EDITION_ROUTER_URL: "tcp://10.0.0.5:8081",
      EDITION_ADVERTISE_WS_URL: "wss://eu-0.push.example.com",
      EDITION_REDIRECT_THRESHOLD_PERCENT: "75",
      EDITION_MEMBER_REFRESH_MS: "500",
      EDITION_SHED_ROUTER_DEPTH: "50",
      EDITION_HOLDER_CACHE_SIZE: "0",
    });
    assert.equal(c.role, "balancer");
    assert.deepEqual(
      { ...c.cluster },
      {
        nodeId: "edition-eu-0.pod_1",
        etcdEndpoints: ["http://etcd-0:2379", "https://etcd-1:2379"],
        etcdPrefix: "/push",
        leaseTtlSeconds: 10,
        slots: 1024,
        routerPort: 0,
        routerUrl: "10.0.0.5:8081",
        advertiseWsUrl: "wss://eu-0.push.example.com",
        clusterSecret: "a-long-enough-secret",
        redirectThresholdPercent: 75,
        memberRefreshMs: 500,
        regionStateDir: "/etc/edition/regions",
        shedRouterDepth: 50,
        holderCacheSize: 0,
        routerTls: undefined,
      },
    );
  });

  it("accepts a router URL as plain host:port", () => {
    assert.equal(
      loadConfig({ ...ETCD, EDITION_ROUTER_URL: "node-1.edition:8081" }).cluster?.routerUrl,
      "node-1.edition:8081",
    );
  });

  it("router TLS: all three files or none, each read at start-up with an error naming it", () => {
    const files = {
      EDITION_ROUTER_TLS_CERT: "/etc/edition/router/tls.crt",
      EDITION_ROUTER_TLS_KEY: "/etc/edition/router/tls.key",
      EDITION_ROUTER_TLS_CA: "/etc/edition/router/ca.crt",
    };
    assert.deepEqual(loadConfig({ ...ETCD, ...files }).cluster?.routerTls, {
      certFile: "/etc/edition/router/tls.crt",
      keyFile: "/etc/edition/router/tls.key",
      caFile: "/etc/edition/router/ca.crt",
    });
    const partial = problems({ ...ETCD, EDITION_ROUTER_TLS_CERT: files.EDITION_ROUTER_TLS_CERT });
    assert.equal(partial.length, 1);
    assert.match(partial[0]!, /^EDITION_ROUTER_TLS_KEY, EDITION_ROUTER_TLS_CA: required when/);
    assert.match(
      problems(files).join("\n"),
      /EDITION_ROUTER_TLS_CA: only meaningful with EDITION_ETCD_ENDPOINTS/,
    );
    const dir = mkdtempSync(join(tmpdir(), "edition-config-"));
    try {
      writeFileSync(join(dir, "junk"), "not a certificate");
      assert.throws(
        () =>
          readRouterTls({
            certFile: join(dir, "missing.crt"),
            keyFile: join(dir, "junk"),
            caFile: join(dir, "junk"),
          }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /EDITION_ROUTER_TLS_CERT: cannot read ".*missing.crt" \(ENOENT\)/.test(err.message) &&
          /EDITION_ROUTER_TLS_KEY: ".*junk" is not PEM/.test(err.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a low-entropy cluster secret and a cluster node without token keys", () => {
    for (const secret of ["aaaaaaaaaaaaaaaa", "abababababababababab", "0123012301230123"]) {
      const ps = problems({ ...ETCD, EDITION_CLUSTER_SECRET: secret });
      assert.equal(ps.length, 1, secret);
      assert.match(ps[0]!, /^EDITION_CLUSTER_SECRET: too guessable/);
    }
    const { EDITION_TOKEN_KEYS: _, ...noKeys } = ETCD;
    const ps = problems(noKeys);
    assert.equal(ps.length, 1);
    assert.match(ps[0]!, /^EDITION_TOKEN_KEYS: required with EDITION_ETCD_ENDPOINTS/);
    // A balancer mints no endpoints: it needs no token keys.
    assert.equal(loadConfig({ ...noKeys, EDITION_ROLE: "balancer" }).role, "balancer");
  });

  it("tolerates tcp:// and a trailing / on the router address, and says why http:// is wrong", () => {
    for (const v of [
      "tcp://node-1.edition:8081",
      "tcp://node-1.edition:8081/",
      "node-1.edition:8081/",
    ])
      assert.equal(
        loadConfig({ ...ETCD, EDITION_ROUTER_URL: v }).cluster?.routerUrl,
        "node-1.edition:8081",
      );
    assert.match(
      problems({ ...ETCD, EDITION_ROUTER_URL: "http://node-1.edition:8081" })[0]!,
      /must be host:port \(the router speaks its own TCP protocol: drop the scheme\)/,
    );
  });

  it("accepts an advertised WebSocket URL with a trailing / (the root path) and drops it", () => {
    for (const v of ["wss://eu-0.push.example.com/", "wss://eu-0.push.example.com"])
      assert.equal(
        loadConfig({ ...ETCD, EDITION_ADVERTISE_WS_URL: v }).cluster?.advertiseWsUrl,
        "wss://eu-0.push.example.com",
      );
    assert.equal(
      loadConfig({ ...ETCD, EDITION_ADVERTISE_WS_URL: "ws://10.0.0.7:8080/" }).cluster
        ?.advertiseWsUrl,
      "ws://10.0.0.7:8080",
    );
  });

  it("requires a cluster secret of at least 16 characters", () => {
    const { EDITION_CLUSTER_SECRET: _, ...noSecret } = ETCD;
    for (const env of [noSecret, { ...ETCD, EDITION_CLUSTER_SECRET: "s".repeat(15) }]) {
      const ps = problems(env);
      assert.equal(ps.length, 1);
      assert.match(ps[0]!, /^EDITION_CLUSTER_SECRET\b/);
    }
  });

  for (const [name, value] of [
    ["EDITION_ETCD_ENDPOINTS", "127.0.0.1:2379"],
    ["EDITION_ETCD_ENDPOINTS", "http://127.0.0.1:2379/v3"],
    ["EDITION_ETCD_ENDPOINTS", "http://a:2379,etcd:2379"],
    ["EDITION_NODE_ID", "has space"],
    ["EDITION_NODE_ID", "-leading-dash"],
    ["EDITION_NODE_ID", "x".repeat(254)],
    ["EDITION_ADVERTISE_WS_URL", "ws://node:8080/path"],
    ["EDITION_ADVERTISE_WS_URL", "http://node:8080"],
    ["EDITION_ADVERTISE_WS_URL", "wss://node//"],
    ["EDITION_ADVERTISE_WS_URL", "wss://node/?x=1"],
    ["EDITION_ROUTER_URL", "node"],
    ["EDITION_ROUTER_URL", "http://node:8081"],
    ["EDITION_ROUTER_URL", "node:port"],
    ["EDITION_ROUTER_URL", "tcp://node:8081/x"],
    ["EDITION_LEASE_TTL_SECONDS", "1"],
    ["EDITION_LEASE_TTL_SECONDS", "61"],
    ["EDITION_SLOTS", "15"],
    ["EDITION_SLOTS", "65537"],
    ["EDITION_SLOTS", "many"],
    ["EDITION_ROUTER_PORT", "65536"],
    ["EDITION_REDIRECT_THRESHOLD_PERCENT", "0"],
    ["EDITION_REDIRECT_THRESHOLD_PERCENT", "101"],
    ["EDITION_MEMBER_REFRESH_MS", "99"],
    ["EDITION_MEMBER_REFRESH_MS", "60001"],
  ] as const) {
    it(`rejects ${name}=${JSON.stringify(value).slice(0, 40)}`, () => {
      const env: Record<string, string> = { ...ETCD, [name]: value };
      const ps = problems(env);
      assert.equal(ps.length, 1, ps.join("; "));
      assert.match(ps[0]!, new RegExp(`^${name}\\b`));
    });
  }

  it("rejects cluster-only settings without etcd endpoints", () => {
    for (const name of [
      "EDITION_CLUSTER_SECRET",
      "EDITION_ROUTER_URL",
      "EDITION_ADVERTISE_WS_URL",
    ]) {
      rejects(name, name === "EDITION_CLUSTER_SECRET" ? "s".repeat(16) : "node:8081");
    }
  });

  it("rejects the balancer role without etcd endpoints (it has no nodes to send clients to)", () => {
    rejects("EDITION_ROLE", "balancer");
  });

  it("is frozen, its endpoint list included", () => {
    const c = loadConfig(ETCD).cluster!;
    assert.ok(Object.isFrozen(c), "c is frozen");
    assert.ok(Object.isFrozen(c.etcdEndpoints), "c.etcdEndpoints is frozen");
  });
});

describe("Redis settings", () => {
  it("no EDITION_REDIS_URL or sentinels → the in-memory store", () => {
    assert.equal(loadConfig({}).redis, undefined);
    assert.equal(loadConfig({ EDITION_REDIS_MODE: "cluster" }).redis, undefined);
  });

  it("standalone from a redis:// or rediss:// URL, with defaults", () => {
    for (const url of ["redis://127.0.0.1:6379", "rediss://user@redis.example.com:6380/2"]) {
      assert.deepEqual(
        { ...loadConfig({ EDITION_REDIS_URL: url }).redis },
        {
          mode: "standalone",
          url,
          sentinels: [],
          sentinelName: undefined,
          password: undefined,
          keyPrefix: "edition:",
        },
      );
    }
  });

  it("reads the password and key prefix", () => {
    const r = loadConfig({
      EDITION_REDIS_URL: "redis://r:6379",
      EDITION_REDIS_PASSWORD: "hunter2",
      EDITION_REDIS_KEY_PREFIX: "eu:",
    }).redis;
    assert.equal(r?.password, "hunter2");
    assert.equal(r?.keyPrefix, "eu:");
  });

  it("sentinel mode: sentinels and a master name", () => {
    const r = loadConfig({
      EDITION_REDIS_MODE: "sentinel",
      EDITION_REDIS_SENTINELS: "s1:26379, s2:26379",
      EDITION_REDIS_SENTINEL_NAME: "mymaster",
    }).redis;
    assert.equal(r?.mode, "sentinel");
    assert.deepEqual(r?.sentinels, ["s1:26379", "s2:26379"]);
    assert.equal(r?.sentinelName, "mymaster");
    assert.equal(r?.url, undefined);
  });

  it("cluster mode: a seed list in EDITION_REDIS_URL", () => {
    const r = loadConfig({
      EDITION_REDIS_MODE: "cluster",
      EDITION_REDIS_URL: "r1:7000,r2:7000",
    }).redis;
    assert.equal(r?.mode, "cluster");
    assert.equal(r?.url, "r1:7000,r2:7000");
  });

  it("rejects an unknown mode, even without a URL", () => {
    rejects("EDITION_REDIS_MODE", "replica");
    assert.equal(
      problems({ EDITION_REDIS_MODE: "Sentinel", EDITION_REDIS_URL: "redis://r:1" }).length,
      1,
    );
  });

  it("rejects a standalone URL that is not redis(s)://", () => {
    for (const url of ["http://r:6379", "r:6379", "redis:/r"]) rejects("EDITION_REDIS_URL", url);
  });

  it("rejects sentinel mode without sentinels or without a master name", () => {
    const envs: Record<string, string>[] = [
      { EDITION_REDIS_MODE: "sentinel", EDITION_REDIS_SENTINELS: "s1:26379" },
      {
        EDITION_REDIS_MODE: "sentinel",
        EDITION_REDIS_URL: "redis://r:6379",
        EDITION_REDIS_SENTINEL_NAME: "m",
      },
    ];
    for (const env of envs) {
      const ps = problems(env);
      assert.equal(ps.length, 1, ps.join("; "));
      assert.match(ps[0]!, /EDITION_REDIS_SENTINEL/);
    }
  });

  it("rejects cluster mode without a seed list", () => {
    const ps = problems({ EDITION_REDIS_MODE: "cluster", EDITION_REDIS_SENTINELS: "s:1" });
    assert.equal(ps.length, 1);
    assert.match(ps[0]!, /^EDITION_REDIS_URL\b/);
  });

  it("is frozen, its sentinel list included", () => {
    const r = loadConfig({
      EDITION_REDIS_MODE: "sentinel",
      EDITION_REDIS_SENTINELS: "s1:26379",
      EDITION_REDIS_SENTINEL_NAME: "m",
    }).redis!;
    assert.ok(Object.isFrozen(r), "r is frozen");
    assert.ok(Object.isFrozen(r.sentinels), "r.sentinels is frozen");
  });
});

describe("cluster-only settings without etcd", () => {
  it("reports every one of them as a mistake, together", () => {
    const env = {
      EDITION_SLOTS: "64",
      EDITION_NODE_ID: "n1",
      EDITION_LEASE_TTL_SECONDS: "3",
      EDITION_CLUSTER_SECRET: "0123456789abcdef",
    };
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, "a ConfigError is thrown");
    for (const name of Object.keys(env)) {
      assert.ok(
        err.problems.some((p) =>
          p.startsWith(`${name}: only meaningful with EDITION_ETCD_ENDPOINTS`),
        ),
        `${name} is reported`,
      );
    }
  });
});

describe("loadConfig: EDITION_DEMO_PAGE", () => {
  it("is off by default and on with 1 or true", () => {
    assert.equal(loadConfig({}).demoPage, false);
    assert.equal(loadConfig({ EDITION_DEMO_PAGE: "1" }).demoPage, true);
    assert.equal(loadConfig({ EDITION_DEMO_PAGE: "true" }).demoPage, true);
    assert.equal(loadConfig({ EDITION_DEMO_PAGE: "0" }).demoPage, false);
  });

  it("rejects anything else, naming the setting", () => {
    rejects("EDITION_DEMO_PAGE", "yes");
  });
});

describe("loadConfig: EDITION_DURABILITY", () => {
  it("is region by default; global with a standalone or Sentinel Redis", () => {
    assert.equal(loadConfig({}).durability.mode, "region");
    const c = loadConfig({
      EDITION_DURABILITY: "global",
      EDITION_REDIS_URL: "redis://127.0.0.1:6379",
    });
    assert.deepEqual(c.durability, { mode: "global", timeoutMs: 500 });
  });

  it("refuses an unknown mode, and global without Redis or with Redis Cluster", () => {
    rejects("EDITION_DURABILITY", "everywhere");
    assert.throws(() => loadConfig({ EDITION_DURABILITY: "global" }), /global needs/);
    assert.throws(
      () =>
        loadConfig({
          EDITION_DURABILITY: "global",
          EDITION_REDIS_MODE: "cluster",
          EDITION_REDIS_URL: "127.0.0.1:7000",
        }),
      /global needs/,
    );
  });
});
