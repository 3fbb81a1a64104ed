#!/usr/bin/env node
/**
 * `npm run client -- [options]`: a SimplePush client for people (see `--help`). Usage
 * mistakes (unknown flag, URL without scheme, unusable --state file) are one line on stderr
 * and exit code 2; connection and server failures exit 1; Ctrl-C exits 0.
 *
 * Options live in one table (args.ts); a mode adds its rows there and a branch below.
 */
import { parseClientArgs, usage } from "./args.js";
import { DEFAULT_BACKOFF } from "./backoff.js";
import { ClientSession } from "./session.js";
import { EMPTY_STATE, openState } from "./state.js";
import { UsageError } from "./usage-error.js";
import { runIfWebPush } from "./webpush.js";

// `--webpush`: the Web Push mode (webpush.ts) takes over the process; it never returns.
await runIfWebPush(process.argv.slice(2));

function main(argv: readonly string[]): void {
  const args = parseClientArgs(argv);
  if (args.help) {
    process.stdout.write(usage());
    process.exit(0);
  }
  const state = args.state === undefined ? { ...EMPTY_STATE, channels: {} } : openState(args.state);
  const session = new ClientSession({
    url: args.url,
    channels: args.channels,
    statePath: args.state,
    state,
    reconnect: args.reconnect,
    backoff: { ...DEFAULT_BACKOFF, maxAttempts: args.maxAttempts },
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    done: (code) => process.exit(code),
  });
  process.on("SIGINT", () => session.stop());
  process.on("SIGTERM", () => session.stop());
  session.start();
}

try {
  main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`edition-client: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
