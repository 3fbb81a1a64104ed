/**
 * `npm run loadtest -- <suite…|all|smoke> [options]`: runs the k6 suites of loadtest/
 * against a URL (EDITION_LOADTEST_URL or --url) or a local target it starts and stops, and
 * writes a report of every criterion to .results/loadtest/. Exits non-zero when any
 * criterion fails. `npm run loadtest -- smoke` is what .ci/run runs. See loadtest/README.md.
 */
import { fileURLToPath } from "node:url";
import { parseCommandLine, USAGE, UsageError } from "./loadtest/args.js";
import { runLoadtest } from "./loadtest/run.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const args = parseCommandLine(argv, process.env);
    return (await runLoadtest(ROOT, args)) ? 0 : 1;
  } catch (err) {
    if (
      err instanceof UsageError ||
      (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(
      `loadtest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 1;
  }
}

process.exitCode = await main();
