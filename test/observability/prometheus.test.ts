/**
 * The rules and dashboards against real data: a real Prometheus (Debian's package) scrapes a
 * local region — etcd, Redis, three push nodes and a balancer, real processes — under a short
 * load of real WebSocket clients and app-server PUTs, and the real operator (its main.ts, as
 * a process) reconciling a PushCluster for that region on a real kube-apiserver. Targets get
 * the labels the chart's PodMonitors add (docs/observability.md, "Scrape contract").
 *
 * Then every recording rule and every dashboard query (Grafana variables replaced: "All" for
 * cluster/region/node, 15 s for $__rate_interval) is evaluated through the HTTP API and must
 * return at least one finite value, and every rule must evaluate without error. Queries are
 * polled until they have data or a shared deadline passes: no sleep is a synchronisation.
 *
 * Skips when prometheus is missing (never under CI). The operator part needs kube-apiserver,
 * etcd and kubectl (scripts/install-kube-tools.sh) and skips only when they are missing.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { connect, isType, type PushClient } from "../support/client.js";
import { endpointVia, type LocalCluster, startLocalCluster } from "../support/cluster.js";
import { eventually, form, put } from "../support/http.js";
import { applyCrds, type Kube, kubeSkip, startKube } from "../support/kube.js";
import {
  findPrometheus,
  finite,
  type Prometheus,
  type ScrapeJob,
  startPrometheus,
} from "./prometheus.js";
import {
  alerts,
  CHART,
  type Dashboard,
  dashboards,
  dataPanels,
  ROOT,
  recordings,
  ruleFiles,
  substitute,
  variableQuery,
} from "./sources.js";

const promSkip =
  findPrometheus() !== undefined || process.env.CI
    ? false
    : "prometheus not installed (apt-get install prometheus)";
const operatorSkip = kubeSkip(["kube-apiserver", "etcd", "kubectl"]);
const CLUSTER = "obs";
const DATA_DEADLINE_MS = 60_000;

let cluster: LocalCluster;
let prom: Prometheus;
let kube: Kube | undefined;
let operator: ChildProcess | undefined;
let load: Load | undefined;

/** Starts the operator (operator/src/main.ts under tsx) against `kube`; resolves its metrics port. */
async function startOperator(k: Kube): Promise<{ child: ChildProcess; metricsPort: number }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, v] of Object.entries(process.env))
    if (!key.startsWith("EDITION_") && !key.startsWith("NODE_TEST")) env[key] = v;
  Object.assign(env, {
    KUBECONFIG: k.kubeconfigPath,
    POD_NAMESPACE: "default",
    POD_NAME: "edition-operator-0",
    EDITION_OPERATOR_METRICS_PORT: "0",
    EDITION_OPERATOR_LEASE_NAME: "edition-operator-leader",
    EDITION_OPERATOR_ACTIVE_RESYNC_SECONDS: "1",
    EDITION_OPERATOR_IDLE_RESYNC_SECONDS: "2",
    EDITION_OPERATOR_LOG_LEVEL: "info",
  });
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--import",
      new URL("../support/orphan-guard.ts", import.meta.url).href,
      join(ROOT, "operator/src/main.ts"),
    ],
    { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] },
  );
  let output = "";
  const lines = createInterface({ input: child.stdout! });
  child.stderr!.on("data", (c: Buffer) => {
    output = (output + c.toString()).slice(-16 * 1024);
  });
  const metricsPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`operator did not start within 30 s:\n${output}`));
    }, 30_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`operator exited (${code}) before it started:\n${output}`));
    });
    lines.on("line", (l) => {
      output = `${output}${l}\n`.slice(-16 * 1024);
      if (!l.includes('"started"')) return;
      const port = (JSON.parse(l) as { metricsPort?: number }).metricsPort;
      if (port === undefined) return;
      clearTimeout(timer);
      resolve(port);
    });
  });
  return { child, metricsPort };
}

/**
 * A small, steady load until stopped: clients on every node; PUTs through every node (so
 * some take internal hops), acked; a PUT to an unknown endpoint; a client leaving, missing
 * an update (202) and coming back for it (flush); hellos through the balancer (redirects).
 * Bounded in rounds and time; failures are counted, not thrown (the metrics show them).
 */
interface Load {
  readonly rounds: () => number;
  stop(): Promise<void>;
}

function startLoad(c: LocalCluster, clientsPerNode = 4): Load {
  let running = true;
  let rounds = 0;
  const deadline = Date.now() + 150_000;
  const clients: { client: PushClient; endpoint: string; channelID: string; uaid: string }[] = [];
  const loop = (async () => {
    for (const node of c.nodes) {
      for (let k = 0; k < clientsPerNode; k++) {
        const client = await connect(node.wsUrl);
        await client.hello();
        const channelID = randomUUID();
        const endpoint = await client.register(channelID);
        clients.push({ client, endpoint, channelID, uaid: client.uaid! });
      }
    }
    let version = 1;
    while (running && rounds < 5_000 && Date.now() < deadline) {
      rounds++;
      await Promise.all(
        clients.map(async (x, i) => {
          const v = version++;
          const via = c.nodes[(i + rounds) % c.nodes.length]!;
          try {
            const r = await put(endpointVia(x.endpoint, via), { body: form({ version: v }) });
            if (r.status === 200) {
              const n = await x.client.notification(2_000);
              x.client.ack((n.updates as { channelID: string; version: bigint }[]) ?? []);
            }
          } catch {
            // counted by the nodes (or a client that just left)
          }
        }),
      );
      if (rounds % 5 === 0) {
        await put(`${c.nodes[0]!.httpUrl}/update/not-a-token`, {
          body: form({ version: 1 }),
        }).catch(() => undefined);
        // One client leaves, misses an update (stored: 202), comes back and gets it flushed.
        const x = clients[rounds % clients.length]!;
        await x.client.close().catch(() => undefined);
        await put(x.endpoint, { body: form({ version: version++ }) }).catch(() => undefined);
        try {
          const client = await connect(c.nodes[rounds % c.nodes.length]!.wsUrl);
          await client.hello(x.uaid, [x.channelID]);
          const n = await client.next(isType("notification"), 2_000).catch(() => undefined);
          if (n) client.ack((n.updates as { channelID: string; version: bigint }[]) ?? []);
          x.client = client;
        } catch {
          // the next round's PUT for it answers 202
        }
        if (c.balancer) {
          // A first hello at the balancer is answered with a redirect to a node with room.
          const b = await connect(c.balancer.wsUrl).catch(() => undefined);
          b?.send({ messageType: "hello", uaid: "", channelIDs: [] });
          await b?.next(isType("hello"), 2_000).catch(() => undefined);
          await b?.close().catch(() => undefined);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    rounds: () => rounds,
    async stop() {
      running = false;
      await loop.catch(() => undefined);
      await Promise.all(clients.map((x) => x.client.close().catch(() => undefined)));
    },
  };
}

/** Evaluates `expr` until it returns a finite value or the deadline passes; the error or "no data". */
async function dataOrReason(expr: string, deadline: number): Promise<string | undefined> {
  for (;;) {
    let reason: string;
    try {
      const samples = await prom.query(expr);
      if (samples.some(finite)) return undefined;
      reason = samples.length === 0 ? "no data" : `only ${samples.map((s) => s.value).join(", ")}`;
    } catch (err) {
      // A bad query does not get better by waiting.
      return String(err);
    }
    if (Date.now() > deadline) return reason;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Every query of `boards` that has no data (or fails), as "dashboard / panel / refId: reason". */
async function panelsWithoutData(boards: Dashboard[]): Promise<string[]> {
  const deadline = Date.now() + DATA_DEADLINE_MS;
  const failures: string[] = [];
  for (const d of boards) {
    for (const p of dataPanels(d)) {
      for (const t of p.targets ?? []) {
        const expr = substitute(t.expr);
        const reason = await dataOrReason(expr, deadline);
        if (reason) failures.push(`${d.uid} / "${p.title}" / ${t.refId}: ${reason}\n    ${expr}`);
      }
    }
  }
  return failures;
}

describe("dashboards and rules on a real Prometheus scraping a local cluster", {
  skip: promSkip,
  timeout: 240_000,
}, () => {
  before(async () => {
    cluster = await startLocalCluster({ nodes: 3, balancer: true });
    const nodeTarget = (metricsPort: number, node: string, role: string) => ({
      address: `127.0.0.1:${metricsPort}`,
      labels: { cluster: CLUSTER, region: "local", node, role, namespace: "default" },
    });
    const jobs: ScrapeJob[] = [
      {
        job: "edition-node",
        honorLabels: true,
        targets: [
          ...cluster.nodes.map((n) => nodeTarget(n.metricsPort, cluster.idOf(n), "node")),
          nodeTarget(cluster.balancer!.metricsPort, "balancer", "balancer"),
        ],
      },
    ];
    if (!operatorSkip) {
      kube = await startKube();
      await applyCrds(kube, join(CHART, "crds"));
      const op = await startOperator(kube);
      operator = op.child;
      jobs.push({
        job: "edition-operator",
        honorLabels: false,
        targets: [
          {
            address: `127.0.0.1:${op.metricsPort}`,
            labels: { namespace: "default", pod: "edition-operator-0" },
          },
        ],
      });
      // A PushCluster whose region is the local one: the operator reads its members and
      // publishes its state in that region's etcd, as it would in a real cluster.
      await kube.kubectl(["apply", "--server-side", "-f", "-"], {
        input: JSON.stringify({
          apiVersion: "edition.dev/v1alpha1",
          kind: "PushCluster",
          metadata: { name: CLUSTER, namespace: "default" },
          spec: {
            image: "edition:test",
            replicas: 3,
            regions: [
              {
                name: "local",
                etcd: {
                  endpoints: [cluster.etcd.endpoint],
                  prefix: cluster.env.EDITION_ETCD_PREFIX,
                },
                redis: { url: cluster.redis.url },
                nodes: { maxConnections: 100 },
              },
            ],
          },
        }),
      });
    }
    // Load first: a ratio rule evaluated before any traffic records 0/0 = NaN, and the 30-day
    // averages over it stay NaN for the whole test (seen as a flake in CI).
    load = startLoad(cluster);
    prom = await startPrometheus({ jobs, ruleFiles: ruleFiles() });
    // Scrapes happened and the load is flowing: deliveries are visible through Prometheus.
    await eventually(
      async () => {
        const s = await prom.query(
          'sum(rate(edition_put_to_socket_seconds_count{job="edition-node"}[15s])) > 0',
        );
        return s.length > 0 ? true : undefined;
      },
      "deliveries visible in Prometheus",
      DATA_DEADLINE_MS,
      250,
    );
  });

  after(async () => {
    await load?.stop();
    await prom?.stop();
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator!.once("exit", r));
      operator.kill("SIGTERM");
      const timer = setTimeout(() => operator?.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await kube?.stop();
    await cluster?.stop();
  });

  test("every target is up", async () => {
    const targets = await prom.targets();
    assert.ok(targets.length >= 4, JSON.stringify(targets));
    const down = targets.filter((t) => t.health !== "up");
    assert.deepEqual(down, [], "targets down");
  });

  test("every recording rule's expression, and its recorded series, have data", async () => {
    const deadline = Date.now() + DATA_DEADLINE_MS;
    const failures: string[] = [];
    for (const r of recordings()) {
      const expr = await dataOrReason(r.expr, deadline);
      if (expr) failures.push(`${r.record} (expression): ${expr}`);
      const recorded = await dataOrReason(r.record!, deadline);
      if (recorded) failures.push(`${r.record} (recorded series): ${recorded}`);
    }
    assert.deepEqual(failures, []);
  });

  test("Prometheus evaluates every rule, recording and alerting, without error", async () => {
    const loaded = await prom.rules();
    const expected = recordings().length + alerts().length;
    assert.equal(loaded.length, expected, "every rule of the chart is loaded");
    // Health is "unknown" until the first evaluation; every group runs each second.
    const bad = await eventually(
      async () => {
        const rules = await prom.rules();
        if (rules.some((r) => r.health === "unknown")) return undefined;
        return rules.filter((r) => r.health !== "ok");
      },
      "every rule evaluated",
      30_000,
      250,
    );
    assert.deepEqual(
      bad.map((r) => `${r.name}: ${r.lastError}`),
      [],
    );
  });

  test("every query of the cluster overview and the node view returns data", async () => {
    const boards = dashboards().filter((d) => d.uid !== "edition-operator");
    assert.equal(boards.length, 2);
    assert.deepEqual(await panelsWithoutData(boards), []);
    assert.ok(load!.rounds() > 0, "the load ran");
  });

  test("every template variable of the node dashboards lists the cluster, the region and the nodes", async () => {
    for (const d of dashboards().filter((x) => x.uid !== "edition-operator")) {
      for (const v of d.templating.list.filter((x) => x.type === "query")) {
        const m = /^label_values\((.*),\s*(\w+)\)$/.exec(variableQuery(v));
        assert.ok(m, `${d.uid} $${v.name}`);
        const values = await prom.labelValues(m[2]!, substitute(m[1]!));
        const want = { cluster: [CLUSTER], region: ["local"] }[v.name] ?? [
          "balancer",
          ...cluster.nodes.map((n) => cluster.idOf(n)),
        ];
        assert.deepEqual(values.sort(), want.sort(), `${d.uid} $${v.name}`);
      }
    }
  });

  test("every query of the operator dashboard returns data (real operator, real kube-apiserver)", {
    skip: operatorSkip,
  }, async () => {
    const boards = dashboards().filter((d) => d.uid === "edition-operator");
    assert.deepEqual(await panelsWithoutData(boards), []);
    for (const v of boards[0]!.templating.list.filter((x) => x.type === "query")) {
      const m = /^label_values\((.*),\s*(\w+)\)$/.exec(variableQuery(v))!;
      const values = await prom.labelValues(m[2]!, substitute(m[1]!));
      assert.deepEqual(values, v.name === "cluster" ? [CLUSTER] : ["local"], `$${v.name}`);
    }
    // The region state comes from the operator's reading of the local region.
    const state = await prom.query(
      `edition_operator_region_state{job="edition-operator", cluster="${CLUSTER}", region="local"} == 1`,
    );
    assert.equal(state.length, 1, JSON.stringify(state));
  });
});
