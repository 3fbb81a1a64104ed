/**
 * The cluster side of a node, assembled: internal router (server + peers), etcd registry
 * (member record, members, slot table), coordinator campaign, the socket-free directory
 * and the delivery that routes by it. `main.ts` builds one when EDITION_ETCD_ENDPOINTS is
 * set: the directory first (`Connections` announces to it), then `attach` gives it the
 * node's sockets and returns the route PUTs take. Nothing here calls back into `main.ts`.
 */

import { chooseRedirect, type RedirectDecision } from "../balancer/redirect.js";
import { setBounded } from "../bounded-map.js";
import type { ClusterConfig } from "../config.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { oncePerInterval } from "../transport/once-per-interval.js";
import {
  type AuthFailureReason,
  RouterPeers,
  RouterServer,
  type RouterTls,
} from "../transport/router.js";
import { ClusterDirectory } from "./cluster-directory.js";
import { ClusterRoute, handleRouterRequest, memberRestarted } from "./cluster-route.js";
import { Coordinator } from "./coordinator.js";
import { EtcdRegistry } from "./etcd-registry.js";
import { HolderCache } from "./holder-cache.js";
import { type Member, ROUTER_PROTOCOL } from "./members.js";
import { RegionState } from "./region-state.js";
import type { LocalDelivery } from "./route.js";
import type { PresenceReply, RouterRequest } from "./router-messages.js";

/** Bound of the remembered member incarnations (ids of nodes that left included). */
const MAX_INCARNATIONS = 10_000;
/** At most one `cluster_error` log line per op per this long; the counter counts them all. */
const ERROR_LOG_INTERVAL_MS = 1_000;

export interface ClusterDeps {
  readonly config: ClusterConfig;
  readonly region: string;
  readonly host: string;
  readonly capacity: number;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Whether the store is too slow to accept more PUTs (shed before storing). */
  readonly storeOverloaded?: () => boolean;
  /** TLS for the router, both directions (config `routerTls`, files read at start-up). */
  readonly routerTls?: RouterTls | undefined;
}

export class ClusterRouting {
  readonly directory: ClusterDirectory;
  private route: ClusterRoute | undefined;
  private local: LocalDelivery | undefined;
  private readonly cache: HolderCache;
  private readonly peers: RouterPeers;
  private readonly server: RouterServer;
  private registry: EtcdRegistry | undefined;
  private coordinator: Coordinator | undefined;
  private timers: NodeJS.Timeout[] = [];
  private draining = false;
  private readonly regionState: RegionState;
  /** Per op (a fixed set in code): when its last error was logged, and how many since. */
  private readonly errorLog = new Map<string, { at: number; suppressed: number }>();

  constructor(private readonly d: ClusterDeps) {
    const { config, metrics } = d;
    // Counted every time, logged once per peer address per minute; the secret is never logged.
    const shouldLog = oncePerInterval(60_000);
    const onAuthFailure = (reason: AuthFailureReason, remote: string) => {
      metrics.routerAuthFailures.labels(reason).inc();
      if (shouldLog(remote)) {
        d.log.warn({ event: "router_auth_failed", reason, remote }, "router handshake failed");
      }
    };
    this.peers = new RouterPeers(config.clusterSecret, undefined, onAuthFailure, d.routerTls);
    this.directory = new ClusterDirectory({
      self: config.nodeId,
      slots: config.slots,
      slotKey: config.clusterSecret,
      request: (node, req) => this.request(node, req),
      onError: (op, err) => this.error(op, err),
      peers: () => this.registry?.members.keys() ?? [],
    });
    this.cache = new HolderCache(config.holderCacheSize);
    this.server = new RouterServer(
      config.clusterSecret,
      (req) => handleRouterRequest(this.directory, this.route, req),
      (err) => this.error("router_handle", err),
      onAuthFailure,
      undefined,
      d.routerTls,
    );
    metrics.coordinator.set(0);
    this.regionState = new RegionState(config.regionStateDir, d.region);
  }

  /**
   * Gives the cluster this node's sockets; returns the route PUTs take. It sheds (503) while
   * the deepest router queue to a peer holds `shedRouterDepth` requests, or the store says
   * it is overloaded.
   */
  attach(local: LocalDelivery): ClusterRoute {
    const { config } = this.d;
    const storeOverloaded = this.d.storeOverloaded ?? (() => false);
    this.local = local;
    this.route = new ClusterRoute({
      self: config.nodeId,
      directory: this.directory,
      local,
      request: (node, req) => this.request(node, req),
      overloaded: () => this.peers.depth() >= config.shedRouterDepth || storeOverloaded(),
      cache: this.cache,
    });
    return this.route;
  }

  private connections(): number {
    return this.local?.size ?? 0;
  }

  private async request(node: string, req: RouterRequest): Promise<PresenceReply> {
    const m = this.registry?.members.get(node);
    if (m === undefined) throw new Error(`unknown node ${node}`);
    const end = this.d.metrics.hop.labels(req.op).startTimer();
    try {
      // A member that does not advertise the binary router predates it (rolling upgrade).
      const protocol = (m.router ?? 1) >= ROUTER_PROTOCOL ? "binary" : "json";
      // A node on the JSON lines would refuse an op it does not know; it never reclaims.
      if (protocol === "json" && req.op === "reclaim") return {};
      return await this.peers.request(m.routerUrl, req, protocol);
    } catch (err) {
      // Unreachable, overloaded (queue full) or timed out: the caller stores instead.
      this.d.metrics.hopErrors.labels(req.op).inc();
      throw err;
    } finally {
      end();
    }
  }

  /**
   * Counted always; logged at most once a second per op, with how many were not logged
   * (a peer that cannot be reached fails every retried request to it, up to thousands).
   */
  private error(op: string, err: unknown): void {
    this.d.metrics.clusterErrors.labels(op).inc();
    const now = Date.now();
    const last = this.errorLog.get(op);
    if (last !== undefined && now - last.at < ERROR_LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    this.errorLog.set(op, { at: now, suppressed: 0 });
    this.d.log.warn(
      { event: "cluster_error", op, err: String(err), suppressed: last?.suppressed ?? 0 },
      "cluster error",
    );
  }

  /** Starts the router listener and joins the region; `wsUrl` is this node's public address. */
  async start(wsUrl: string): Promise<{ routerPort: number }> {
    const { config, metrics, log } = this.d;
    const routerPort = await this.server.listen(this.d.host, config.routerPort);
    const host = this.d.host === "0.0.0.0" ? "127.0.0.1" : this.d.host;
    const self: Member = {
      nodeId: config.nodeId,
      wsUrl: config.advertiseWsUrl ?? wsUrl,
      routerUrl: config.routerUrl ?? `${host}:${routerPort}`,
      capacity: this.d.capacity,
      connections: 0,
      draining: false,
      updatedAt: Date.now(),
      startedAt: Date.now(),
      router: ROUTER_PROTOCOL,
    };
    // Incarnation (startedAt) last seen per member id, kept after a member leaves: when the
    // same id comes back with another one, it lost the presence it owned.
    const incarnations = new Map<string, number>();
    let applied: readonly string[] = [];
    const registry = new EtcdRegistry(
      {
        endpoints: config.etcdEndpoints,
        prefix: config.etcdPrefix,
        region: this.d.region,
        slots: config.slots,
        leaseTtlSeconds: config.leaseTtlSeconds,
        refreshMs: config.memberRefreshMs,
        resyncMs: 2_000,
      },
      self,
      {
        members: (members) => {
          metrics.members.set(members.size);
          for (const m of members.values()) {
            const seen = incarnations.get(m.nodeId);
            if (seen === m.startedAt) continue;
            setBounded(incarnations, m.nodeId, m.startedAt, MAX_INCARNATIONS);
            if (seen !== undefined) {
              log.info({ event: "member_restarted", node: m.nodeId }, "member restarted");
              memberRestarted(this.directory, this.route, m.nodeId);
            }
          }
          this.peers.retain(new Set([...members.values()].map((m) => m.routerUrl)));
          this.coordinator?.schedule();
        },
        owners: (owners) => {
          // Not `registry.currentOwners`: the registry has already stored `owners` there.
          const prev = applied;
          applied = owners;
          let movedSlots = 0;
          let mine = 0;
          for (let i = 0; i < owners.length; i++) {
            if (owners[i] !== prev[i]) movedSlots++;
            if (owners[i] === config.nodeId) mine++;
          }
          metrics.slotMoves.inc(movedSlots);
          metrics.slotsOwned.set(mine);
          metrics.slotTableSize.set(owners.length);
          this.directory.setOwners(owners);
          log.info({ event: "slot_table", moved: movedSlots, owned: mine }, "slot table applied");
          this.coordinator?.schedule();
        },
        error: (op, err) => {
          if (op === "lease_lost") {
            this.coordinator?.demote();
            metrics.coordinator.set(0);
            metrics.etcdLease.set(0);
          }
          this.error(op, err);
        },
        regionState: (text) => this.regionState.setFromEtcd(text),
        lease: (lease) => {
          metrics.etcdLease.set(1);
          void this.coordinator?.campaign(lease);
        },
      },
    );
    this.registry = registry;
    this.coordinator = new Coordinator({
      client: registry.client,
      keys: registry.keys,
      self: config.nodeId,
      slots: config.slots,
      members: () => registry.members,
      onElected: () => {
        metrics.coordinator.set(1);
        log.info({ event: "coordinator_elected", region: this.d.region }, "elected coordinator");
      },
      onTableWritten: (n) =>
        log.info({ event: "slot_table_written", moved: n }, "slot table written"),
      onError: (op, err) => this.error(op, err),
    });
    // The registry's `lease` event starts the campaign once the lease is granted.
    await registry.start();
    this.regionState.watchFile(10_000);

    this.timers.push(
      setInterval(() => {
        registry.update({ connections: this.connections() });
        metrics.presenceEntries.set(this.directory.ownedSize);
      }, config.memberRefreshMs),
      setInterval(() => this.directory.retry(), 1_000),
    );
    for (const t of this.timers) t.unref();
    return { routerPort };
  }

  /** Member of the slot table and not draining. */
  ready(): boolean {
    return !this.draining && (this.registry?.currentOwners.includes(this.d.config.nodeId) ?? false);
  }

  /** Where a first hello should go. */
  redirect(): RedirectDecision {
    // A failed-over region takes no new clients: they back off and land in a survivor.
    if (this.regionState.phase === "failed") return { kind: "full" };
    return chooseRedirect(
      {
        nodeId: this.d.config.nodeId,
        connections: this.connections(),
        capacity: this.d.capacity,
      },
      this.registry?.members.values() ?? [],
      this.d.config.redirectThresholdPercent,
      Math.random,
    );
  }

  /** Marks this node draining: the coordinator moves its slots away. */
  drain(): void {
    this.draining = true;
    this.registry?.update({ draining: true });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.regionState.close();
    this.coordinator?.close();
    this.d.metrics.coordinator.set(0);
    this.d.metrics.etcdLease.set(0);
    await this.registry?.close();
    this.server.close();
    this.peers.close();
  }
}
