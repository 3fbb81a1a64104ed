/**
 * The body and query of `PUT /update/<token>` (docs/protocol.md "App-server endpoint"), parsed
 * without any transport: the HTTP shell hands over the copied bytes.
 */
import { parseVersion } from "../protocol/version.js";

export const MAX_DATA_BYTES = 4096;

export type UpdateRequest =
  | { readonly ok: true; readonly version: bigint; readonly data: string | undefined }
  | {
      readonly ok: false;
      /** Its status and errno: `errors/catalogue.ts`. */
      readonly code: "BAD_VERSION" | "PAYLOAD_TOO_LARGE";
      readonly reason: string;
    };

/**
 * - the body is a form when `Content-Type` is absent or x-www-form-urlencoded (parameters
 *   after `;` allowed); any other type: the body is ignored;
 * - `version` from the body, else from the query; missing, empty or `0` → `nowSeconds`;
 *   not an unsigned integer, or past 2^64−1 → 400;
 * - `data` longer than 4096 bytes (UTF-8, after decoding) → 413.
 */
export function parseUpdateRequest(
  contentType: string,
  body: string,
  query: string,
  nowSeconds: () => bigint,
): UpdateRequest {
  const isForm =
    contentType === "" ||
    contentType.split(";", 1)[0]!.trim().toLowerCase() === "application/x-www-form-urlencoded";
  const form = isForm && body.length > 0 ? new URLSearchParams(body) : undefined;
  const q = query.length > 0 ? new URLSearchParams(query) : undefined;
  const rawVersion = form?.get("version") ?? q?.get("version") ?? null;
  let version: bigint;
  if (rawVersion === null || rawVersion === "" || rawVersion === "0") version = nowSeconds();
  else {
    const v = parseVersion(rawVersion);
    if (v === undefined)
      return {
        ok: false,
        code: "BAD_VERSION",
        reason: "version is not an unsigned 64-bit integer",
      };
    version = v === 0n ? nowSeconds() : v;
  }
  const data = form?.get("data") ?? undefined;
  if (data !== undefined && Buffer.byteLength(data, "utf8") > MAX_DATA_BYTES) {
    return {
      ok: false,
      code: "PAYLOAD_TOO_LARGE",
      reason: `data is longer than ${MAX_DATA_BYTES} bytes`,
    };
  }
  return { ok: true, version, data };
}
