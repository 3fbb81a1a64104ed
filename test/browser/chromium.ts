/**
 * Debian's Chromium, headless, driven by playwright-core (no browser download): a fresh
 * profile per launch, nothing that phones home. Installed by scripts/install-system-deps.sh.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A headless Chromium with a throw-away profile, closed (and the profile removed) when `t` ends. */
export async function launchChromium(t: {
  after(fn: () => unknown): void;
}): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), "edition-chromium-"));
  // playwright-core takes the profile as an argument of its own (it refuses --user-data-dir in args).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    timeout: 60_000,
  });
  t.after(async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}
