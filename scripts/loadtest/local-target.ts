/**
 * The local target of `npm run loadtest` (the one place that decides what "local" is).
 *
 * - `node` (the default today): one push node on loopback with the in-memory store.
 * - `cluster` (`--local-cluster`): the local region of test/support/cluster.ts (etcd,
 *   Redis, three nodes) behind a loopback L4 balancer that clients and app servers both
 *   use; it can `kill` a node, so the storm suite runs its node-kill variant.
 *
 * To make the cluster the default, change `DEFAULT_KIND`.
 */
import { randomBytes } from "node:crypto";
import { startLocalCluster } from "../../test/support/cluster.js";
import { startNode } from "../../test/support/node.js";
import { startTcpBalancer } from "./tcp-balancer.js";

export interface LoadTarget {
  /** For the report: what was loaded. */
  readonly description: string;
  /** Where clients connect (ws://…/). */
  readonly wsUrl: string;
  /** Where push endpoints point (informational: suites PUT to what register returns). */
  readonly endpointBase?: string;
  /**
   * Kills one node without a drain (SIGKILL) while the rest keep serving. Absent when the
   * target cannot lose a node and keep its promises (a single node with a memory store).
   */
  kill?(): Promise<void>;
  /** Stops everything (drain, then exit); resolves when it is gone. */
  stop(): Promise<void>;
}

export type LocalKind = "node" | "cluster";
export const DEFAULT_KIND: LocalKind = "node";

const STOP_TIMEOUT_MS = 20_000;
const CLUSTER_NODES = 3;

/** Settings every local push node gets. */
function nodeEnv(): Record<string, string> {
  return {
    // Fixed for the run, so endpoints minted early stay valid for the whole run.
    EDITION_TOKEN_KEYS: `1:${randomBytes(32).toString("base64")}`,
    // The limit that matters here is the 20,000 open files per process.
    EDITION_MAX_CONNECTIONS: "100000",
    // Suites close their own sockets; whatever is left goes fast at the end.
    EDITION_DRAIN_RATE: "100000",
    EDITION_DRAIN_DEADLINE_SECONDS: "5",
    // Behind the loopback balancer every client has the balancer's address: per-address
    // limits (docs/limits.md) would throttle the whole load as one client.
    EDITION_MAX_CONNECTIONS_PER_IP: "0",
    EDITION_HANDSHAKES_PER_IP_PER_SECOND: "0",
  };
}

export async function startLocalTarget(kind: LocalKind = DEFAULT_KIND): Promise<LoadTarget> {
  return kind === "cluster" ? startCluster() : startSingleNode();
}

async function startSingleNode(): Promise<LoadTarget> {
  const node = await startNode({ env: nodeEnv() });
  return {
    description: `one push node on loopback (pid ${node.pid}, memory store), ${node.wsUrl}`,
    wsUrl: node.wsUrl,
    endpointBase: `${node.publicUrl}/update/`,
    async stop() {
      await node.stop(STOP_TIMEOUT_MS);
    },
  };
}

async function startCluster(): Promise<LoadTarget> {
  // The balancer's address must be known before the nodes start (it is their public URL),
  // and the nodes' ports after: start it empty, fill it in.
  const lb = await startTcpBalancer([]);
  const publicUrl = `http://127.0.0.1:${lb.port}`;
  let cluster: Awaited<ReturnType<typeof startLocalCluster>>;
  try {
    cluster = await startLocalCluster({
      nodes: CLUSTER_NODES,
      balancer: false,
      env: {
        ...nodeEnv(),
        EDITION_PUBLIC_URL: publicUrl,
        // Clients arrive through the balancer already spread: no hello redirects.
        EDITION_REDIRECT_THRESHOLD_PERCENT: "100",
      },
    });
  } catch (err) {
    await lb.close();
    throw err;
  }
  const live = () => cluster.nodes.filter((n) => !killed.has(n.pid));
  const killed = new Set<number>();
  lb.setBackends(live().map((n) => n.port));
  return {
    description:
      `local cluster: etcd, Redis, ${CLUSTER_NODES} push nodes (pids ${cluster.nodes.map((n) => n.pid).join(", ")}) ` +
      `behind a loopback L4 balancer, ws://127.0.0.1:${lb.port}/`,
    wsUrl: `ws://127.0.0.1:${lb.port}/`,
    endpointBase: `${publicUrl}/update/`,
    async kill() {
      const victim = live()[1] ?? live()[0];
      if (victim === undefined) throw new Error("no live node left to kill");
      killed.add(victim.pid);
      // A real balancer's health check takes it out; ours does it at once.
      lb.setBackends(live().map((n) => n.port));
      victim.kill("SIGKILL");
      await victim.exited;
    },
    async stop() {
      await cluster.stop();
      await lb.close();
    },
  };
}
