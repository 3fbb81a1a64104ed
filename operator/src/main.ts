/**
 * Composition root of the Edition operator: config from the environment, the KubeConfig
 * (in-cluster service account, else $KUBECONFIG / ~/.kube/config), the etcd and Redis adapters, JSON
 * logs, then one replica (operator.ts). SIGTERM/SIGINT stop it cleanly and release the Lease;
 * losing leadership exits so the Deployment restarts a clean standby.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { loadOperatorConfig } from "./config.js";
import { createLogger } from "./log.js";
import { startOperator } from "./operator.js";
import { Etcd3RegionEtcd } from "./region-etcd3.js";
import { IoRedisRegionRedis } from "./region-redis.js";

const config = loadOperatorConfig(process.env);
const log = createLogger(config.logLevel);
const kc = new KubeConfig();
kc.loadFromDefault();
const etcd = new Etcd3RegionEtcd(config.etcdTimeoutMs);
// Connects to a region's Redis only when a PushCluster gives it a replica (adoption).
const redis = new IoRedisRegionRedis({ commandTimeoutMs: config.etcdTimeoutMs });
const op = await startOperator(
  config,
  kc,
  etcd,
  log,
  () => {
    log.error({ event: "leadership_lost" }, "lost the leader Lease; exiting");
    process.exit(1);
  },
  redis,
);
log.info(
  {
    event: "started",
    identity: config.identity,
    watchNamespace: config.watchNamespaces.join(",") || "(all)",
    metricsPort: op.metricsPort,
    leaderElection: config.leaderElection,
  },
  "edition operator started",
);

const shutdown = async (signal: string) => {
  log.info({ event: "stopping", signal }, "stopping");
  await op.stop();
  await etcd.close();
  await redis.close();
  process.exit(0);
};
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
