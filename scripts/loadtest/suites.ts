/**
 * The suites, their profiles (loadtest/profiles.json, shared with the k6 scripts) and how
 * a run of one suite is laid out over k6 processes.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** In run order: storm last, since its node-kill variant takes a node away. */
export const SUITES = ["connect-hold", "notify", "offline-flush", "soak", "storm"] as const;
export type Suite = (typeof SUITES)[number];
export const PROFILES = ["smoke", "full"] as const;
export type Profile = (typeof PROFILES)[number];

export type Params = Readonly<Record<string, number>>;
type ProfileFile = Readonly<Record<Suite, Readonly<Record<Profile, Params>>>>;

/** Fields every suite profile must have (lib/env.js relies on them). */
const REQUIRED = ["clients", "perVu", "budgetS", "maxInFlight", "timeoutMs"] as const;

/**
 * One k6 process keeps at most this many sockets (WebSockets plus in-flight PUT connections):
 * the machine allows 20,000 open files per process, and k6 needs some for itself.
 */
export const SOCKETS_PER_PROCESS = 18_000;

export function isSuite(s: string): s is Suite {
  return (SUITES as readonly string[]).includes(s);
}

export function isProfile(s: string): s is Profile {
  return (PROFILES as readonly string[]).includes(s);
}

export function loadProfiles(root: string): ProfileFile {
  const raw: unknown = JSON.parse(readFileSync(join(root, "loadtest/profiles.json"), "utf8"));
  if (typeof raw !== "object" || raw === null) throw new Error("profiles.json: not an object");
  const file = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const suite of SUITES) {
    for (const profile of PROFILES) {
      const p = (file[suite] as Record<string, unknown> | undefined)?.[profile];
      if (typeof p !== "object" || p === null) {
        problems.push(`${suite}.${profile} is missing`);
        continue;
      }
      for (const [k, v] of Object.entries(p)) {
        if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
          problems.push(`${suite}.${profile}.${k} is not a non-negative number`);
        }
      }
      for (const k of REQUIRED) {
        if (!(k in p)) problems.push(`${suite}.${profile}.${k} is missing`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`profiles.json:\n  ${problems.join("\n  ")}`);
  return file as unknown as ProfileFile;
}

export interface Overrides {
  readonly clients?: number;
  /** Seconds of the main phase (suites with `durationS`); the budget grows with it. */
  readonly durationS?: number;
  readonly putRate?: number;
  /** Any parameter, applied last (only to suites whose profile has it). */
  readonly set?: Readonly<Record<string, number>>;
}

/** The profile's parameters with the command line's overrides applied. */
export function paramsFor(
  profiles: ProfileFile,
  suite: Suite,
  profile: Profile,
  o: Overrides,
): Params {
  const p: Record<string, number> = { ...profiles[suite][profile] };
  if (o.clients !== undefined) p.clients = o.clients;
  if (o.durationS !== undefined && p.durationS !== undefined) {
    p.budgetS = (p.budgetS ?? 0) + o.durationS - p.durationS;
    p.durationS = o.durationS;
  }
  if (o.putRate !== undefined && p.putRate !== undefined) p.putRate = o.putRate;
  for (const [k, v] of Object.entries(o.set ?? {})) if (k in p) p[k] = v;
  return Object.freeze(p);
}

/** How many k6 processes a suite needs so that none passes SOCKETS_PER_PROCESS. */
export function processCount(p: Params): number {
  const clients = p.clients ?? 0;
  const vus = Math.ceil(clients / (p.perVu ?? 1));
  const sockets = clients + vus * (p.maxInFlight ?? 0);
  return Math.max(1, Math.ceil(sockets / SOCKETS_PER_PROCESS));
}
