/**
 * Composition root of the Edition operator: config from the environment, the KubeConfig
 * (in-cluster service account, else $KUBECONFIG / ~/.kube/config), the etcd adapter, JSON
 * logs, then one replica (operator.ts). SIGTERM/SIGINT stop it cleanly and release the Lease;
 * losing leadership exits so the Deployment restarts a clean standby.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { loadOperatorConfig } from "./config.js";
import { createLogger } from "./log.js";
import { startOperator } from "./operator.js";
import { Etcd3RegionEtcd } from "./region-etcd3.js";

const config = loadOperatorConfig(process.env);
const log = createLogger(config.logLevel);
const kc = new KubeConfig();
kc.loadFromDefault();
const etcd = new Etcd3RegionEtcd(config.etcdTimeoutMs);
const op = await startOperator(config, kc, etcd, log, () => {
  log.error({ event: "leadership_lost" }, "lost the leader Lease; exiting");
  process.exit(1);
});
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
  process.exit(0);
};
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
