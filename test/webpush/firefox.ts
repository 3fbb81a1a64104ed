/**
 * A real Firefox ESR (Debian's `firefox-esr`), headless, on a fresh profile whose push
 * service points at an Edition node (`dom.push.serverURL`), with the test CA trusted in the
 * profile's certificate database (`certutil`, Debian `libnss3-tools`). Every process is
 * killed when the test ends; waits are bounded by deadlines.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
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
  /**
   * Asks Firefox to quit (SIGTERM: a clean shutdown) and waits until no process of this
   * profile is left; SIGKILL past the deadline.
   */
  quit(timeoutMs?: number): Promise<void>;
}

/**
 * The processes of a profile, found by its (unique, temporary) path in their command line,
 * plus their helpers (content processes name `-parentPid <pid>`, the crash helper its pid).
 * Firefox may restart itself (a new process with the same arguments, the one we spawned
 * exiting), so the spawned pid alone does not find them all.
 */
function profileProcesses(dir: string): { mains: number[]; all: number[] } {
  const cmdlines = new Map<number, string[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (argv.length > 1) cmdlines.set(Number(name), argv);
    } catch {
      // exited meanwhile
    }
  }
  const mains = [...cmdlines].filter(([, a]) => a.includes(dir)).map(([pid]) => pid);
  const helpers = [...cmdlines]
    .filter(([, a]) => {
      const parent = a.indexOf("-parentPid");
      const named = parent >= 0 ? a[parent + 1] : a[0]?.endsWith("crashhelper") ? a[1] : undefined;
      return named !== undefined && mains.includes(Number(named));
    })
    .map(([pid]) => pid);
  return { mains, all: [...mains, ...helpers] };
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

const profiles = new Set<string>();
process.on("exit", () => {
  for (const dir of profiles) signal(profileProcesses(dir).all, "SIGKILL");
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
  profiles.add(profile.dir);
  const output: string[] = [];
  for (const s of [child.stdout!, child.stderr!]) {
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      if (output.length < 5000) output.push(d);
    });
  }
  t.after(() => signal(profileProcesses(profile.dir).all, "SIGKILL"));
  return {
    output,
    async quit(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      // The browser processes shut down cleanly on SIGTERM, their helpers follow them.
      signal(profileProcesses(profile.dir).mains, "SIGTERM");
      // Poll (bounded) until every process of the profile is gone; then force what is left.
      const gone = async (until: number) => {
        while (profileProcesses(profile.dir).all.length > 0) {
          if (Date.now() > until) return false;
          await new Promise((r) => setTimeout(r, 100));
        }
        return true;
      };
      if (await gone(deadline)) return;
      signal(profileProcesses(profile.dir).all, "SIGKILL");
      if (!(await gone(Date.now() + 10_000)))
        throw new Error(`Firefox processes of ${profile.dir} survived SIGKILL`);
    },
  };
}
