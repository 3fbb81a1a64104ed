/**
 * JSON-lines logger for the shell (the protocol core never logs). Stable keys: `msg`,
 * `event`, and the fields of each event. Never a token, a payload or a UAID in full.
 */
import { pino } from "pino";

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "edition" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** The first 8 hex digits of a UAID: enough to correlate lines, not to address anyone. */
export function shortId(uaid: string): string {
  return `${uaid.slice(0, 8)}…`;
}
