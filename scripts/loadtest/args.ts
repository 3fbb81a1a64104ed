/**
 * The command line of `npm run loadtest -- …`, parsed into one typed object; every problem
 * is reported at once.
 */
import { parseArgs } from "node:util";
import { DEFAULT_KIND, type LocalKind } from "./local-target.js";
import {
  isProfile,
  isSuite,
  type Overrides,
  PROFILES,
  type Profile,
  SUITES,
  type Suite,
} from "./suites.js";

export const USAGE = `usage: npm run loadtest -- <suite…|all|smoke> [options]

suites: ${SUITES.join(", ")}; "all" = every suite; "smoke" = every suite, smoke profile

target (default: a local target started for the run and stopped after it):
  --url <ws(s)://…>      a running cluster (or set EDITION_LOADTEST_URL)
  --local                the local target even when EDITION_LOADTEST_URL is set
  --local-cluster        the local target is a cluster (etcd, Redis, 3 nodes, L4 balancer)
                         instead of one node; storm then kills a node
  --allow-remote         needed for a URL outside 127.0.0.0/8 (or EDITION_LOADTEST_ALLOW_REMOTE=1)

options:
  --profile smoke|full   sizes from loadtest/profiles.json (default: full; smoke for "smoke")
  --clients <n>          override the clients of every suite
  --duration <s>         override the main phase of notify and soak
  --rate <n>             override the PUTs per second
  --set <key>=<n>        override any profile parameter (repeatable), e.g. --set rampS=40
  --break drop-acks      run through a proxy that drops every client ack (a broken cluster:
                         the criteria must fail)
  --results <dir>        where reports go (default .results/loadtest)
`;

export type Target =
  | { readonly kind: "local"; readonly local: LocalKind }
  | { readonly kind: "url"; readonly url: string };

export interface Args {
  readonly suites: readonly Suite[];
  readonly profile: Profile;
  readonly target: Target;
  readonly allowRemote: boolean;
  readonly overrides: Overrides;
  readonly breakAcks: boolean;
  readonly resultsDir: string;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

type Env = Readonly<Record<string, string | undefined>>;

export function parseCommandLine(argv: readonly string[], env: Env): Args {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      url: { type: "string" },
      local: { type: "boolean", default: false },
      "local-cluster": { type: "boolean", default: false },
      "allow-remote": { type: "boolean", default: false },
      profile: { type: "string" },
      clients: { type: "string" },
      duration: { type: "string" },
      rate: { type: "string" },
      set: { type: "string", multiple: true },
      break: { type: "string" },
      results: { type: "string", default: ".results/loadtest" },
    },
  });
  const problems: string[] = [];
  const num = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      problems.push(`--${name} must be an integer ≥ ${min}, got "${v}"`);
      return undefined;
    }
    return n;
  };

  let suites: Suite[] = [];
  let smoke = false;
  for (const p of positionals) {
    if (p === "smoke") {
      smoke = true;
      suites.push(...SUITES);
    } else if (p === "all") suites.push(...SUITES);
    else if (isSuite(p)) suites.push(p);
    else problems.push(`unknown suite "${p}" (one of: ${SUITES.join(", ")}, all, smoke)`);
  }
  if (positionals.length === 0) problems.push("name at least one suite, or all, or smoke");
  // Keep the canonical order (storm last) and run each suite once.
  suites = SUITES.filter((s) => suites.includes(s));

  const profileArg = values.profile ?? (smoke ? "smoke" : "full");
  if (!isProfile(profileArg)) problems.push(`--profile must be one of ${PROFILES.join(", ")}`);

  const url = values.url ?? env.EDITION_LOADTEST_URL;
  let target: Target = {
    kind: "local",
    local: values["local-cluster"] ? "cluster" : DEFAULT_KIND,
  };
  if (!values.local && !values["local-cluster"] && url) {
    const ws = url.replace(/^http(s?):\/\//, "ws$1://");
    if (!/^wss?:\/\/[^/]+/.test(ws)) problems.push(`--url must be a ws(s):// or http(s):// URL`);
    target = { kind: "url", url: ws.endsWith("/") ? ws : `${ws}/` };
  }
  if (values.break !== undefined && values.break !== "drop-acks") {
    problems.push(`--break: the only broken configuration is "drop-acks"`);
  }

  const set: Record<string, number> = {};
  for (const kv of values.set ?? []) {
    const m = /^([A-Za-z]+)=([0-9]+(?:\.[0-9]+)?)$/.exec(kv);
    if (m) set[m[1]!] = Number(m[2]);
    else problems.push(`--set must be <parameter>=<number>, got "${kv}"`);
  }
  const overrides: Overrides = {
    clients: num("clients", values.clients, 1),
    durationS: num("duration", values.duration, 1),
    putRate: num("rate", values.rate, 1),
    set,
  };
  if (problems.length > 0) throw new UsageError(problems.join("\n"));
  return {
    suites,
    profile: profileArg as Profile,
    target,
    allowRemote: values["allow-remote"] || env.EDITION_LOADTEST_ALLOW_REMOTE === "1",
    overrides,
    breakAcks: values.break === "drop-acks",
    resultsDir: values.results,
  };
}

/** Whether a ws(s) URL's host is on loopback (127.0.0.0/8, localhost, ::1). */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "localhost" || host === "[::1]";
}
