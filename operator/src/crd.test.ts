import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse } from "yaml";
import { readSpec } from "./cluster.js";
import { specSchema } from "./crd.js";
import { CRD_PATH, renderCrdYaml } from "./crd-yaml.js";
import { applyDefaults, validate } from "./schema.js";

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
  assert.ok(problems.includes("spec.image: must be at least 1 characters"), problems.join("\n"));
  assert.ok(problems.includes("spec.replicas: must be ≥ 0"));
  assert.ok(problems.some((p) => p.startsWith("spec.regions[0].name: must match")));
  assert.ok(problems.includes("spec.regions[0].etcd.endpoints: must have at least 1 items"));
  assert.ok(problems.some((p) => p.startsWith("spec.regions[0].redis.url")));
  assert.ok(problems.some((p) => p.startsWith('spec.regions: duplicate entry ["EU"]')));
});

test("the chart's example PushCluster spec passes every check", () => {
  const file = new URL("../../charts/edition/examples/multi-region.yaml", import.meta.url);
  const values = parse(readFileSync(file, "utf8")) as { pushCluster: { spec: object } };
  const { problems } = readSpec("push", { ...values.pushCluster.spec, image: "edition:1" });
  assert.deepEqual(problems, []);
});
