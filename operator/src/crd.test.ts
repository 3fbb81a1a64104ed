import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse } from "yaml";
import { readSpec } from "./cluster.js";
import { specSchema } from "./crd.js";
import { CRD_PATH, renderCrdYaml } from "./crd-yaml.js";
import { applyDefaults, validate } from "./schema.js";
import { exampleSpecs } from "./testdata/specs.js";

test("the CRD YAML in the chart is generated from crd.ts (run `npm run gen:crd`)", () => {
  assert.equal(readFileSync(CRD_PATH, "utf8"), renderCrdYaml());
});

test("the CRD keeps defaults and list-map markers that the typed client would drop", () => {
  const crd = parse(readFileSync(CRD_PATH, "utf8"));
  const spec = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec;
  assert.equal(spec.properties.replicas.default, 3);
  assert.equal(spec.properties.regions["x-kubernetes-list-type"], "map");
  assert.deepEqual(spec.properties.regions["x-kubernetes-list-map-keys"], ["name"]);
  assert.deepEqual(spec.properties.failover.default, {});
  assert.deepEqual(spec.required, ["image", "regions"]);
});

const minimal = {
  image: "edition:1",
  regions: [
    { name: "eu", etcd: { endpoints: ["http://etcd:2379"] }, redis: { url: "redis://r:6379" } },
  ],
};

test("defaults fill nested objects like the API server does", () => {
  const s = applyDefaults(specSchema.json, minimal) as Record<string, unknown>;
  assert.equal(s.replicas, 3);
  assert.deepEqual(s.failover, {
    mode: "Automatic",
    detectionDelaySeconds: 60,
    minHealthyRatio: 0.5,
    maxReHomeRate: 1000,
  });
  const r = (s.regions as Record<string, Record<string, unknown>>[])[0]!;
  assert.deepEqual(r.balancer, { replicas: 2 });
  assert.deepEqual(r.etcd, { endpoints: ["http://etcd:2379"], prefix: "/edition" });
  assert.equal((r.nodes as Record<string, unknown>).maxConnections, 100000);
  assert.deepEqual(validate(specSchema.json, s), []);
});

test("validation reports every problem at once", () => {
  const s = applyDefaults(specSchema.json, {
    image: "",
    replicas: -1,
    regions: [
      { name: "EU", etcd: { endpoints: [] }, redis: { url: "http://x" } },
      { name: "EU", etcd: { endpoints: ["e"] }, redis: { url: "redis://x" } },
    ],
  });
  const problems = validate(specSchema.json, s);
  assert.ok(
    problems.includes("spec.image: must not be empty or contain spaces"),
    problems.join("\n"),
  );
  assert.ok(problems.includes("spec.replicas: must be ≥ 0"));
  assert.ok(problems.some((p) => p.startsWith("spec.regions[0].name: must be a DNS label")));
  assert.ok(problems.includes("spec.regions[0].etcd.endpoints: must have at least 1 items"));
  assert.ok(problems.some((p) => p.startsWith("spec.regions[0].redis.url")));
  assert.ok(problems.some((p) => p.startsWith('spec.regions: duplicate entry ["EU"]')));
});

test("every example PushCluster of the chart passes every check", () => {
  const examples = exampleSpecs();
  assert.deepEqual(
    examples.map((e) => e.name),
    ["minimal.yaml:push", "multi-region.yaml:push", "values-multi-region.yaml:values"],
  );
  for (const e of examples) assert.deepEqual(readSpec("push", e.spec).problems, [], e.name);
});

/** Every property path under `s` whose schema has no description. */
function undescribed(s: Record<string, unknown>, path: string): string[] {
  const out: string[] = [];
  const props = (s.properties ?? {}) as Record<string, Record<string, unknown>>;
  for (const [k, p] of Object.entries(props)) {
    if (typeof p.description !== "string" || p.description.trim() === "") out.push(`${path}.${k}`);
    out.push(...undescribed(p, `${path}.${k}`));
  }
  for (const [k, sub] of [
    ["[]", s.items],
    ["{}", s.additionalProperties],
  ] as const) {
    if (sub && typeof sub === "object")
      out.push(...undescribed(sub as object as Record<string, unknown>, `${path}${k}`));
  }
  return out;
}

test("every field of the CRD has a description (kubectl explain shows it)", () => {
  const crd = parse(readFileSync(CRD_PATH, "utf8"));
  const root = crd.spec.versions[0].schema.openAPIV3Schema;
  // metadata is ObjectMeta: the API server refuses a description there and documents it itself.
  assert.deepEqual(
    undescribed(root, "pushcluster").filter((p) => p !== "pushcluster.metadata"),
    [],
  );
});

const withRegion = (patch: Record<string, unknown>) => ({
  ...minimal,
  regions: [{ ...minimal.regions[0], ...patch }],
});
const problemsOf = (raw: unknown) => validate(specSchema.json, applyDefaults(specSchema.json, raw));

test("malformed strings are refused with the rule's message; what users write is accepted", () => {
  const refused: [Record<string, unknown>, RegExp][] = [
    [
      { nodeServices: { urlTemplate: "wss://push.example.com" } },
      /urlTemplate: must be ws:\/\/ or wss:\/\/, then a host containing \{node\}/,
    ],
    [{ nodeServices: { urlTemplate: "https://{node}.example.com" } }, /urlTemplate: must be ws/],
    [{ nodeServices: { urlTemplate: "wss://{node}.example.com/push" } }, /urlTemplate: must be ws/],
    [{ nodeServices: { urlTemplate: "wss://example.com/{node}" } }, /urlTemplate: must be ws/],
    [{ publicUrl: "push.example.com" }, /publicUrl: must be an http/],
    [{ publicUrl: "https://push.example.com/?a=1" }, /publicUrl: must be an http/],
    [{ etcd: { endpoints: ["etcd:2379"] } }, /endpoints\[0\]: must be one http\(s\):\/\/host:port/],
    [{ etcd: { endpoints: ["http://a:2379,http://b:2379"] } }, /endpoints\[0\]: must be one/],
    [{ redis: { url: "redis-eu:6379" } }, /redis.url: must be a redis:\/\//],
    [
      { redis: { url: "redis://r", mode: "sentinel", sentinels: ["s1"] } },
      /sentinels\[0\]: must be host:port/,
    ],
    [
      { redis: { url: "redis://r", passwordSecretRef: { name: "Redis_EU" } } },
      /passwordSecretRef.name: must be a Secret name/,
    ],
    [{ zones: ["eu-west-1A"] }, /zones\[0\]: must be a DNS label/],
  ];
  for (const [patch, expected] of refused) {
    const ps = problemsOf(withRegion(patch));
    assert.equal(ps.length, 1, `${JSON.stringify(patch)}: ${ps.join("; ")}`);
    assert.match(ps[0]!, expected);
  }
  const accepted: Record<string, unknown>[] = [
    { nodeServices: { urlTemplate: "wss://{node}.push.example.com/" } },
    { nodeServices: { urlTemplate: "wss://{node}.push.example.com:443" } },
    { nodeServices: { urlTemplate: "ws://push-{node}.eu.internal:8080" } },
    { publicUrl: "https://push.example.com/" },
    { publicUrl: "https://example.com/push" },
    { etcd: { endpoints: ["https://etcd-0.etcd:2379", "http://10.0.0.1:2379"] } },
    { redis: { url: "rediss://redis-eu:6380/0" } },
    {
      redis: { url: "redis://r", mode: "sentinel", sentinels: ["s-0.s:26379"], sentinelName: "m" },
    },
  ];
  for (const patch of accepted)
    assert.deepEqual(problemsOf(withRegion(patch)), [], JSON.stringify(patch));
  assert.deepEqual(problemsOf({ ...minimal, image: "registry.example.com/edition:1 " }), [
    "spec.image: must not be empty or contain spaces",
  ]);
});
