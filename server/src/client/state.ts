/**
 * The client's state file (`--state FILE`): its UAID and channels, so that updates PUT while
 * it was away are flushed when it comes back. Checked before connecting: a file that cannot
 * be read back or written is a usage error, not something found out after registering.
 */
import { accessSync, constants, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "./usage-error.js";

export interface ClientState {
  uaid: string;
  /** channelID → endpoint URL */
  channels: Record<string, string>;
}

export const EMPTY_STATE: ClientState = { uaid: "", channels: {} };

/** Reads FILE (absent: a fresh state) and checks that it can be written. */
export function openState(path: string): ClientState {
  const full = resolve(path);
  if (!existsSync(full)) {
    try {
      accessSync(dirname(full), constants.W_OK);
      if (!statSync(dirname(full)).isDirectory()) throw new Error("not a directory");
    } catch {
      throw new UsageError(
        `--state ${path}: cannot create it (${dirname(full)} is not a writable directory)`,
      );
    }
    return { uaid: "", channels: {} };
  }
  if (statSync(full).isDirectory())
    throw new UsageError(`--state ${path}: is a directory, not a file`);
  try {
    accessSync(full, constants.R_OK | constants.W_OK);
  } catch {
    throw new UsageError(`--state ${path}: not readable and writable`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(full, "utf8"));
  } catch {
    throw new UsageError(`--state ${path}: not a state file written by this client (not JSON)`);
  }
  const s = parsed as Partial<ClientState>;
  if (
    typeof s !== "object" ||
    s === null ||
    typeof s.uaid !== "string" ||
    typeof s.channels !== "object" ||
    s.channels === null
  )
    throw new UsageError(`--state ${path}: not a state file written by this client`);
  return { uaid: s.uaid, channels: { ...s.channels } };
}

export function saveState(path: string | undefined, state: ClientState): void {
  if (path !== undefined) writeFileSync(path, `${JSON.stringify(state, null, 2)}\n`);
}
