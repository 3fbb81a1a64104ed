/**
 * The client's command line: one table of options (name, type, help) from which both the
 * parser and `--help` are made. A new mode adds its rows to `OPTIONS` and reads its values
 * from `ParsedArgs.values`; nothing else needs to change here.
 */
import { parseArgs } from "node:util";
import { DEFAULT_BACKOFF } from "./backoff.js";
import { UsageError } from "./usage-error.js";

export interface OptionSpec {
  readonly name: string;
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** Shown in --help as `--name <arg>`. */
  readonly arg?: string;
  readonly default?: string;
  readonly help: string;
}

export const OPTIONS: OptionSpec[] = [
  {
    name: "url",
    type: "string",
    arg: "ws://host:port",
    default: "ws://localhost:8080",
    help: "node or balancer to connect to (ws:// or wss://)",
  },
  {
    name: "channels",
    type: "string",
    arg: "N",
    default: "1",
    help: "channels to have registered, 0 to 1000 (kept ones count)",
  },
  {
    name: "state",
    type: "string",
    arg: "FILE",
    help: "keep the UAID and channels in FILE and reuse them next time",
  },
  {
    name: "reconnect",
    type: "boolean",
    help: "when the connection drops, reconnect to --url with jittered exponential backoff",
  },
  {
    name: "max-attempts",
    type: "string",
    arg: "N",
    default: String(DEFAULT_BACKOFF.maxAttempts),
    help: "with --reconnect: consecutive failed attempts before giving up",
  },
  {
    name: "webpush",
    type: "boolean",
    help: "Web Push mode: own keys, prints a subscription, decrypts payloads (--webpush --help)",
  },
  { name: "help", type: "boolean", short: "h", help: "print this help" },
];

export interface ParsedArgs {
  readonly url: string;
  readonly channels: number;
  readonly state: string | undefined;
  readonly reconnect: boolean;
  readonly maxAttempts: number;
  readonly help: boolean;
  /** Every option by name, for modes that add their own. */
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
}

export function usage(): string {
  const rows = OPTIONS.map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${o.name}${o.arg ? ` <${o.arg}>` : ""}`;
    const def = o.default !== undefined ? ` (default ${o.default})` : "";
    return `  ${flag.padEnd(34)} ${o.help}${def}`;
  });
  return [
    "usage: npm run client -- [options]",
    "",
    "A SimplePush client for people: connects, says hello, registers channels, prints their",
    "endpoints, then prints every notification as it arrives and acks it. Ctrl-C quits.",
    "",
    "options:",
    ...rows,
    "",
    "examples:",
    "  npm run client -- --state me.json                  # keep the UAID across runs",
    "  npm run client -- --url ws://127.0.0.1:8080 --channels 3",
    "  npm run client -- --url ws://<balancer> --reconnect # follow redirects, come back after a node dies",
    "",
    "exit codes: 0 stopped by Ctrl-C, 1 connection or server failure, 2 bad usage",
    "",
  ].join("\n");
}

function integer(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not "${raw}"`);
  return n;
}

/** Checks a WebSocket URL; the mistake people make is leaving out the scheme. */
export function checkUrl(raw: string): string {
  if (!raw.includes("://"))
    throw new UsageError(`--url "${raw}" has no scheme; write it as ws://${raw}`);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--url "${raw}" is not a URL; write it as ws://host:port`);
  }
  if (u.protocol === "http:" || u.protocol === "https:")
    throw new UsageError(
      `--url "${raw}": use ${u.protocol === "https:" ? "wss" : "ws"}://${u.host}${u.pathname === "/" ? "" : u.pathname} (a WebSocket URL)`,
    );
  if ((u.protocol !== "ws:" && u.protocol !== "wss:") || u.host === "")
    throw new UsageError(`--url "${raw}": the scheme must be ws:// or wss://`);
  return u.href;
}

export function parseClientArgs(argv: readonly string[]): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  for (const o of OPTIONS)
    options[o.name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    // node:util's messages name the offending flag; keep its first sentence only.
    const msg = err instanceof Error ? err.message.split("\n")[0]!.split(". ")[0]! : String(err);
    throw new UsageError(`${msg.replace(/\.$/, "")} (see --help)`);
  }
  for (const o of OPTIONS)
    if (values[o.name] === undefined && o.default !== undefined) values[o.name] = o.default;
  const help = values.help === true;
  if (help)
    return {
      url: "",
      channels: 0,
      state: undefined,
      reconnect: false,
      maxAttempts: 0,
      help,
      values,
    };
  return {
    url: checkUrl(String(values.url)),
    channels: integer("channels", String(values.channels), 0, 1000),
    state: values.state as string | undefined,
    reconnect: values.reconnect === true,
    maxAttempts: integer("max-attempts", String(values["max-attempts"]), 1, 1000),
    help,
    values,
  };
}
