/**
 * One `npm run loadtest` run: get k6, start (or take) the target, run the chosen suites one
 * after another, write the report, stop what it started. Resolves with whether every
 * criterion of every suite passed.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { startAckDroppingProxy } from "./ack-dropping-proxy.js";
import { type Args, isLoopbackUrl } from "./args.js";
import { type Control, startControl } from "./control.js";
import { type Figure, figures } from "./figures.js";
import { ensureK6, k6Version, runSuite, stopAllK6 } from "./k6.js";
import { type LoadTarget, startLocalTarget } from "./local-target.js";
import { type RunReport, type SuiteReport, suiteMarkdown, writeReport } from "./report.js";
import { loadProfiles, paramsFor, processCount, type Suite } from "./suites.js";
import { criteria, type K6Summary, mergeSummaries, readSummary } from "./summary.js";

interface Stoppable {
  stop(): Promise<void>;
}

export async function runLoadtest(root: string, args: Args): Promise<boolean> {
  const startedAt = new Date();
  const profiles = loadProfiles(root);
  const outDir = resolve(
    root,
    args.resultsDir,
    `${startedAt.toISOString().replace(/[:.]/g, "-")}-${args.profile}${args.breakAcks ? "-drop-acks" : ""}`,
  );
  mkdirSync(outDir, { recursive: true });
  const k6 = ensureK6(root);

  const started: Stoppable[] = [];
  // Ctrl-C: k6 stops (and still writes its summary), no further suite starts, the target
  // is stopped below. A second Ctrl-C ends the runner at once (the nodes follow it).
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    stopAllK6();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    let target: LoadTarget;
    if (args.target.kind === "local") {
      process.stderr.write("loadtest: starting the local target\n");
      target = await startLocalTarget(args.target.local);
      started.push(target);
    } else {
      if (!isLoopbackUrl(args.target.url) && !args.allowRemote) {
        throw new Error(`${args.target.url} is not on loopback: pass --allow-remote to load it`);
      }
      target = { description: args.target.url, wsUrl: args.target.url, stop: async () => {} };
    }
    let wsUrl = target.wsUrl;
    let broken: string | undefined;
    if (args.breakAcks) {
      const proxy = await startAckDroppingProxy(target.wsUrl);
      started.push({ stop: proxy.close });
      wsUrl = proxy.url;
      broken = `clients connect through ${proxy.url}, a proxy that drops every client ack`;
    }
    process.stderr.write(`loadtest: target ${target.description}; results in ${outDir}\n`);

    const reports: SuiteReport[] = [];
    for (const suite of args.suites) {
      if (interrupted) break;
      const report = await runOne(root, k6, suite, args, {
        profiles,
        target,
        wsUrl,
        outDir,
      });
      reports.push(report);
      process.stdout.write(`\n${suiteMarkdown(report)}\n`);
    }
    const run: RunReport = {
      startedAt: startedAt.toISOString(),
      profile: args.profile,
      target: target.description,
      k6: k6Version(k6),
      brokenConfiguration: broken,
      suites: reports,
      passed: !interrupted && reports.every((r) => r.passed),
    };
    const files = writeReport(outDir, run);
    process.stdout.write(
      `\nloadtest: ${run.passed ? "PASS" : "FAIL"} — ${files.markdown} (and report.json, k6 logs, summaries)\n`,
    );
    return run.passed;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    for (const s of started.reverse()) {
      await s
        .stop()
        .catch((err: unknown) => process.stderr.write(`loadtest: stop: ${String(err)}\n`));
    }
  }
}

interface RunContext {
  readonly profiles: ReturnType<typeof loadProfiles>;
  readonly target: LoadTarget;
  readonly wsUrl: string;
  readonly outDir: string;
}

async function runOne(
  root: string,
  k6: string,
  suite: Suite,
  args: Args,
  ctx: RunContext,
): Promise<SuiteReport> {
  const params = paramsFor(ctx.profiles, suite, args.profile, args.overrides);
  const shards = processCount(params);
  const extraFigures: Figure[] = [];
  const env: Record<string, string> = {};
  let control: Control | undefined;
  if (suite === "storm") {
    const kill = ctx.target.kill?.bind(ctx.target);
    if (kill) {
      control = await startControl(kill);
      env.STORM_KILL = "1";
      env.CONTROL_URL = control.url;
      extraFigures.push(["variant", "node-kill (a node of the target was killed mid-run)"]);
    } else {
      extraFigures.push(["variant", "mass-reconnect (the target cannot lose a node)"]);
    }
  }
  process.stderr.write(
    `loadtest: ${suite} (${args.profile}, ${params.clients} clients, ${shards} k6 process(es))\n`,
  );
  const t0 = Date.now();
  let results: Awaited<ReturnType<typeof runSuite>>;
  try {
    results = await runSuite(k6, root, {
      suite,
      params,
      profile: args.profile,
      shards,
      wsUrl: ctx.wsUrl,
      allowRemote: args.allowRemote,
      localIps: isLoopbackUrl(ctx.wsUrl),
      env,
      outDir: ctx.outDir,
    });
  } finally {
    await control?.close();
  }
  const seconds = (Date.now() - t0) / 1000;

  const problems: string[] = [];
  const summaries: K6Summary[] = [];
  for (const r of results) {
    const s = readSummary(r.summaryPath);
    if (s === undefined) problems.push(`process ${r.shard} wrote no summary (see ${r.logPath})`);
    else summaries.push(s);
    if (r.timedOut) problems.push(`process ${r.shard} overran its budget and was stopped`);
    // 0: all thresholds passed; 99: some failed (shown in the table); anything else: k6 or
    // the script broke.
    if (r.exitCode !== 0 && r.exitCode !== 99) {
      problems.push(`process ${r.shard} exited with ${r.exitCode} (see ${r.logPath})`);
    }
  }
  const rows = criteria(summaries);
  if (rows.length === 0) problems.push("no criteria were evaluated");
  return {
    suite,
    params,
    processes: shards,
    exitCodes: results.map((r) => r.exitCode),
    seconds,
    criteria: rows,
    figures: figures(suite, mergeSummaries(summaries), params, extraFigures),
    problems,
    passed:
      problems.length === 0 &&
      results.every((r) => r.exitCode === 0) &&
      rows.every((c) => c.verdict === "pass"),
  };
}
