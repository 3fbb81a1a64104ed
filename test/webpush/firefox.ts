/**
 * A real Firefox ESR (Debian's `firefox-esr`), headless, on a fresh profile whose push
 * service points at an Edition node (`dom.push.serverURL`), with the test CA trusted in the
 * profile's certificate database (`certutil`, Debian `libnss3-tools`). Every process is
 * killed when the test ends; waits are bounded by deadlines.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface FirefoxProfile {
  readonly dir: string;
}

/** Prefs: push to `serverUrl`, no network chatter, never "offline", push debug logging. */
function prefs(serverUrl: string): string {
  const p: Record<string, string | number | boolean> = {
    "dom.push.serverURL": serverUrl,
    "dom.push.enabled": true,
    "dom.push.connection.enabled": true,
    "dom.push.testing.allowInsecureServerURL": true,
    "dom.push.loglevel": "debug",
    // Reconnect fast after the node or the network went away.
    "dom.push.retryBaseInterval": 500,
    "dom.serviceWorkers.enabled": true,
    "dom.serviceWorkers.testing.enabled": true,
    "permissions.default.desktop-notification": 1,
    // Quiet pushes (no notification shown) are counted against a quota; tests push few.
    "dom.push.maxQuotaPerSubscription": 1000,
    "network.manage-offline-status": false,
    "network.captive-portal-service.enabled": false,
    "network.connectivity-service.enabled": false,
    "browser.shell.checkDefaultBrowser": false,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": false,
    "datareporting.policy.dataSubmissionEnabled": false,
    "datareporting.healthreport.uploadEnabled": false,
    "toolkit.telemetry.reportingpolicy.firstRun": false,
    "app.update.disabledForTesting": true,
    "browser.safebrowsing.malware.enabled": false,
    "browser.safebrowsing.phishing.enabled": false,
    "browser.safebrowsing.downloads.enabled": false,
    "extensions.update.enabled": false,
    "browser.sessionstore.resume_from_crash": false,
    "devtools.console.stdout.chrome": true,
    "browser.dom.window.dump.enabled": true,
  };
  return Object.entries(p)
    .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`)
    .join("\n");
}

export function makeProfile(dir: string, serverUrl: string, caFile: string): FirefoxProfile {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "user.js"), `${prefs(serverUrl)}\n`);
  const db = `sql:${dir}`;
  execFileSync("certutil", ["-N", "-d", db, "--empty-password"], {
    stdio: "pipe",
    timeout: 30_000,
  });
  execFileSync("certutil", ["-A", "-n", "edition-test-ca", "-t", "C,,", "-i", caFile, "-d", db], {
    stdio: "pipe",
    timeout: 30_000,
  });
  return { dir };
}

export interface RunningFirefox {
  readonly output: string[];
  /** Asks Firefox to quit (SIGTERM: a clean shutdown) and waits; SIGKILL past the deadline. */
  quit(timeoutMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

export function launch(
  profile: FirefoxProfile,
  url: string,
  t: { after(fn: () => unknown): void },
): RunningFirefox {
  const child = spawn("firefox-esr", ["-headless", "-no-remote", "-profile", profile.dir, url], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, MOZ_LOG: "", MOZ_CRASHREPORTER_DISABLE: "1", MOZ_HEADLESS: "1" },
  });
  running.add(child);
  const output: string[] = [];
  for (const s of [child.stdout!, child.stderr!]) {
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      if (output.length < 5000) output.push(d);
    });
  }
  const exited = new Promise<void>((r) =>
    child.once("close", () => {
      running.delete(child);
      r();
    }),
  );
  t.after(() => child.kill("SIGKILL"));
  return {
    output,
    async quit(timeoutMs = 30_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((r) => {
        timer = setTimeout(() => r("late"), timeoutMs);
      });
      const r = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (r === "late") {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}
