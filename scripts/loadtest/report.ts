/**
 * The run's report: per suite, a table of criteria (target, measured, pass/fail) and the
 * figures reached; written as report.md (people) and report.json (machines).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Figure } from "./figures.js";
import type { Params, Suite } from "./suites.js";
import type { Criterion } from "./summary.js";

export interface SuiteReport {
  readonly suite: Suite;
  readonly params: Params;
  readonly processes: number;
  /** k6 exit codes (99: thresholds failed), null for a killed process. */
  readonly exitCodes: readonly (number | null)[];
  readonly seconds: number;
  readonly criteria: readonly Criterion[];
  readonly figures: readonly Figure[];
  /** Why the suite failed besides its criteria (k6 error, timeout, missing summary). */
  readonly problems: readonly string[];
  readonly passed: boolean;
}

export interface RunReport {
  readonly startedAt: string;
  readonly profile: string;
  readonly target: string;
  readonly k6: string;
  readonly brokenConfiguration: string | undefined;
  readonly suites: readonly SuiteReport[];
  readonly passed: boolean;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string) => s.replaceAll("|", "\\|");
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`),
  ].join("\n");
}

export function suiteMarkdown(s: SuiteReport): string {
  const lines = [
    `## ${s.suite} — ${s.passed ? "PASS" : "FAIL"}`,
    "",
    `${s.processes} k6 process(es), exit ${s.exitCodes.join(", ")}, ${s.seconds.toFixed(0)} s; ` +
      `clients ${s.params.clients}`,
    "",
    table(
      ["criterion", "target", "measured", "result"],
      s.criteria.map((c) => [c.metric, c.target, c.measured, c.verdict]),
    ),
  ];
  if (s.problems.length > 0) lines.push("", ...s.problems.map((p) => `- problem: ${p}`));
  if (s.figures.length > 0) {
    lines.push(
      "",
      table(
        ["figure", "value"],
        s.figures.map(([k, v]) => [k, v]),
      ),
    );
  }
  return lines.join("\n");
}

export function runMarkdown(r: RunReport): string {
  const head = [
    `# Load test report — ${r.passed ? "PASS" : "FAIL"}`,
    "",
    `- started: ${r.startedAt}`,
    `- profile: ${r.profile}`,
    `- target: ${r.target}`,
    `- k6: ${r.k6}`,
  ];
  if (r.brokenConfiguration) head.push(`- BROKEN CONFIGURATION: ${r.brokenConfiguration}`);
  return `${head.join("\n")}\n\n${r.suites.map(suiteMarkdown).join("\n\n")}\n`;
}

export function writeReport(dir: string, r: RunReport): { markdown: string; json: string } {
  const markdown = join(dir, "report.md");
  const json = join(dir, "report.json");
  writeFileSync(markdown, runMarkdown(r));
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`);
  return { markdown, json };
}
