/**
 * The PushCluster CustomResourceDefinition: the spec schema of crd.ts, the status the
 * operator writes (status.ts), printer columns and subresources. `gen-crd.ts` renders it into
 * the chart; every property carries a description (`kubectl explain` shows them).
 */
import { GROUP, KIND, PLURAL, specSchema, VERSION } from "./crd.js";
import { int, type JSONSchemaProps, obj, oneOf, optional, str } from "./schema.js";

const described = (description: string, s: JSONSchemaProps): JSONSchemaProps => ({
  ...s,
  description,
});

export const condition: JSONSchemaProps = obj(
  {
    type: str({ description: "Ready, Reconciling, Stalled, Degraded or RegionFailover." }),
    status: oneOf(["True", "False", "Unknown"], { description: "Whether the condition holds." }),
    observedGeneration: optional(
      int({ description: "The metadata.generation this condition describes." }),
    ),
    lastTransitionTime: str({
      format: "date-time",
      description: "When status last changed.",
    }),
    reason: str({ description: "CamelCase reason, stable for automation." }),
    message: optional(str({ description: "What a human should know." })),
  },
  { description: "A kstatus-compatible condition." },
).json;

const statusSchema: JSONSchemaProps = {
  type: "object",
  description: "What the operator observed (written by the operator only).",
  "x-kubernetes-preserve-unknown-fields": true,
  properties: {
    observedGeneration: {
      type: "integer",
      description: "The metadata.generation the status describes.",
    },
    replicas: {
      type: "integer",
      description: "Node replicas per region (the scale subresource's view of spec.replicas).",
    },
    readyReplicas: { type: "integer", description: "Ready node pods over all regions." },
    selector: {
      type: "string",
      description: "Label selector of the node pods (the scale subresource).",
    },
    readyRegions: { type: "string", description: "Ready regions out of all, e.g. 2/2." },
    connections: { type: "integer", description: "Open WebSockets over all regions." },
    capacity: { type: "integer", description: "Sockets all ready nodes may hold together." },
    conditions: {
      type: "array",
      description: "Ready, Reconciling, Stalled, Degraded and RegionFailover.",
      items: condition,
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["type"],
    },
    tokenKeyRotation: {
      type: "string",
      description: "Last edition.dev/rotate-token-keys annotation value acted on.",
    },
    regions: {
      type: "array",
      description: "Per region: phase, nodes, connections, capacity and failover state.",
      items: described("One region's observed state.", {
        type: "object",
        "x-kubernetes-preserve-unknown-fields": true,
      }),
    },
  },
};

/** The CustomResourceDefinition as a plain object (rendered to YAML by gen-crd.ts). */
export function pushClusterCrd(): Record<string, unknown> {
  const spec = structuredClone(specSchema.json);
  delete spec.default;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${PLURAL}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "edition" } },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: "pushcluster",
        shortNames: ["pc", "push"],
        categories: ["edition"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            scale: {
              specReplicasPath: ".spec.replicas",
              statusReplicasPath: ".status.replicas",
              labelSelectorPath: ".status.selector",
            },
          },
          additionalPrinterColumns: [
            {
              name: "Ready",
              type: "string",
              jsonPath: '.status.conditions[?(@.type=="Ready")].status',
            },
            { name: "Regions", type: "string", jsonPath: ".status.readyRegions" },
            { name: "Connections", type: "integer", jsonPath: ".status.connections" },
            { name: "Capacity", type: "integer", jsonPath: ".status.capacity" },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: "A SimplePush cluster of one or more independent regions.",
              required: ["spec"],
              properties: {
                apiVersion: {
                  type: "string",
                  description:
                    "Versioned schema of this representation of an object (edition.dev/v1alpha1).",
                },
                kind: { type: "string", description: "Kind of the object: PushCluster." },
                // The API server allows nothing here (explain shows ObjectMeta's own docs).
                metadata: { type: "object" },
                spec: spec,
                status: statusSchema,
              },
            },
          },
        },
      ],
    },
  };
}
