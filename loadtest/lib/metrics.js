// Every custom metric the suites record, declared once. Names are what the thresholds in
// criteria.js and the runner's report refer to. Times are milliseconds.
import { Counter, Rate, Trend } from "k6/metrics";

export const m = {
  // Connections.
  /** Upgrade request → socket open (the WebSocket handshake, TCP connect included). */
  handshakeMs: new Trend("handshake_ms", true),
  /** hello sent → hello reply. */
  helloMs: new Trend("hello_ms", true),
  /** register sent → register reply. */
  registerMs: new Trend("register_ms", true),
  /** One per client connection attempt: open + hello (+ register for new clients) succeeded. */
  connectOk: new Rate("connect_ok"),
  /** Successful WebSocket handshakes (upgrades). */
  handshakes: new Counter("handshakes"),
  /** Clients that reached the hold phase connected and registered. */
  clientsHeld: new Counter("clients_held"),
  /** One per held client at the end of the hold: it still answered a ping. */
  heldAlive: new Rate("held_alive"),
  /** Per VU, seconds from the scenario start until its ramp ended (all its clients tried). */
  rampDoneS: new Trend("ramp_done_s"),
  /** Server-initiated closes (or drops) the suite did not provoke. */
  unexpectedCloses: new Counter("unexpected_closes"),
  /** hello of a known UAID answered with that same UAID (the server kept the client). */
  uaidKept: new Rate("uaid_kept"),

  // App-server PUTs.
  /** One per PUT: answered 2xx. */
  putAccepted: new Rate("put_accepted"),
  put200: new Counter("put_200"),
  put202: new Counter("put_202"),
  put4xx: new Counter("put_4xx"),
  put5xx: new Counter("put_5xx"),
  /** PUTs that got no HTTP answer (timeout, connection error). */
  putError: new Counter("put_error"),
  /** PUTs sent a second time after their connection failed at once (keep-alive race). */
  putRetried: new Counter("put_retried"),
  /** PUTs the generator skipped because too many were in flight (it fell behind the target rate). */
  putSkipped: new Counter("put_skipped"),

  // Delivery.
  /** PUT sent → notification read by the client (direct delivery only); see README "Latency". */
  putToClientMs: new Trend("put_to_client_ms", true),
  /** One per 2xx-accepted update: it reached its client (directly, or flushed at a hello). */
  delivered: new Rate("delivered"),
  /** Notifications received (direct and flushed updates). */
  deliveries: new Counter("deliveries"),
  /** The same direct update received twice on one socket. */
  duplicates: new Counter("duplicates"),
  /** An update flushed again at hello although the client had acked it (or a newer one). */
  ackedRedelivered: new Counter("acked_redelivered"),
  /** Updates with a version this VU never PUT on that channel (corrupted or foreign versions). */
  unexpectedUpdates: new Counter("unexpected_updates"),
  /** ack sent → reply to the ping sent right behind it (the server has read the ack). */
  ackRttMs: new Trend("ack_rtt_ms", true),
  /** hello sent → the flush notification with the pending updates read. */
  flushMs: new Trend("flush_ms", true),
  /** One per channel with stored updates: the flush at hello carried exactly the last accepted version. */
  flushComplete: new Rate("flush_complete"),
  /** A flushed update that carried `data` (data must never be stored). */
  flushDataLeak: new Counter("flush_data_leak"),

  // Storm.
  /** A client's own close (or the kill) → hello answered again, per client. */
  stormRecoveryMs: new Trend("storm_recovery_ms", true),
  /** One per client knocked off by the storm: it was back (hello 200) before the deadline. */
  clientsRecovered: new Rate("clients_recovered"),
  /** Connection attempts after the first that a reconnecting client needed. */
  reconnectRetries: new Counter("reconnect_retries"),
  /** 1 when this run's storm killed a node, 0 when it was the mass-reconnect variant. */
  stormNodeKilled: new Counter("storm_node_killed"),
};

const COUNTERS = [
  m.handshakes,
  m.clientsHeld,
  m.unexpectedCloses,
  m.put200,
  m.put202,
  m.put4xx,
  m.put5xx,
  m.putError,
  m.putSkipped,
  m.putRetried,
  m.deliveries,
  m.duplicates,
  m.ackedRedelivered,
  m.unexpectedUpdates,
  m.flushDataLeak,
  m.reconnectRetries,
  m.stormNodeKilled,
];

/**
 * Adds 0 to every counter so that each appears in the summary (and its threshold is
 * evaluated against a real 0) even when nothing happened. (k6's metric objects do not
 * support instanceof, hence the list.)
 */
export function touchCounters() {
  for (const c of COUNTERS) c.add(0);
}
