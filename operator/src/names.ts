/** Object names and labels, in one place so desired state, prune and observation agree. */
import type { RegionSpec } from "./crd.js";

export const FIELD_MANAGER = "edition-operator";
export const FINALIZER = "edition.dev/cleanup";
export const LABEL_CLUSTER = "edition.dev/cluster";
export const LABEL_REGION = "edition.dev/region";
export const LABEL_ZONE = "edition.dev/zone";
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const LABEL_METRICS = "edition.dev/metrics";
export const ANNOTATION_SECRETS_HASH = "edition.dev/secrets-hash";
/** Manual failover: the value is a comma list of regions an operator human declares failed. */
export const ANNOTATION_FAILOVER = "edition.dev/failover";
/** Manual failback: comma list of failed regions to return to service. */
export const ANNOTATION_FAILBACK = "edition.dev/failback";
/** Any new value rotates generated token keys once. */
export const ANNOTATION_ROTATE_KEYS = "edition.dev/rotate-token-keys";
export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
export const REVISION_LABEL = "controller-revision-hash";

export type Component =
  | "node"
  | "balancer"
  | "router"
  | "public"
  | "endpoint"
  | "node-address"
  | "metrics"
  | "network-policy"
  | "config";

export const regionBase = (cluster: string, region: string) => `${cluster}-${region}`;
export const nodeStatefulSet = (cluster: string, region: string, zone: string) =>
  zone === "" ? `${cluster}-${region}` : `${cluster}-${region}-${zone}`;
export const routerService = (cluster: string, region: string) => `${cluster}-${region}-router`;
export const balancerName = (cluster: string, region: string) => `${cluster}-${region}-balancer`;
export const networkPolicyName = (cluster: string, region: string) => `${cluster}-${region}-netpol`;
export const regionsConfigMap = (cluster: string) => `${cluster}-regions`;
export const generatedSecret = (cluster: string) => `${cluster}-secrets`;

/** Zones of a region; one unnamed zone when none are listed. */
export const zonesOf = (r: RegionSpec): readonly string[] =>
  r.zones && r.zones.length > 0 ? r.zones : [""];

export function labels(
  cluster: string,
  component: Component,
  region?: string,
  zone?: string,
): Record<string, string> {
  const l: Record<string, string> = {
    "app.kubernetes.io/name": "edition",
    "app.kubernetes.io/instance": cluster,
    "app.kubernetes.io/managed-by": FIELD_MANAGER,
    [LABEL_COMPONENT]: component,
    [LABEL_CLUSTER]: cluster,
  };
  if (region !== undefined) l[LABEL_REGION] = region;
  if (zone) l[LABEL_ZONE] = zone;
  return l;
}

/** The immutable selector of a workload: a subset of `labels` that never changes. */
export function selector(
  cluster: string,
  component: "node" | "balancer",
  region: string,
  zone?: string,
): Record<string, string> {
  const s: Record<string, string> = {
    [LABEL_CLUSTER]: cluster,
    [LABEL_COMPONENT]: component,
    [LABEL_REGION]: region,
  };
  if (zone) s[LABEL_ZONE] = zone;
  return s;
}

/** Pods per zone: replicas split evenly, the first zones taking the remainder. */
export function splitReplicas(replicas: number, zones: number): number[] {
  const base = Math.floor(replicas / zones);
  return Array.from({ length: zones }, (_, i) => base + (i < replicas % zones ? 1 : 0));
}
