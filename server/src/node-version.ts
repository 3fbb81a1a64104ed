/**
 * The Node.js versions the push node runs on, checked before anything loads
 * uWebSockets.js (main.ts imports this module first, for its side effect).
 *
 * Why only Node 20: the uWebSockets.js build we can get from the npm registry
 * (`@trufflesuite/uws-js-unofficial`) ships native binaries for Node 16, 18 and 20 only; on
 * any other Node it silently falls back to a slow `ws`-based implementation. The builds for
 * Node 22/24 on npm need glibc 2.38. docs/node-versions.md has the details and the plan.
 */

/** Human-readable, for messages; keep in step with `engines` in package.json. */
export const SUPPORTED_NODE = "Node.js 20 (20.10 or later)";

/** Whether `version` (`process.versions.node`, e.g. "20.20.2") is one the node runs on. */
export function nodeSupported(version: string): boolean {
  const [major, minor] = version.split(".").map(Number);
  return major === 20 && (minor ?? 0) >= 10;
}

export function unsupportedNodeMessage(version: string): string {
  return (
    `edition: this is Node.js ${version}; the push node needs ${SUPPORTED_NODE}. ` +
    "The only uWebSockets.js build on npm that loads on common Linux systems (glibc < 2.38) " +
    "has native binaries for Node 20 and older (see docs/node-versions.md). " +
    "Install Node 20 (e.g. `nvm install 20`) and run it again.\n"
  );
}

if (!nodeSupported(process.versions.node)) {
  process.stderr.write(unsupportedNodeMessage(process.versions.node));
  process.exit(1);
}
