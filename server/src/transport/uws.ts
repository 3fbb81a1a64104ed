/**
 * The one place uWebSockets.js is loaded. The npm build we use silently falls back to a
 * slow `ws`-based implementation when its native binary does not load; only the native
 * module exports `getParts`, so we check for it and refuse to start otherwise.
 */

import uWS from "uWebSockets.js";
import { createServer } from "node:net";
import { SUPPORTED_NODE } from "../node-version.js";

export function assertNativeUws(): void {
  if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== "function") {
    throw new Error(
      "uWebSockets.js native binary did not load (the fallback implementation is too slow to serve); " +
        `this platform (${process.platform}-${process.arch}, Node ${process.versions.node}, ABI ${process.versions.modules}) has none; ` +
        `the push node needs ${SUPPORTED_NODE} on Linux x64/arm64, macOS or Windows (docs/node-versions.md)`,
    );
  }
}

export type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
  WebSocket,
} from "uWebSockets.js";
export { uWS };

/**
 * Rejects when something already listens on host:port. uWS binds with SO_REUSEPORT, so a
 * second node on a taken port would start and split the traffic with the first; a plain
 * listener (no SO_REUSEPORT) fails with EADDRINUSE against any holder, uWS or not.
 */
export function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === "EADDRINUSE"
            ? `port ${port} on ${host} is already in use (another node or process listens there)`
            : `cannot listen on ${host}:${port}: ${err.message}`,
        ),
      ),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Listens on host:port (0 = any free port); resolves with the listen socket and bound port.
 * A fixed port already in use is an error, never shared.
 */
export async function listen(
  app: uWS.TemplatedApp,
  host: string,
  port: number,
): Promise<{ socket: uWS.us_listen_socket; port: number }> {
  if (port !== 0) await assertPortFree(host, port);
  return new Promise((resolve, reject) => {
    app.listen(host, port, (s) => {
      if (s === false) reject(new Error(`cannot listen on ${host}:${port}`));
      else resolve({ socket: s, port: uWS.us_socket_local_port(s) });
    });
  });
}

export function closeListener(s: uWS.us_listen_socket): void {
  uWS.us_listen_socket_close(s);
}
