/**
 * The state of this node's region as the operator decides it (operator/README.md "Region
 * state"): `active`, `failed` (failed over: send no new clients here) or `recovering`.
 * Read from etcd at `<prefix>/regions/<region>`, with a file fallback (the operator's
 * ConfigMap mounted at `<dir>/<region>`) for when the operator cannot write this region's
 * etcd. etcd wins when it has a value.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";

export type RegionPhase = "active" | "failed" | "recovering";

/** Parses `{"state":…}`; `undefined` when absent or malformed (treated as active). */
export function parseRegionState(text: string | null | undefined): RegionPhase | undefined {
  if (!text) return undefined;
  try {
    const s = (JSON.parse(text) as { state?: unknown }).state;
    return s === "active" || s === "failed" || s === "recovering" ? s : undefined;
  } catch {
    return undefined;
  }
}

export class RegionState {
  private fromEtcd: RegionPhase | undefined;
  private fromFile: RegionPhase | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    private readonly region: string,
  ) {}

  get phase(): RegionPhase {
    return this.fromEtcd ?? this.fromFile ?? "active";
  }

  /** New value of the etcd key (null when deleted). */
  setFromEtcd(text: string | null): void {
    this.fromEtcd = parseRegionState(text);
  }

  /** Polls the mounted file (the kubelet refreshes it within about a minute). */
  watchFile(intervalMs: number): void {
    const read = () =>
      readFile(join(this.dir, this.region), "utf8").then(
        (t) => {
          this.fromFile = parseRegionState(t);
        },
        () => {
          this.fromFile = undefined;
        },
      );
    void read();
    this.timer = setInterval(read, intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
