/**
 * The cluster secret and token keys (and the router's TLS Secret, when named: hashed only):
 * user-provided Secrets are used as given; otherwise a
 * Secret `<cluster>-secrets` is generated once. The annotation edition.dev/rotate-token-keys
 * (any new value) rotates generated token keys in two phases (token-keys.ts); the secrets'
 * hash goes into the pod templates, so every change rolls the nodes through drains.
 */
import { createHash } from "node:crypto";
import { API_VERSION, KIND, type PushClusterSpec } from "./crd.js";
import type { SecretRefs } from "./desired-pod.js";
import type { EventRecorder } from "./events.js";
import { type Kube, KubeError } from "./kube.js";
import type { KubeObject, PushCluster } from "./model.js";
import { ANNOTATION_ROTATE_KEYS, generatedSecret, labels } from "./names.js";
import { beginRotation, finishRotation, formatKeys, parseKeys } from "./token-keys.js";

const PROMOTE = "edition.dev/promote-key";
/** The router's TLS Secret: a node reads all three at start-up (EDITION_ROUTER_TLS_*). */
const ROUTER_TLS_KEYS = ["tls.crt", "tls.key", "ca.crt"] as const;

export interface SecretsDeps {
  readonly kube: Kube;
  readonly events: EventRecorder;
  /** Cryptographically random bytes. */
  readonly random: (n: number) => Buffer;
}

export interface SecretsResult {
  readonly refs: SecretRefs;
  readonly problems: string[];
  /** The rotate annotation value acted on (kept in status). */
  readonly rotation?: string;
  /** Whether a rotation waits for every node to run with the current hash. */
  readonly promotePending: boolean;
}

const decode = (s: KubeObject | undefined, key: string): string | undefined => {
  const data = s?.data as Record<string, string> | undefined;
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
};

/**
 * The operator may use Secrets only where it is granted (the chart's Roles: the watched
 * namespaces, or `rbac.secretNamespaces` when it watches all of them). Elsewhere the
 * PushCluster is reported stalled with the way out, rather than failing pass after pass.
 */
export async function ensureSecrets(
  deps: SecretsDeps,
  cluster: PushCluster,
  spec: PushClusterSpec,
  nodesOnHash: (hash: string) => boolean,
): Promise<SecretsResult> {
  try {
    return await ensureSecretsGranted(deps, cluster, spec, nodesOnHash);
  } catch (e) {
    if (!(e instanceof KubeError && e.status === 403)) throw e;
    const ns = cluster.metadata.namespace ?? "default";
    return {
      refs: {
        clusterSecret: { name: "", key: "" },
        tokenKeys: { name: "", key: "" },
        hash: "",
      },
      problems: [
        `the operator may not use Secrets in namespace ${ns} (${e.message}); add ${ns} to the chart's rbac.secretNamespaces (or operator.watchNamespace), see docs/install.md`,
      ],
      promotePending: false,
    };
  }
}

async function ensureSecretsGranted(
  deps: SecretsDeps,
  cluster: PushCluster,
  spec: PushClusterSpec,
  /** True when every node pod runs with `hash` (the current secrets hash) — checked later. */
  nodesOnHash: (hash: string) => boolean,
): Promise<SecretsResult> {
  const ns = cluster.metadata.namespace ?? "default";
  const c = cluster.metadata.name;
  const gen = generatedSecret(c);
  const sec = spec.security;
  const refs = {
    clusterSecret: sec.clusterSecretRef ?? { name: gen, key: "cluster-secret" },
    tokenKeys: sec.tokenKeys.secretRef ?? { name: gen, key: "token-keys" },
    routerTls: sec.routerTls?.secretName,
  };
  const genRef = { apiVersion: "v1", kind: "Secret", namespace: ns, name: gen };
  let generated: KubeObject | undefined;
  if (!sec.clusterSecretRef || !sec.tokenKeys.secretRef) {
    generated = await deps.kube.get(genRef);
    if (!generated) {
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      const body: KubeObject = {
        ...genRef,
        metadata: {
          name: gen,
          namespace: ns,
          labels: labels(c, "config"),
          ownerReferences: [
            {
              apiVersion: API_VERSION,
              kind: KIND,
              name: c,
              uid: cluster.metadata.uid ?? "",
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        type: "Opaque",
        data: {
          "cluster-secret": b64(deps.random(32).toString("base64")),
          "token-keys": b64(formatKeys([{ id: 1, key: deps.random(32).toString("base64") }])),
        },
      };
      if (await deps.kube.create(body)) {
        await deps.events.record(
          cluster,
          "Normal",
          "SecretGenerated",
          `generated cluster secret and token keys in Secret ${gen}`,
        );
      }
      generated = await deps.kube.get(genRef);
    }
  }

  let rotation = cluster.status?.tokenKeyRotation;
  let promotePending = false;
  if (!sec.tokenKeys.secretRef && generated) {
    const want = cluster.metadata.annotations?.[ANNOTATION_ROTATE_KEYS];
    const promoteId = generated.metadata.annotations?.[PROMOTE];
    const current = decode(generated, "token-keys") ?? "";
    if (promoteId !== undefined) {
      promotePending = true;
      if (nodesOnHash(await hashOf(deps.kube, ns, refs))) {
        const keys = finishRotation(parseKeys(current), Number(promoteId), sec.tokenKeys.keep);
        generated = await writeKeys(deps.kube, generated, formatKeys(keys), undefined);
        promotePending = false;
        await deps.events.record(
          cluster,
          "Normal",
          "TokenKeysRotated",
          `token key ${promoteId} now mints endpoints; ${keys.length} key(s) kept`,
        );
      }
    } else if (want !== undefined && want !== rotation) {
      const { keys, id } = beginRotation(parseKeys(current), deps.random(32).toString("base64"));
      generated = await writeKeys(deps.kube, generated, formatKeys(keys), String(id));
      rotation = want;
      promotePending = true;
      await deps.events.record(
        cluster,
        "Normal",
        "TokenKeyRotationStarted",
        `token key ${id} added (accepted, not yet minting); rolling it out to every node`,
      );
    }
  }

  const problems: string[] = [];
  const hash = await hashOf(deps.kube, ns, refs, problems);
  return {
    refs: { ...refs, hash },
    problems,
    ...(rotation !== undefined ? { rotation } : {}),
    promotePending,
  };
}

async function writeKeys(
  kube: Kube,
  s: KubeObject,
  keys: string,
  promote: string | undefined,
): Promise<KubeObject> {
  const annotations = { ...(s.metadata.annotations ?? {}) };
  if (promote === undefined) delete annotations[PROMOTE];
  else annotations[PROMOTE] = promote;
  // replace() carries resourceVersion: a concurrent writer makes this fail and the pass retry.
  return kube.replace({
    ...s,
    metadata: { ...s.metadata, annotations },
    data: {
      ...(s.data as Record<string, string>),
      "token-keys": Buffer.from(keys).toString("base64"),
    },
  });
}

async function hashOf(
  kube: Kube,
  ns: string,
  refs: Omit<SecretRefs, "hash">,
  problems: string[] = [],
): Promise<string> {
  const h = createHash("sha256");
  for (const r of [refs.clusterSecret, refs.tokenKeys]) {
    const s = await kube.get({ apiVersion: "v1", kind: "Secret", namespace: ns, name: r.name });
    const v = decode(s, r.key);
    if (v === undefined) problems.push(`Secret ${r.name} has no key ${r.key}`);
    h.update(`${r.name}/${r.key}=${v ?? ""}\n`);
  }
  // Only when set, so clusters without router TLS keep their hash (no rollout).
  if (refs.routerTls !== undefined) {
    const name = refs.routerTls;
    const s = await kube.get({ apiVersion: "v1", kind: "Secret", namespace: ns, name });
    for (const key of ROUTER_TLS_KEYS) {
      const v = decode(s, key);
      if (v === undefined) problems.push(`Secret ${name} (security.routerTls) has no key ${key}`);
      h.update(`${name}/${key}=${v ?? ""}\n`);
    }
  }
  return h.digest("hex").slice(0, 16);
}
