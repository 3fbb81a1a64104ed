/**
 * `security.routerTls`: the named Secret's three files go into the secrets hash (a renewed
 * certificate rolls the nodes, which read it at start-up) and a missing file is reported
 * instead of pods that would exit at start; clusters without it keep their hash.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { readSpec } from "./cluster.js";
import type { Kube } from "./kube.js";
import type { KubeObject, PushCluster } from "./model.js";
import { ensureSecrets } from "./secrets.js";
import { minimalSpec } from "./testdata/specs.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function fakeKube(objects: KubeObject[]): Kube {
  const byName = new Map(objects.map((o) => [o.metadata.name, o]));
  const no = () => Promise.reject(new Error("not used"));
  return {
    get: async (ref) => byName.get(ref.name),
    list: no,
    apply: no,
    create: async (o) => {
      byName.set(o.metadata.name, o);
      return true;
    },
    replace: no,
    mergePatch: no,
    delete: no,
    serves: async () => false,
  };
}

const secret = (name: string, data: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, namespace: "edition" },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

const generated = secret("push-secrets", { "cluster-secret": "s".repeat(44), "token-keys": "1:k" });
const cluster: PushCluster = {
  apiVersion: "edition.dev/v1alpha1",
  kind: "PushCluster",
  metadata: { name: "push", namespace: "edition", uid: "uid-1" },
} as PushCluster;

async function run(rawSpec: unknown, objects: KubeObject[]) {
  const { spec, problems } = readSpec("push", rawSpec);
  assert.deepEqual(problems, []);
  return ensureSecrets(
    { kube: fakeKube(objects), events: { record: async () => {} }, random: (n) => Buffer.alloc(n) },
    cluster,
    spec,
    () => true,
  );
}

test("router TLS Secret: named in the refs, hashed, and a missing file reported", async () => {
  const withTls = { ...minimalSpec, security: { routerTls: { secretName: "push-router-tls" } } };
  const tls = (crt: string) =>
    secret("push-router-tls", { "tls.crt": crt, "tls.key": "key", "ca.crt": "ca" });
  const plain = await run(minimalSpec, [generated]);
  const a = await run(withTls, [generated, tls("cert-1")]);
  const b = await run(withTls, [generated, tls("cert-2")]);
  assert.equal(plain.refs.routerTls, undefined);
  assert.equal(a.refs.routerTls, "push-router-tls");
  assert.deepEqual(a.problems, []);
  assert.notEqual(a.refs.hash, plain.refs.hash);
  assert.notEqual(a.refs.hash, b.refs.hash, "a renewed certificate rolls the nodes");
  const missing = await run(withTls, [
    generated,
    secret("push-router-tls", { "tls.crt": "c", "tls.key": "k" }),
  ]);
  assert.deepEqual(missing.problems, [
    "Secret push-router-tls (security.routerTls) has no key ca.crt",
  ]);
  const absent = await run(withTls, [generated]);
  assert.equal(absent.problems.length, 3);
});
