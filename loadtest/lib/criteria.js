// The success criteria, written once: each suite's k6 thresholds. A failed threshold makes
// k6 exit non-zero, which fails the run. README.md ("Criteria") says what each one
// protects and why that number. Limits are the same in every profile: the smoke profile
// checks the same promises at a small scale.

/** Latency limits (ms). */
export const LIMITS = Object.freeze({
  /** hello → reply; clients wait on it at every (re)connect. */
  helloP99: 250,
  /** Upgrade request → open; includes TCP connect. */
  handshakeP99: 500,
  registerP99: 250,
  /** PUT sent → notification read by the client. */
  putToClientP99: 250,
  /** ack → reply of the ping sent right behind it. */
  ackRttP99: 250,
  /** hello sent → flush notification read: a reconnecting client has its updates this fast. */
  flushP99: 250,
  /** Hello latency while a storm is on: degraded, but bounded. */
  stormHelloP99: 2000,
  /** Every client knocked off by a storm is back within this. */
  stormRecoveryMax: 30000,
});

const noUnexpectedCloses = { unexpected_closes: ["count==0"] };
const exactDelivery = {
  delivered: ["rate==1"],
  acked_redelivered: ["count==0"],
  duplicates: ["count==0"],
  unexpected_updates: ["count==0"],
};

export function connectHold(processClients) {
  return {
    connect_ok: ["rate>=0.999"],
    clients_held: [`count>=${processClients}`],
    held_alive: ["rate==1"],
    handshake_ms: [`p(99)<${LIMITS.handshakeP99}`],
    hello_ms: [`p(99)<${LIMITS.helloP99}`],
    register_ms: [`p(99)<${LIMITS.registerP99}`],
    ...noUnexpectedCloses,
  };
}

export function notify() {
  return {
    connect_ok: ["rate>=0.999"],
    put_accepted: ["rate>=0.999"],
    put_to_client_ms: [`p(99)<${LIMITS.putToClientP99}`],
    ack_rtt_ms: [`p(99)<${LIMITS.ackRttP99}`],
    ...exactDelivery,
    ...noUnexpectedCloses,
  };
}

export function offlineFlush() {
  return {
    connect_ok: ["rate>=0.999"],
    put_accepted: ["rate>=0.999"],
    flush_complete: ["rate==1"],
    flush_data_leak: ["count==0"],
    flush_ms: [`p(99)<${LIMITS.flushP99}`],
    uaid_kept: ["rate==1"],
    hello_ms: [`p(99)<${LIMITS.helloP99}`],
    ...exactDelivery,
    ...noUnexpectedCloses,
  };
}

/**
 * @param nodeKilled the node-kill variant: closes at the kill are expected, and an ack the
 *        dead node never processed may bring its update back (a duplicate, not a loss)
 * @param killer whether this process is the one that asks for the kill
 */
export function storm(nodeKilled, killer) {
  const t = {
    clients_recovered: ["rate==1"],
    storm_recovery_ms: [`max<${LIMITS.stormRecoveryMax}`],
    hello_ms: [`p(99)<${LIMITS.stormHelloP99}`],
    uaid_kept: ["rate==1"],
    delivered: ["rate==1"],
    unexpected_updates: ["count==0"],
    // Closes at the kill are expected (not counted); any before or after it are not.
    ...noUnexpectedCloses,
  };
  if (!nodeKilled) return { ...t, ...exactDelivery };
  if (killer) t.storm_node_killed = ["count==1"];
  return t;
}

export function soak() {
  return {
    connect_ok: ["rate>=0.999"],
    put_accepted: ["rate>=0.999"],
    put_to_client_ms: [`p(99)<${LIMITS.putToClientP99}`],
    hello_ms: [`p(99)<${LIMITS.helloP99}`],
    flush_complete: ["rate==1"],
    uaid_kept: ["rate==1"],
    ...exactDelivery,
    ...noUnexpectedCloses,
  };
}
