/**
 * A tiny L4 load balancer on loopback for the local cluster target: one address in front
 * of the nodes, round-robin per TCP connection, skipping a node that refuses (as a real
 * balancer's health check would). Clients and app servers both use it (a node serves
 * WebSockets and the endpoint on one port), so endpoints minted by a node that dies stay
 * reachable. Holds two sockets per connection: keep it to a few thousand clients.
 */

import type { AddressInfo } from "node:net";
import { connect, createServer, type Socket } from "node:net";

export interface TcpBalancer {
  readonly port: number;
  /** Replaces the backend ports (e.g. without a node that was killed). */
  setBackends(ports: readonly number[]): void;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: readonly number[]): Promise<TcpBalancer> {
  let ports = [...backends];
  let next = 0;
  const open = new Set<Socket>();

  const server = createServer({ pauseOnConnect: true }, (client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    client.on("error", () => client.destroy());
    const tryBackend = (attempt: number) => {
      if (attempt >= ports.length || client.destroyed) {
        client.destroy();
        return;
      }
      const port = ports[next++ % ports.length]!;
      const upstream = connect({ host: "127.0.0.1", port });
      let connected = false;
      upstream.once("connect", () => {
        connected = true;
        open.add(upstream);
        upstream.once("close", () => open.delete(upstream));
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      upstream.on("error", () => {
        if (connected) client.destroy();
        else tryBackend(attempt + 1);
      });
    };
    tryBackend(0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    setBackends(p) {
      ports = [...p];
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
