/**
 * Members of a region: each node's record, kept in etcd under its own lease so it vanishes
 * when the node dies.
 */

export interface Member {
  readonly nodeId: string;
  /** Where clients reach this node (redirect target), e.g. ws://10.0.0.7:8080. */
  readonly wsUrl: string;
  /** Internal router address, host:port. */
  readonly routerUrl: string;
  /** Connections this node is configured to hold. */
  readonly capacity: number;
  /** Connections it holds now (refreshed at a bounded rate). */
  readonly connections: number;
  readonly draining: boolean;
  /** Role: only `node` members own slots; balancers never register. */
  readonly updatedAt: number;
  /**
   * When this incarnation of the node started (ms): a node restarted under the same id has
   * a new value, so peers know its in-memory presence is empty (0 from older nodes).
   */
  readonly startedAt: number;
  /**
   * The router wire the node speaks: 2 = binary frames (router-codec.ts); 1 = JSON lines,
   * what a record without the field means (nodes before it; router-legacy.ts).
   */
  readonly router?: number;
}

/** The router wire this build speaks, advertised in its member record. */
export const ROUTER_PROTOCOL = 2;

/** Parses a member record; `undefined` when malformed (a record we cannot read is ignored). */
export function parseMember(text: string): Member | undefined {
  try {
    const m = JSON.parse(text) as Partial<Member>;
    if (
      typeof m.nodeId !== "string" ||
      typeof m.wsUrl !== "string" ||
      typeof m.routerUrl !== "string" ||
      typeof m.capacity !== "number" ||
      typeof m.connections !== "number"
    ) {
      return undefined;
    }
    return {
      nodeId: m.nodeId,
      wsUrl: m.wsUrl,
      routerUrl: m.routerUrl,
      capacity: m.capacity,
      connections: m.connections,
      draining: m.draining === true,
      updatedAt: typeof m.updatedAt === "number" ? m.updatedAt : 0,
      startedAt: typeof m.startedAt === "number" ? m.startedAt : 0,
      router: typeof m.router === "number" ? m.router : 1,
    };
  } catch {
    return undefined;
  }
}

/** etcd key layout of one region. */
export function regionKeys(prefix: string, region: string) {
  const root = prefix.replace(/\/+$/, "");
  const base = `${root}/${region}`;
  return {
    /** Written by the operator: `{"state":"active"|"failed"|"recovering",…}`. */
    regionState: `${root}/regions/${region}`,
    members: `${base}/members/`,
    member: (nodeId: string) => `${base}/members/${nodeId}`,
    slots: `${base}/slots`,
    coordinator: `${base}/coordinator`,
  };
}
