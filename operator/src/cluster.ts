/**
 * Reads a stored PushCluster into a defaulted spec and every problem with it: the schema
 * rules (checked again here because objects can predate a schema change) plus the ones a
 * schema cannot say (name lengths of derived objects, sentinel settings).
 */
import { type PushClusterSpec, specSchema } from "./crd.js";
import { balancerName, nodeStatefulSet, zonesOf } from "./names.js";
import { applyDefaults, validate } from "./schema.js";

/** A StatefulSet's name plus "-" and a 10-character hash must fit a 63-character label. */
const MAX_STS_NAME = 52;
const CLUSTER_NAME = /^[a-z]([a-z0-9-]*[a-z0-9])?$/;

export interface ReadSpec {
  readonly spec: PushClusterSpec;
  readonly problems: string[];
}

export function readSpec(name: string, raw: unknown): ReadSpec {
  const spec = applyDefaults(specSchema.json, raw ?? {}) as PushClusterSpec;
  const problems = validate(specSchema.json, spec);
  if (!CLUSTER_NAME.test(name))
    problems.push(`metadata.name: "${name}" must start with a letter (DNS-1035 label)`);
  if (problems.length > 0) return { spec, problems };
  spec.regions.forEach((r, i) => {
    const at = `spec.regions[${i}]`;
    for (const zone of zonesOf(r)) {
      const sts = nodeStatefulSet(name, r.name, zone);
      if (sts.length > MAX_STS_NAME)
        problems.push(
          `${at}: StatefulSet name "${sts}" is longer than ${MAX_STS_NAME}; shorten the cluster, region or zone name`,
        );
    }
    if (balancerName(name, r.name).length > 63) problems.push(`${at}: balancer name too long`);
    if (r.redis.mode === "sentinel" && (!r.redis.sentinels?.length || !r.redis.sentinelName))
      problems.push(`${at}.redis: sentinel mode needs sentinels and sentinelName`);
    const replicas = r.nodes.replicas ?? spec.replicas;
    if (r.nodes.maxReplicas !== undefined && r.nodes.maxReplicas < replicas)
      problems.push(
        `${at}.nodes.maxReplicas (${r.nodes.maxReplicas}) is below the node replicas (${replicas})`,
      );
  });
  return { spec, problems };
}
