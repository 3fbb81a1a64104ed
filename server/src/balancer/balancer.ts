/**
 * The `balancer` role: a stable address for a region that only answers hello with a
 * redirect (307) to a node with room, or 429 when the region is full. It speaks just
 * enough of the protocol (pings, errors) through the same pure session as a node, keeps
 * no state per client, and needs no store.
 */
import type { Registry } from "prom-client";
import type { Config } from "../config.js";
import { closeLabel, Errors, StatusText, statusLine } from "../errors/catalogue.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { Close } from "../protocol/errors.js";
import { errorReply, redirectReply } from "../protocol/replies.js";
import { newSession, type Session, step } from "../protocol/session.js";
import { EtcdRegistry } from "../routing/etcd-registry.js";
import { RegionState } from "../routing/region-state.js";
import { attachAdmin } from "../transport/admin-http.js";
import { closeListener, listen, uWS } from "../transport/uws.js";
import { chooseRedirect } from "./redirect.js";

const NOT_FOUND = Errors.NOT_FOUND.http.status;
const BALANCER_NOT_FOUND = JSON.stringify({
  code: NOT_FOUND,
  error: StatusText[NOT_FOUND],
  message:
    "this is an Edition balancer: it only answers WebSocket hellos with a redirect (307) to a push node. " +
    "App servers PUT to the endpoint URL a client got at register (https://<node>/update/<token>), " +
    "which is served by every push node, not by the balancer.",
});

export interface RunningBalancer {
  readonly port: number;
  readonly metricsPort: number | undefined;
  stop(): Promise<void>;
}

export async function startBalancer(
  config: Config,
  log: Logger,
  registry: Registry,
  metrics: Metrics,
): Promise<RunningBalancer> {
  const cluster = config.cluster!;
  const regionState = new RegionState(cluster.regionStateDir, config.region);
  const etcd = new EtcdRegistry(
    {
      endpoints: cluster.etcdEndpoints,
      prefix: cluster.etcdPrefix,
      region: config.region,
      slots: cluster.slots,
      leaseTtlSeconds: cluster.leaseTtlSeconds,
      refreshMs: cluster.memberRefreshMs,
      resyncMs: 2_000,
    },
    undefined,
    {
      members: (m) => metrics.members.set(m.size),
      owners: () => {},
      error: (op, err) => {
        metrics.clusterErrors.labels(op).inc();
        log.warn({ event: "cluster_error", op, err: String(err) }, "etcd error");
      },
      lease: () => {},
      regionState: (text) => regionState.setFromEtcd(text),
    },
  );
  await etcd.start();
  regionState.watchFile(10_000);

  const limits = { pingMinIntervalMs: config.pingMinIntervalMs, pingBurst: config.pingBurst };
  const debug = log.isLevelEnabled("debug");
  const app = uWS.App();
  app.ws<Session>("/*", {
    compression: uWS.DISABLED,
    maxPayloadLength: 512 * 1024,
    idleTimeout: 16,
    maxBackpressure: 64 * 1024,
    upgrade(res, req, context) {
      metrics.handshakes.labels("accepted").inc();
      const offered = req.getHeader("sec-websocket-protocol");
      const protocol = offered.split(",").some((p) => p.trim() === "push-notification")
        ? "push-notification"
        : "";
      res.upgrade(
        newSession(Date.now(), limits.pingBurst),
        req.getHeader("sec-websocket-key"),
        protocol,
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open() {
      metrics.opened.inc();
      metrics.connections.inc();
    },
    message(ws, message, isBinary) {
      if (isBinary) {
        ws.end(Close.unsupported);
        return;
      }
      const s = ws.getUserData();
      const st = step(s, Buffer.from(message).toString("utf8"), Date.now(), limits);
      switch (st.do) {
        case "reply":
          ws.send(st.text);
          return;
        case "close":
          if (st.text !== undefined) ws.send(st.text);
          ws.end(st.code);
          return;
        case "hello": {
          // A failed-over region takes no new clients: they back off and land in a survivor.
          const d =
            regionState.phase === "failed"
              ? ({ kind: "full" } as const)
              : chooseRedirect(
                  undefined,
                  etcd.members.values(),
                  cluster.redirectThresholdPercent,
                  Math.random,
                );
          metrics.redirects
            .labels(d.kind === "redirect" ? "redirect" : Errors.REGION_FULL.label)
            .inc();
          if (debug)
            log.debug(
              {
                event: "hello",
                outcome: d.kind,
                redirect: d.kind === "redirect" ? d.url : undefined,
                regionState: regionState.phase,
              },
              "hello redirected",
            );
          ws.send(
            d.kind === "redirect"
              ? redirectReply(st.echo ?? "", d.url)
              : errorReply(st.raw, "regionFull"),
          );
          ws.end(Close.normal);
          return;
        }
        default:
          // register/unregister/ack cannot pass the session before a hello succeeded.
          ws.end(Close.normal);
      }
    },
    close(_ws, code) {
      metrics.connections.dec();
      // The nodes' labels: a balancer's closes read the same on the same dashboards.
      metrics.closed.labels(closeLabel(code)).inc();
    },
  });
  // People and app servers find this address first: say what it is and where to go instead.
  app.any("/*", (res) => {
    res
      .writeStatus(statusLine(NOT_FOUND))
      .writeHeader("Content-Type", "application/json")
      .end(BALANCER_NOT_FOUND);
  });
  const pub = await listen(app, config.host, config.port);
  let admin: Awaited<ReturnType<typeof listen>> | undefined;
  if (config.metricsPort >= 0) {
    const adminApp = uWS.App();
    attachAdmin(adminApp, {
      registry,
      ready: async () =>
        etcd.members.size > 0 ? { ready: true } : { ready: false, reason: "no node in the region" },
    });
    admin = await listen(adminApp, config.internalHost, config.metricsPort);
  }
  log.info(
    {
      event: "listening",
      role: "balancer",
      port: pub.port,
      metricsPort: admin?.port,
      region: config.region,
    },
    "balancer ready",
  );
  return {
    port: pub.port,
    metricsPort: admin?.port,
    async stop() {
      closeListener(pub.socket);
      if (admin) closeListener(admin.socket);
      regionState.close();
      await etcd.close();
    },
  };
}
