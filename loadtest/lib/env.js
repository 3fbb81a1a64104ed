// What a suite run is told by its environment, and how its work is split.
//
//   TARGET_WS     ws:// or wss:// URL of the cluster (required)
//   PROFILE       smoke | full (default smoke): which entry of profiles.json (fields: see
//                 its "_doc"; every suite has clients, perVu, budgetS, timeoutMs)
//   PARAMS        JSON object replacing the profile's parameters (the runner passes the
//                 profile with its overrides applied, so both read the same numbers)
//   SHARD/SHARDS  this k6 process's index and the number of processes running the suite
//   ALLOW_REMOTE  "1" to allow a target (or push endpoints) outside 127.0.0.0/8
//   CONTROL_URL   storm only: the runner's control endpoint (POST /kill)
//
// Work is split twice: the suite's `clients` over the processes (SHARD of SHARDS), then the
// process's share over its VUs, `perVu` clients each at most. Rates split in proportion.
import exec from "k6/execution";

const PROFILES = JSON.parse(open("../profiles.json"));

export function loadParams(suite) {
  if (__ENV.PARAMS) return Object.freeze(JSON.parse(__ENV.PARAMS));
  const profile = __ENV.PROFILE || "smoke";
  const p = PROFILES[suite]?.[profile];
  if (p === undefined) throw new Error(`profiles.json has no "${profile}" profile for ${suite}`);
  return Object.freeze({ ...p });
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/;

/** Load goes to loopback unless ALLOW_REMOTE=1 says a deployed cluster is meant. */
export function assertAllowedHost(url, what) {
  if (__ENV.ALLOW_REMOTE === "1") return;
  const host = url
    .replace(/^[a-z]+:\/\//, "")
    .replace(/[/?#].*$/, "")
    .replace(/:\d+$/, "");
  if (!LOOPBACK.test(host)) {
    throw new Error(
      `${what} ${url} is not on 127.0.0.0/8; set ALLOW_REMOTE=1 to load a remote cluster`,
    );
  }
}

function requireTarget() {
  const url = __ENV.TARGET_WS;
  if (!url) throw new Error("TARGET_WS is not set (ws://host:port of the cluster)");
  if (!/^wss?:\/\//.test(url)) throw new Error(`TARGET_WS must be ws:// or wss://, got ${url}`);
  assertAllowedHost(url, "TARGET_WS");
  return url;
}

export const TARGET_WS = requireTarget();

export const SHARD = Number(__ENV.SHARD || 0);
export const SHARDS = Number(__ENV.SHARDS || 1);

/** The `index`-th of `parts` near-equal integer shares of `total`. */
export function split(total, parts, index) {
  const base = Math.floor(total / parts);
  return base + (index < total % parts ? 1 : 0);
}

/** How this process lays out `params.clients`: its share, its VUs. */
export function layout(params) {
  const processClients = split(params.clients, SHARDS, SHARD);
  const vus = Math.max(1, Math.ceil(processClients / params.perVu));
  return { processClients, vus };
}

/** This VU's clients and its fraction of the suite's total (for splitting rates). */
export function vuShare(params) {
  const { processClients, vus } = layout(params);
  const clients = split(processClients, vus, exec.vu.idInInstance - 1);
  return { clients, fraction: clients / params.clients };
}

/**
 * The one scenario every suite runs: each VU runs its whole timeline once, within the
 * profile's `budgetS` (the runner's watchdog uses the same number).
 */
export function scenarioOptions(suite, params) {
  const { vus } = layout(params);
  return {
    [suite]: {
      executor: "per-vu-iterations",
      vus,
      iterations: 1,
      maxDuration: `${params.budgetS}s`,
      gracefulStop: "10s",
    },
  };
}

/** Options shared by all suites. */
export const COMMON_OPTIONS = {
  summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"],
  // No `url` tag: every push endpoint is a distinct URL, which would be a time series each.
  systemTags: ["status", "method", "name", "scenario", "error_code", "expected_response"],
  discardResponseBodies: true,
};

/** Resolves after `ms` (load shaping inside a VU; never blocks the event loop like sleep()). */
export function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Milliseconds since this process's scenario started. */
export function elapsedMs() {
  return Date.now() - exec.scenario.startTime;
}

/** True for the first VU of the first process (the one that does once-per-run things). */
export function isLeader() {
  return SHARD === 0 && exec.vu.idInInstance === 1;
}
