/**
 * A client worker process (forked by the bench parent): holds WebSocket clients and drives
 * PUT load at its own endpoints. Configured by `BENCH_WORKER` (JSON `WorkerConfig`); takes
 * one `Command` at a time over IPC and answers each with one `Report`.
 */
import { ClientSockets } from "./client-sockets.js";
import { PutLoad } from "./put-load.js";
import type { Command, Report, WorkerConfig } from "./worker-protocol.js";

function send(r: Report): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) throw new Error("client-worker must be forked with IPC");
    process.send(r, undefined, {}, () => resolve());
  });
}

async function handle(cmd: Command, clients: ClientSockets, load: PutLoad): Promise<Report> {
  switch (cmd.cmd) {
    case "connect":
      return clients.connect(cmd.total, cmd.concurrency, cmd.timeoutMs);
    case "closed-loop":
      return load.closedLoop(cmd.concurrency, cmd.durationMs);
    case "open-loop":
      return load.openLoop(cmd.ratePerSecond, cmd.durationMs);
    case "stop":
      load.close();
      clients.closeAll();
      return { kind: "stopped" };
  }
}

function main(): void {
  const raw = process.env.BENCH_WORKER;
  if (raw === undefined) throw new Error("BENCH_WORKER is not set");
  const cfg = JSON.parse(raw) as WorkerConfig;
  const clients = new ClientSockets(cfg);
  const load = new PutLoad(cfg, clients);
  process.on("message", (m: unknown) => {
    const cmd = m as Command;
    handle(cmd, clients, load).then(
      async (r) => {
        await send(r);
        if (cmd.cmd === "stop") process.exit(0);
      },
      (err: unknown) => send({ kind: "failed", message: String(err) }),
    );
  });
  // The parent going away must not leave sockets behind.
  process.on("disconnect", () => process.exit(0));
  void send({ kind: "ready" });
}

main();
