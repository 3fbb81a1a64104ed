/**
 * Runs the real command-line client (`server/src/client/cli.ts`, what `npm run client`
 * runs) as a child process and reads its output line by line. Killed when the test ends.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = fileURLToPath(new URL("../../server/src/client/cli.ts", import.meta.url));

export interface ClientRun {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  /** The first stdout line (printed or to come) at or after `from` matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<{ line: string; index: number }>;
}

export function runClient(
  args: readonly string[],
  t?: { after(fn: () => unknown): void },
): ClientRun {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  let outDone!: () => void;
  const outClosed = new Promise<void>((r) => (outDone = r));
  createInterface({ input: child.stdout! })
    .on("line", (l) => {
      stdout.push(l);
      wake();
    })
    .on("close", () => outDone());
  createInterface({ input: child.stderr! }).on("line", (l) => stderr.push(l));
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => void outClosed.then(() => resolve(code))),
  );
  void exited.then(wake);
  t?.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return {
    child,
    stdout,
    stderr,
    exited,
    waitFor(re, timeoutMs = 20_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < stdout.length; i++) {
            if (re.test(stdout[i]!)) {
              done();
              resolve({ line: stdout[i]!, index: i });
              return;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(
              new Error(
                `client exited (${child.exitCode}) before printing ${re}:\n${stdout.join("\n")}\n${stderr.join("\n")}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `no line matching ${re} within ${timeoutMs} ms:\n${stdout.join("\n")}\n${stderr.join("\n")}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}
