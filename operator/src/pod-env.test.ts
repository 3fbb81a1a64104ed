/**
 * Every environment the operator gives a node or balancer pod must start the server. A pod
 * whose env `loadConfig` refuses exits with code 2, which only a real cluster would show; so
 * here each container's env is resolved the way the kubelet resolves it (`valueFrom`, then
 * `$(VAR)` expansion of earlier variables) and fed to the server's own `loadConfig`.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { type Config, loadConfig } from "../../server/src/config.js";
import { type DesiredInput, desiredObjects } from "./desired.js";
import { extraReplicas } from "./failover.js";
import type { KubeObject } from "./model.js";
import { exampleSpecs, input, minimalSpec, multiRegionSpec, secrets } from "./testdata/specs.js";
import { formatKeys } from "./token-keys.js";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}

/** Secret values shaped like the ones the operator generates (secrets.ts). */
const secretValues: Record<string, string> = {
  "cluster-secret": randomBytes(32).toString("base64"),
  "token-keys": formatKeys([
    { id: 2, key: randomBytes(32).toString("base64") },
    { id: 1, key: randomBytes(32).toString("base64") },
  ]),
  // A Redis password as a user would create it (URL-safe, as the CRD asks).
  password: "S3cr3t-redis_pw",
};

/** Kubernetes' `$(VAR)` expansion: `$$` is a literal `$`, unknown references stay as written. */
function expand(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name?: string) =>
    m === "$$" ? "$" : name !== undefined && name in vars ? vars[name]! : m,
  );
}

/** The process environment the kubelet would give `container` in pod `podName`. */
function kubeletEnv(container: { env: EnvVar[] }, podName: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const e of container.env) {
    let v: string;
    if (e.value !== undefined) v = expand(e.value, vars);
    else if (e.valueFrom?.fieldRef) {
      const field = e.valueFrom.fieldRef.fieldPath;
      assert.ok(field === "metadata.name" || field === "status.podIP", `${e.name}: field ${field}`);
      v = field === "metadata.name" ? podName : "10.244.0.7";
    } else if (e.valueFrom?.secretKeyRef) {
      const s = secretValues[e.valueFrom.secretKeyRef.key];
      assert.ok(
        s !== undefined,
        `${e.name}: no value for secret key ${e.valueFrom.secretKeyRef.key}`,
      );
      v = s;
    } else assert.fail(`${e.name}: neither value nor a known valueFrom`);
    assert.doesNotMatch(v, /\$\(/, `${e.name}="${v}" refers to a variable not defined before it`);
    vars[e.name] = v;
  }
  return vars;
}

interface PodEnv {
  readonly pod: string;
  readonly role: string;
  readonly env: Record<string, string>;
}

/** One pod per node ordinal (ordinal 0 of a scaled-to-zero set too) and one per balancer. */
function podEnvs(objects: KubeObject[]): PodEnv[] {
  const out: PodEnv[] = [];
  for (const o of objects) {
    if (o.kind !== "StatefulSet" && o.kind !== "Deployment") continue;
    const spec = o.spec as {
      replicas: number;
      template: { spec: { containers: { name: string; env: EnvVar[] }[] } };
    };
    const pods =
      o.kind === "StatefulSet"
        ? Array.from({ length: Math.max(1, spec.replicas) }, (_, i) => `${o.metadata.name}-${i}`)
        : [`${o.metadata.name}-6d9f7c5b4-x2x7q`];
    for (const pod of pods)
      for (const c of spec.template.spec.containers)
        out.push({ pod, role: c.name, env: kubeletEnv(c, pod) });
  }
  return out;
}

function variants(): { name: string; input: DesiredInput }[] {
  const multi = input(multiRegionSpec);
  const failed = {
    eu: { state: "active" as const, since: "2025-01-01T00:00:00.000Z" },
    us: { state: "failed" as const, since: "2025-01-02T00:00:00.000Z" },
  };
  const withTemplate = (urlTemplate: string) => ({
    ...minimalSpec,
    regions: [{ ...minimalSpec.regions[0]!, nodeServices: { urlTemplate } }],
  });
  return [
    { name: "golden minimal", input: input(minimalSpec) },
    { name: "golden multi-region", input: multi },
    {
      name: "golden multi-region, us failed",
      input: {
        ...multi,
        regionStates: failed,
        extraReplicas: extraReplicas(multi.spec, failed),
        serviceMonitor: true,
      },
    },
    // TLS terminated in front of each node, as users write it: with and without a port
    // and a trailing slash.
    {
      name: "wss template, trailing /",
      input: input(withTemplate("wss://{node}.push.example.com/")),
    },
    {
      name: "idle timeout below a 60 s load balancer",
      input: input({ ...minimalSpec, idleTimeoutSeconds: 55 }),
    },
    { name: "wss template, :443", input: input(withTemplate("wss://{node}.push.example.com:443")) },
    { name: "ws template, port, /", input: input(withTemplate("ws://{node}.eu.internal:8080/")) },
    {
      name: "redis password",
      input: input({
        ...minimalSpec,
        regions: [
          {
            ...minimalSpec.regions[0]!,
            redis: { url: "rediss://redis-eu:6380/0", passwordSecretRef: { name: "redis-eu" } },
          },
        ],
      }),
    },
    {
      name: "router TLS",
      input: input(
        { ...minimalSpec, security: { routerTls: { secretName: "push-router-tls" } } },
        { secrets: { ...secrets, routerTls: "push-router-tls" } },
      ),
    },
    ...exampleSpecs().map((e) => ({
      name: `example ${e.name}`,
      input: input(e.spec, {}, "push", e.namespace),
    })),
  ];
}

test("the chart's examples are among the variants checked", () => {
  const names = exampleSpecs().map((e) => e.name);
  assert.ok(names.length >= 1, names.join(", "));
});

for (const v of variants()) {
  test(`every pod env the operator generates is accepted by loadConfig: ${v.name}`, () => {
    const pods = podEnvs(desiredObjects(v.input));
    assert.ok(
      pods.some((p) => p.role === "node"),
      "at least one node pod",
    );
    for (const p of pods) {
      let config: Config;
      try {
        config = loadConfig(p.env);
      } catch (err) {
        assert.fail(`pod ${p.pod} (${p.role}) would exit at start-up: ${(err as Error).message}`);
      }
      assert.equal(config.role, p.role);
      assert.equal(config.idleTimeoutSeconds, v.input.spec.idleTimeoutSeconds ?? 120);
      assert.equal(config.cluster?.nodeId, p.pod);
      if (p.role !== "node") continue;
      const region = v.input.spec.regions.find((r) => r.name === config.region)!;
      // Peers dial the pod through the headless router Service's per-pod DNS name.
      assert.equal(
        config.cluster?.routerUrl,
        `${p.pod}.${v.input.name}-${region.name}-router.${v.input.namespace}.svc:8081`,
      );
      // Redirects send clients to the node's own address, `{node}` filled in.
      const template = region.nodeServices.urlTemplate;
      const expected = template
        ? template.replaceAll("{node}", p.pod).replace(/\/$/, "")
        : `ws://${p.pod}.${v.input.namespace}.svc:${region.nodeServices.port}`;
      assert.equal(config.cluster?.advertiseWsUrl, expected);
      assert.ok(config.redis, "node pods use the region's Redis");
      assert.equal(config.tokenKeys.length, 2, "both token keys reach the node");
      assert.equal(
        config.cluster?.routerTls !== undefined,
        v.input.secrets.routerTls !== undefined,
      );
    }
  });
}

test("router TLS: node pods mount the Secret where their env points; balancers get neither", () => {
  const objects = desiredObjects(
    input(
      {
        ...minimalSpec,
        regions: [{ ...minimalSpec.regions[0]!, balancer: { replicas: 1 } }],
        security: { routerTls: { secretName: "push-router-tls" } },
      },
      { secrets: { ...secrets, routerTls: "push-router-tls" } },
    ),
  );
  const sets = objects.filter((o) => o.kind === "StatefulSet" || o.kind === "Deployment");
  assert.ok(sets.some((o) => o.kind === "StatefulSet"));
  assert.ok(
    sets.some((o) => o.kind === "Deployment"),
    "a balancer too",
  );
  for (const o of sets) {
    const pod = (o.spec as { template: { spec: PodSpec } }).template.spec;
    const c = pod.containers[0]!;
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
    const mount = c.volumeMounts.find((m) => m.name === "router-tls");
    const volume = pod.volumes.find((v) => v.name === "router-tls");
    if (c.name !== "node") {
      assert.equal(mount, undefined);
      assert.equal(volume, undefined);
      assert.equal(env.EDITION_ROUTER_TLS_CERT, undefined);
      continue;
    }
    assert.deepEqual(volume?.secret, { secretName: "push-router-tls", defaultMode: 0o440 });
    assert.equal(mount?.readOnly, true);
    for (const [name, file] of [
      ["EDITION_ROUTER_TLS_CERT", "tls.crt"],
      ["EDITION_ROUTER_TLS_KEY", "tls.key"],
      ["EDITION_ROUTER_TLS_CA", "ca.crt"],
    ] as const)
      assert.equal(env[name], `${mount!.mountPath}/${file}`);
  }
});

interface PodSpec {
  containers: {
    name: string;
    env: EnvVar[];
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  }[];
  volumes: { name: string; secret?: unknown }[];
}
