/**
 * PUTs for another region's endpoint tokens (docs/multi-region.md): never a 404 for a
 * token that authenticates. If that region is failed and adopted here, the update is
 * stored in its promoted replica and delivered like one of ours; otherwise the request is
 * forwarded as is to that region's public endpoint (from its region record), and its
 * answer is ours. Without a known endpoint: 503 + Retry-After (not "no such endpoint").
 */
import {
  refused,
  type UpdateInput,
  type UpdateResult,
  type UpdateStatus,
} from "../delivery/deliver.js";
import { Errors, RETRY_AFTER_SECONDS, SIMPLEPUSH_PUT_STATUSES } from "../errors/catalogue.js";
import type { MessageStore } from "../storage/store.js";
import type { EndpointTarget } from "./token.js";

export interface ForeignRegions {
  adoptedStore(region: string): MessageStore | undefined;
  adopted(region: string): boolean;
  endpointOf(region: string): string | undefined;
}

export interface ForwardOptions {
  readonly regions: ForeignRegions;
  /** Delivers as this node does for its own region, but into `store` (an adopted region's). */
  readonly deliverInto: (
    store: MessageStore,
    region: string,
    input: UpdateInput,
  ) => Promise<UpdateResult>;
  readonly timeoutMs: number;
  /** `fetch` (injectable for tests). */
  readonly fetch?: typeof fetch;
}

/**
 * Marks a PUT sent on by a node. One hop only: regions whose records disagree for a moment
 * (a watch not yet delivered) must not bounce a PUT between them.
 */
export const FORWARDED_HEADER = "x-edition-forwarded";

/** The statuses a SimplePush endpoint answers (the catalogue's), passed on as they are. */
const PASSED: ReadonlySet<number> = new Set([200, 202, ...SIMPLEPUSH_PUT_STATUSES.map(Number)]);
const UNREACHABLE = refused("REGION_UNREACHABLE", "the token's region is unreachable");
/** A "retry later" of the other region keeps its Retry-After (ours when it sent none). */
const RETRY_STATUS = Errors.REGION_UNREACHABLE.http.status;

export function foreignUpdates(
  o: ForwardOptions,
): (target: EndpointTarget, input: UpdateInput) => Promise<UpdateResult> {
  const doFetch = o.fetch ?? fetch;
  return async (target, input) => {
    if (o.regions.adopted(target.region)) {
      const store = o.regions.adoptedStore(target.region);
      return store === undefined ? UNREACHABLE : o.deliverInto(store, target.region, input);
    }
    const base = o.regions.endpointOf(target.region);
    if (base === undefined) return UNREACHABLE;
    return forwardUpdate(base, input, o.timeoutMs, doFetch);
  };
}

/** The PUT sent on to `base` (another region's public endpoint); its answer is ours. */
export async function forwardUpdate(
  base: string,
  input: UpdateInput,
  timeoutMs: number,
  doFetch: typeof fetch = fetch,
): Promise<UpdateResult> {
  if (base === "" || input.forwarded) return UNREACHABLE;
  const url = `${base}/update/${input.token}${input.query === "" ? "" : `?${input.query}`}`;
  try {
    const r = await doFetch(url, {
      method: "PUT",
      headers: {
        [FORWARDED_HEADER]: "1",
        ...(input.contentType === "" ? {} : { "content-type": input.contentType }),
      },
      body: input.body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    const text = (await r.text()).slice(0, 200);
    if (r.status === 201) return { status: 200 };
    if (!PASSED.has(r.status)) return UNREACHABLE;
    if (r.status < 300) return { status: r.status as UpdateStatus };
    const reason = remoteMessage(text);
    const header = Number(r.headers.get("retry-after") ?? "");
    const retryAfter =
      Number.isInteger(header) && header > 0
        ? header
        : r.status === RETRY_STATUS
          ? RETRY_AFTER_SECONDS
          : undefined;
    return retryAfter === undefined
      ? { status: r.status as UpdateStatus, reason }
      : { status: r.status as UpdateStatus, reason, retryAfter };
  } catch {
    return UNREACHABLE;
  }
}

/**
 * The reason to answer with, from the other region's error body: its `message` when the body
 * is ours (`{"code","error","message"}`), so our answer is not a JSON body nested in a
 * string; else the text itself (trimmed, bounded by the caller); undefined when empty.
 */
function remoteMessage(text: string): string | undefined {
  const t = text.trim();
  if (t === "") return undefined;
  try {
    const body: unknown = JSON.parse(t);
    if (body !== null && typeof body === "object") {
      const m = (body as { message?: unknown }).message;
      if (typeof m === "string" && m !== "") return m;
    }
  } catch {
    // Not JSON (a proxy's page): passed on as it is.
  }
  return t;
}
