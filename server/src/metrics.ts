/**
 * Every metric the push node exports, declared once against an injected registry. Names
 * follow Prometheus conventions (`_total`, `_seconds`); no UAID, channel or token is ever
 * a label. Hot paths use pre-bound label children so an increment is a field update.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from "prom-client";
import {
  CloseCodes,
  type ErrorEntry,
  Errors,
  REFUSALS,
  SIMPLEPUSH_PUT_STATUSES,
} from "./errors/catalogue.js";

/** Latency buckets with an edge exactly at each SLO threshold (1 ms, 5 ms, 10 ms, 100 ms). */
const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Label children created once per value: hot paths look them up per event. */
function memo<C>(make: (value: string) => C): (value: string) => C {
  const children = new Map<string, C>();
  return (value) => {
    let c = children.get(value);
    if (c === undefined) {
      c = make(value);
      children.set(value, c);
    }
    return c;
  };
}

export function createMetrics(registry: Registry, prefix = "edition_") {
  collectDefaultMetrics({ register: registry });
  const connections = new Gauge({
    name: `${prefix}connections`,
    help: "WebSocket connections currently open on this node.",
    registers: [registry],
  });
  const opened = new Counter({
    name: `${prefix}connections_opened_total`,
    help: "WebSocket connections opened.",
    registers: [registry],
  });
  const closed = new Counter({
    name: `${prefix}connections_closed_total`,
    help: "WebSocket connections closed, by reason.",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const handshakes = new Counter({
    name: `${prefix}handshakes_total`,
    help: "WebSocket upgrade requests, by outcome (accepted, refused_capacity, refused_draining).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const hellos = new Counter({
    name: `${prefix}hellos_total`,
    help: "First hellos, by outcome (kept, minted, store_error); redirects are counted in edition_redirects_total.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const registrations = new Counter({
    name: `${prefix}registrations_total`,
    help: "register/unregister commands, by command and outcome.",
    labelNames: ["command", "outcome"] as const,
    registers: [registry],
  });
  const notifications = new Counter({
    name: `${prefix}notifications_total`,
    help: "Updates by outcome: delivered (direct), stored (no live socket), flushed (at hello), acked, dropped (slow consumer).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const puts = new Counter({
    name: `${prefix}endpoint_requests_total`,
    help: "App-server endpoint requests, by HTTP status.",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  const refusals = new Counter({
    name: `${prefix}endpoint_refusals_total`,
    help: "App-server endpoint requests refused, by error code (docs/errors.md).",
    labelNames: ["code"] as const,
    registers: [registry],
  });
  const putToSocket = new Histogram({
    name: `${prefix}put_to_socket_seconds`,
    help: "From the start of a PUT to its notification frame handed to the client socket.",
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const backpressure = new Counter({
    name: `${prefix}backpressure_events_total`,
    help: "Sends that hit the per-socket backpressure limit (the socket is closed with 1013; the update stays stored).",
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: `${prefix}store_errors_total`,
    help: "Store operations that failed, by operation.",
    labelNames: ["operation"] as const,
    registers: [registry],
  });
  const draining = new Gauge({
    name: `${prefix}draining`,
    help: "1 while this node drains (closing its sockets before exit).",
    registers: [registry],
  });
  const errors = new Counter({
    name: `${prefix}protocol_errors_total`,
    help: "Sockets closed for a protocol violation, by kind (garbage, invalid_command, ping_flood, binary).",
    labelNames: ["kind"] as const,
    registers: [registry],
  });

  const redirects = new Counter({
    name: `${prefix}redirects_total`,
    help: "First hellos answered with a redirect (307) or region full (429), by outcome.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const slotMoves = new Counter({
    name: `${prefix}slot_moves_total`,
    help: "Slots whose owner changed in slot tables this node applied.",
    registers: [registry],
  });
  const slotsOwned = new Gauge({
    name: `${prefix}slots_owned`,
    help: "Slots of the region's table owned by this node.",
    registers: [registry],
  });
  const slotTableSize = new Gauge({
    name: `${prefix}slot_table_size`,
    help: "Slots in the region's table as this node last applied it (0 before the first table).",
    registers: [registry],
  });
  const members = new Gauge({
    name: `${prefix}members`,
    help: "Members of the region this node currently sees in etcd.",
    registers: [registry],
  });
  const presenceEntries = new Gauge({
    name: `${prefix}presence_entries`,
    help: "UAID presence entries this node keeps as slot owner.",
    registers: [registry],
  });
  const coordinator = new Gauge({
    name: `${prefix}coordinator`,
    help: "1 while this node is its region's coordinator.",
    registers: [registry],
  });
  const clusterErrors = new Counter({
    name: `${prefix}cluster_errors_total`,
    help: "Errors talking to etcd or other nodes, by operation.",
    labelNames: ["op"] as const,
    registers: [registry],
  });
  const hop = new Histogram({
    name: `${prefix}internal_hop_seconds`,
    help: "Duration of internal router requests to other nodes, by operation.",
    labelNames: ["op"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });

  const hopErrors = new Counter({
    name: `${prefix}internal_hop_errors_total`,
    help: "Internal router requests to other nodes that failed (unreachable, queue full, timeout), by operation.",
    labelNames: ["op"] as const,
    registers: [registry],
  });
  const routerAuthFailures = new Counter({
    name: `${prefix}router_auth_failures_total`,
    help: "Internal router handshakes that failed, by reason (bad_proof, bad_server_proof, malformed, preauth_bytes, deadline, too_many_unauthenticated, tls).",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const info = new Gauge({
    name: `${prefix}node_info`,
    help: "Always 1; labels say which region, node id and role (node, balancer) this process is.",
    labelNames: ["region", "node_id", "role"] as const,
    registers: [registry],
  });
  const maxConnections = new Gauge({
    name: `${prefix}max_connections`,
    help: "Connections this node accepts at most (EDITION_MAX_CONNECTIONS); upgrades past it are refused.",
    registers: [registry],
  });
  const storeSeconds = new Histogram({
    name: `${prefix}store_operation_seconds`,
    help: "Duration of message store operations (failed ones included), by operation.",
    labelNames: ["operation"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const storeBatchOperations = new Histogram({
    name: `${prefix}store_batch_operations`,
    help: "Saves and acks sent to Redis per batch script call (group commit; standalone and Sentinel Redis).",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  });
  const storeUp = new Gauge({
    name: `${prefix}store_up`,
    help: "1 when the message store (Redis) answered its last health check, else 0.",
    registers: [registry],
  });
  const storeRecords = new Gauge({
    name: `${prefix}store_records`,
    help: "UAID records held by the in-memory store (0 with Redis, whose keys expire by themselves).",
    registers: [registry],
  });
  const etcdLease = new Gauge({
    name: `${prefix}etcd_lease_held`,
    help: "1 while this node holds its etcd member lease (0 before the first grant and after a loss until re-granted).",
    registers: [registry],
  });

  // Known label values start at 0, so rates and ratios exist before the first event
  // (an absent series reads as "no data", not as "none happened").
  const { CONNECTIONS_FULL, DRAINING, REGION_FULL, STORE_UNAVAILABLE } = Errors;
  for (const o of ["accepted", CONNECTIONS_FULL.label, DRAINING.label]) handshakes.labels(o).inc(0);
  for (const o of ["kept", "minted", STORE_UNAVAILABLE.label]) hellos.labels(o).inc(0);
  for (const o of ["redirect", REGION_FULL.label]) redirects.labels(o).inc(0);
  for (const s of ["200", "202", ...SIMPLEPUSH_PUT_STATUSES]) puts.labels(s).inc(0);
  for (const e of Object.values(Errors) as ErrorEntry[])
    if (e.counters.includes(REFUSALS)) refusals.labels(e.label).inc(0);
  for (const op of ["hello", "pending", "ack", "register", "unregister", "save_pending"])
    storeErrors.labels(op).inc(0);
  for (const c of ["register", "unregister"])
    for (const o of ["ok", STORE_UNAVAILABLE.label]) registrations.labels(c, o).inc(0);
  for (const c of [CloseCodes.normal, CloseCodes.goingAway, CloseCodes.abnormal])
    closed.labels(c.label).inc(0);
  for (const c of [CloseCodes.restart, CloseCodes.tryAgainLater, CloseCodes.replaced])
    closed.labels(c.label).inc(0);
  clusterErrors.labels("lease_lost").inc(0);
  for (const op of ["announce", "withdraw", "evict", "route", "deliver"])
    hopErrors.labels(op).inc(0);
  for (const o of ["delivered", "stored", "flushed", "acked", "dropped"])
    notifications.labels(o).inc(0);
  for (const e of [
    Errors.MALFORMED_FRAME,
    Errors.INVALID_COMMAND,
    Errors.PING_FLOOD,
    Errors.BINARY_FRAME,
  ])
    errors.labels(e.label).inc(0);

  return {
    hopErrors,
    routerAuthFailures,
    info,
    maxConnections,
    storeSeconds,
    storeBatchOperations,
    storeUp,
    storeRecords,
    etcdLease,
    redirects,
    slotMoves,
    slotsOwned,
    slotTableSize,
    members,
    presenceEntries,
    coordinator,
    clusterErrors,
    hop,
    connections,
    opened,
    closed,
    handshakes,
    hellos,
    registrations,
    notifications: {
      delivered: notifications.labels("delivered"),
      stored: notifications.labels("stored"),
      flushed: notifications.labels("flushed"),
      acked: notifications.labels("acked"),
      dropped: notifications.labels("dropped"),
    },
    puts,
    refusals,
    putToSocket,
    backpressure,
    storeErrors,
    draining,
    errors,
    /** Pre-bound children for the per-event paths. */
    bound: {
      put: memo((status) => puts.labels(status)),
      refusal: memo((label) => refusals.labels(label)),
      handshake: memo((outcome) => handshakes.labels(outcome)),
      hello: memo((outcome) => hellos.labels(outcome)),
      registration: memo((commandOutcome) => {
        const [command, outcome] = commandOutcome.split(":") as [string, string];
        return registrations.labels(command, outcome);
      }),
      closed: memo((reason) => closed.labels(reason)),
      storeSeconds: memo((operation) => storeSeconds.labels(operation)),
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
