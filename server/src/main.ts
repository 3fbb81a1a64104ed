#!/usr/bin/env node
/**
 * Composition root: load config, pick adapters, wire narrow dependencies, start the
 * listeners, own shutdown. The only file that knows every part.
 */
import { randomBytes } from "node:crypto";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { Connections } from "./delivery/connections.js";
import { deliverUpdate } from "./delivery/deliver.js";
import { randomTokenKey, TokenCodec } from "./endpoint/token.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics } from "./metrics.js";
import { Close } from "./protocol/errors.js";
import { mintUaid } from "./protocol/ids.js";
import { MemoryPresence } from "./routing/presence-memory.js";
import { MemoryStore } from "./storage/memory-store.js";
import { attachAdmin } from "./transport/admin-http.js";
import { attachEndpoint } from "./transport/endpoint-http.js";
import {
  assertNativeUws,
  closeListener,
  listen,
  type us_listen_socket,
  uWS,
} from "./transport/uws.js";
import { attachWebSocket, type ClientSocket, uwsSocketOps } from "./transport/websocket.js";

export interface RunningNode {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly publicUrl: string;
  /** Stops accepting, closes sockets at the configured rate with 1012, resolves when empty or at the deadline. */
  drain(): Promise<{ closed: number; leftAtDeadline: number }>;
}

export async function startNode(config: Config, log: Logger): Promise<RunningNode> {
  assertNativeUws();
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const store = new MemoryStore();
  const presence = new MemoryPresence<ClientSocket>();
  const keys = config.tokenKeys.length > 0 ? config.tokenKeys : [randomTokenKey()];
  if (config.tokenKeys.length === 0) {
    log.warn(
      { event: "ephemeral_token_key" },
      "EDITION_TOKEN_KEYS not set: endpoints minted now stop working when this process exits",
    );
  }
  const tokens = new TokenCodec(keys);
  let endpointPrefix = "";
  let draining = false;

  const connections = new Connections<ClientSocket>({
    ops: uwsSocketOps,
    store,
    presence,
    tokens,
    metrics,
    log,
    limits: {
      pingMinIntervalMs: config.pingMinIntervalMs,
      pingBurst: config.pingBurst,
      maxChannels: config.maxChannels,
    },
    region: config.region,
    endpointPrefix: () => endpointPrefix,
    mintUaid: () => mintUaid(randomBytes),
    now: Date.now,
  });
  const app = uWS.App();
  attachWebSocket(app, connections, metrics, {
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    maxBackpressureBytes: config.maxBackpressureBytes,
    admit: () =>
      draining ? "draining" : connections.size >= config.maxConnections ? "capacity" : "ok",
  });
  const deliverDeps = {
    ops: uwsSocketOps,
    store,
    presence,
    tokens,
    metrics,
    log,
    region: config.region,
    pendingTtlSeconds: config.pendingTtlSeconds,
    nowSeconds: () => BigInt(Math.floor(Date.now() / 1000)),
    perfNow: () => performance.now(),
    slowConsumer: (s: ClientSocket) => connections.slowConsumer(s),
  };
  attachEndpoint(app, (input) => deliverUpdate(deliverDeps, input), metrics, {
    corsOrigin: config.corsOrigin,
    retryAfterSeconds: 5,
  });
  const pub = await listen(app, config.host, config.port);
  const publicUrl =
    config.publicUrl ??
    `http://${config.host === "0.0.0.0" ? "localhost" : config.host}:${pub.port}`;
  endpointPrefix = `${publicUrl}/update/`;

  let admin: { socket: us_listen_socket; port: number } | undefined;
  if (config.metricsPort >= 0) {
    const adminApp = uWS.App();
    attachAdmin(adminApp, {
      registry,
      ready: async () => {
        if (draining) return { ready: false, reason: "draining" };
        return (await store.healthy())
          ? { ready: true }
          : { ready: false, reason: "store unreachable" };
      },
    });
    admin = await listen(adminApp, config.host, config.metricsPort);
  }

  const sweep = setInterval(() => store.sweep(10_000), 10_000);
  sweep.unref();

  log.info(
    {
      event: "listening",
      port: pub.port,
      metricsPort: admin?.port,
      publicUrl,
      region: config.region,
    },
    "push node ready",
  );

  return {
    port: pub.port,
    metricsPort: admin?.port,
    publicUrl,
    async drain() {
      draining = true;
      metrics.draining.set(1);
      closeListener(pub.socket);
      const deadline = Date.now() + config.drainDeadlineSeconds * 1000;
      const tickMs = 100;
      const perTick = Math.max(1, Math.ceil((config.drainRate * tickMs) / 1000));
      let closed = 0;
      log.info(
        { event: "drain_started", connections: connections.size, rate: config.drainRate },
        "draining",
      );
      while (connections.size > 0 && Date.now() < deadline) {
        let n = 0;
        for (const s of connections.all()) {
          if (n++ >= perTick) break;
          uwsSocketOps.close(s, Close.restart, "draining");
          closed++;
        }
        if (connections.size > 0) await new Promise((r) => setTimeout(r, tickMs));
      }
      const left = connections.size;
      for (const s of [...connections.all()]) uwsSocketOps.close(s, Close.restart, "draining");
      clearInterval(sweep);
      if (admin) closeListener(admin.socket);
      await store.close();
      log.info({ event: "drain_finished", closed, leftAtDeadline: left }, "drained");
      return { closed, leftAtDeadline: left };
    },
  };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`edition: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let node: RunningNode;
  try {
    node = await startNode(config, log);
  } catch (err) {
    log.fatal({ event: "start_failed", err: String(err) }, "cannot start");
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ event: "signal", signal }, "shutting down");
    // A hard stop one second after the deadline, whatever is still pending.
    setTimeout(() => process.exit(1), (config.drainDeadlineSeconds + 1) * 1000).unref();
    node.drain().then(
      () => process.exit(0),
      (err) => {
        log.error({ event: "drain_failed", err: String(err) }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

function isEntryPoint(): boolean {
  const argv1 = process.argv[1];
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main();
