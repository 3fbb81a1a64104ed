/**
 * The raw uWebSockets.js baseline: accepts WebSocket upgrades and holds the sockets in a
 * Map (open → set, close → delete), nothing else. Listens on BASELINE_HOST (default
 * 127.0.0.1) on a free port and prints `{"event":"listening","port":N}` on stdout.
 * Uses the same socket options as the push node where they apply (no compression, same
 * idle timeout, automatic pings) so the only difference is the push protocol.
 */

import type { WebSocket } from "uWebSockets.js";
import uWS from "uWebSockets.js";

interface Tag {
  readonly id: number;
}

if (typeof (uWS as unknown as { getParts?: unknown }).getParts !== "function") {
  process.stderr.write("baseline: uWebSockets.js native binary did not load\n");
  process.exit(1);
}

const host = process.env.BASELINE_HOST ?? "127.0.0.1";
const sockets = new Map<number, WebSocket<Tag>>();
let nextId = 0;

const app = uWS.App().ws<Tag>("/*", {
  compression: uWS.DISABLED,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  upgrade(res, req, context) {
    res.upgrade(
      { id: nextId++ },
      req.getHeader("sec-websocket-key"),
      req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"),
      context,
    );
  },
  open(ws) {
    sockets.set(ws.getUserData().id, ws);
  },
  close(ws) {
    sockets.delete(ws.getUserData().id);
  },
});

app.listen(host, 0, (listenSocket) => {
  if (listenSocket === false) {
    process.stderr.write(`baseline: cannot listen on ${host}\n`);
    process.exit(1);
  }
  const port = uWS.us_socket_local_port(listenSocket);
  process.stdout.write(`${JSON.stringify({ event: "listening", port })}\n`);
  process.on("SIGTERM", () => {
    uWS.us_listen_socket_close(listenSocket);
    process.exit(0);
  });
});
