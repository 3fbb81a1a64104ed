/**
 * The storm suite's line to the runner: `POST /kill` kills one node of the local target at
 * the moment the suite chose (once per run). Loopback only, ephemeral port.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface Control {
  readonly url: string;
  /** When the kill happened (epoch ms), if it did. */
  killedAt(): number | undefined;
  close(): Promise<void>;
}

export async function startControl(kill: () => Promise<void>): Promise<Control> {
  let killedAt: number | undefined;
  let killing = false;
  const server = createServer((req, res) => {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    if (req.method !== "POST" || req.url !== "/kill") return reply(404, { error: "POST /kill" });
    if (killing) return reply(409, { error: "a node was already killed in this run" });
    killing = true;
    kill().then(
      () => {
        killedAt = Date.now();
        reply(200, { killedAt });
      },
      (err: unknown) => reply(500, { error: String(err) }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    killedAt: () => killedAt,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
