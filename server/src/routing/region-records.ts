/**
 * The region records the operator publishes into every region's etcd
 * (`<prefix>/regions/<region>`), read in full for multi-region replication
 * (docs/multi-region.md). `region-state.ts` reads only the `state` of this node's own region.
 */
import type { RegionPhase } from "./region-state.js";

export interface RegionRecord {
  readonly state: RegionPhase;
  /** The region that serves this region's UAIDs now (only while failed and adopted). */
  readonly adoptedBy?: string;
  /**
   * `redis://host:port` of this region's replica (which lives in another region): readable
   * everywhere, to recognise this region's UAIDs; the store itself once promoted (adopted).
   */
  readonly replicaUrl?: string;
  /** The region's public base URL (`https://push.eu.example`): PUTs for it are forwarded there. */
  readonly endpoint?: string;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** Parses one record; `undefined` when absent or malformed (never trusted blindly). */
export function parseRegionRecord(text: string | null | undefined): RegionRecord | undefined {
  if (!text) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null) return undefined;
  const state = o.state;
  if (state !== "active" && state !== "failed" && state !== "recovering") return undefined;
  const replicaUrl = str(o.replicaUrl);
  const endpoint = str(o.endpoint);
  const adoptedBy = str(o.adoptedBy);
  return {
    state,
    ...(adoptedBy !== undefined && state === "failed" ? { adoptedBy } : {}),
    ...(replicaUrl !== undefined && /^rediss?:\/\//.test(replicaUrl) ? { replicaUrl } : {}),
    ...(endpoint !== undefined && /^https?:\/\//.test(endpoint)
      ? { endpoint: endpoint.replace(/\/+$/, "") }
      : {}),
  };
}
